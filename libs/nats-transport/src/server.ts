import { Logger } from '@nestjs/common';
import { MessageHandler, NatsContext, ServerNats } from '@nestjs/microservices';
import { inboundParser } from '@wgmesh/contracts';
import { connect, Msg, NatsConnection, Subscription } from 'nats';
import { lastValueFrom } from 'rxjs';
import { ConnectionConfig, connectionOptions } from './connection';
import { Reassembler } from './chunks';
import { drainWithin } from './drain';
import { handleChunked, InboundKind, InboundRoute } from './inbound';
import { logLine, TransportLogger } from './log';
import { MeshScope, parseScope, subjectOf } from './routes';
import { StatsSnapshot, TransportStats } from './stats';

export interface MeshNatsServerOptions extends ConnectionConfig, MeshScope {
  /** Queue group for every handler (one instance of the group gets each message). None by default. */
  queue?: string;
  /** How long `close` waits for running handlers before closing anyway (5000 ms). */
  closeGraceMs?: number;
  logger?: TransportLogger;
  /**
   * Check every message against its pattern's contract (contracts' `INBOUND`) before the handler
   * sees it (default true): a refused event is dropped, a refused request answered
   * `invalid_request`, both counted as rejected; the handler receives the parser's result (the
   * typed payload). False hands any JSON to the handlers.
   */
  validate?: boolean;
}

/** One subscription of the server: logical pattern → subject. */
export interface MeshRoute {
  pattern: string;
  subject: string;
  kind: InboundKind;
  queue?: string;
}

/**
 * NestJS transport for wgmesh: handlers declare contracts' logical patterns
 * (`@EventPattern(Patterns.peerEvents)`), the server subscribes to the full subject for its
 * mesh (and node) and speaks plain JSON, not Nest's `{pattern, data, id}` envelope.
 *
 *   app.connectMicroservice({ strategy: new MeshNatsServer({ mesh, servers }) })
 *
 * Each message runs in a span continuing the sender's trace (from the headers). Thrown handler
 * errors become `ErrorReply` replies; for a `ContractError` to become code "invalid_request",
 * register `MeshExceptionFilter` (Nest's default filter turns every error into "Internal server error").
 * Handler extras: `queue` (a queue group for this handler), `node` (the node for a `node.{node}.…`
 * pattern instead of the server's own, e.g. "*" for every node: `@EventPattern(Patterns.nat, { node: '*' })`),
 * `from` (the sender on an addressed pattern, e.g. "*" for what every node sends this one:
 * `@EventPattern(Patterns.punch, { from: '*' })`).
 */
export class MeshNatsServer extends ServerNats {
  private readonly scope: MeshScope;
  private readonly queue?: string;
  private readonly log: TransportLogger;
  private readonly counters = new TransportStats();
  private readonly table = new Map<string, MeshRoute>();
  private readonly subs: Subscription[] = [];
  private readonly inflight = new Set<Promise<void>>();
  /** Per pattern: messages larger than max_payload arrive in chunks (see chunks.ts). */
  private readonly reassemblers = new Map<string, Reassembler>();
  private connection?: NatsConnection;

  constructor(private readonly meshOptions: MeshNatsServerOptions) {
    super({ servers: meshOptions.servers, name: meshOptions.name });
    this.scope = parseScope(meshOptions);
    this.queue = meshOptions.queue;
    this.log = meshOptions.logger ?? new Logger(MeshNatsServer.name);
  }

  override async createNatsClient(): Promise<NatsConnection> {
    this.connection = await connect(connectionOptions(this.meshOptions));
    return this.connection;
  }

  /** Subscribes each registered pattern's subject (called by `listen` once connected). */
  override bindEvents(client: NatsConnection): void {
    // Every route is checked (known pattern, node id for node patterns) before any subscription.
    const routes = [...this.messageHandlers].map(([pattern, handler]): MeshRoute => ({
      pattern,
      subject: subjectOf(pattern, this.scope, handler.extras?.node as string | undefined, handler.extras?.from as string | undefined),
      kind: handler.isEventHandler ? 'event' : 'request',
      queue: (handler.extras?.queue as string | undefined) ?? this.queue,
    }));
    for (const route of routes) {
      this.table.set(route.pattern, route);
      const sub = client.subscribe(route.subject, {
        queue: route.queue,
        callback: (err, msg) => {
          if (err) {
            this.log.error(logLine({ msg: 'subscription failed', subject: route.subject, error: err.message }));
            return;
          }
          const done = this.handleMessage(route.pattern, msg).finally(() => this.inflight.delete(done));
          this.inflight.add(done);
        },
      });
      this.subs.push(sub);
    }
  }

  /** Runs the handler registered under `pattern` for one message; never rejects. */
  override handleMessage(pattern: string, msg: Msg): Promise<void> {
    const route = this.table.get(pattern)!;
    const handler = this.messageHandlers.get(pattern)!;
    const ctx = new NatsContext([msg.subject, msg.headers]);
    const inbound: InboundRoute = {
      pattern,
      mesh: this.scope.mesh,
      kind: route.kind,
      stats: this.counters,
      logger: this.log,
      validate: this.meshOptions.validate === false ? undefined : inboundParser(pattern),
    };
    let reassembler = this.reassemblers.get(pattern);
    if (!reassembler) this.reassemblers.set(pattern, (reassembler = new Reassembler()));
    return handleChunked(reassembler, msg, inbound, (value) => this.runHandler(handler, value, ctx));
  }

  /** Calls a Nest handler (through the processing hooks) and resolves with its last emitted value. */
  private runHandler(handler: MessageHandler, value: unknown, ctx: NatsContext): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.onProcessingStartHook(this.transportId, ctx, async () => {
        try {
          const result$ = this.transformToObservable(await handler(value, ctx));
          resolve(await lastValueFrom(result$, { defaultValue: undefined }));
        } catch (err) {
          reject(err);
        } finally {
          this.onProcessingEndHook?.(this.transportId, ctx);
        }
      });
    });
  }

  /**
   * Stops receiving, lets running handlers finish and reply, then closes the connection. The
   * unsubscriptions' round trip is waited for only so long (see DRAIN_ANSWER_MS): a server out of
   * reach (the connection cut without a FIN, as a removed member's tunnel) would never answer.
   */
  override async close(): Promise<void> {
    if (this.connection && !this.connection.isClosed()) {
      const nc = this.connection;
      // (no subscriptions: nothing to drain, and no answer from the server to learn from)
      if (this.subs.length > 0 && !(await drainWithin(nc, () => Promise.allSettled(this.subs.map((s) => s.drain()))))) {
        this.log.warn(logLine({ msg: 'NATS did not answer the drain; closing without it', server: nc.getServer() }));
      }
      const grace = this.meshOptions.closeGraceMs ?? 5000;
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace)));
      const late = await Promise.race([Promise.allSettled([...this.inflight]).then(() => false), expired]);
      clearTimeout(timer);
      if (late) this.log.warn(logLine({ msg: 'closing with handlers still running', running: this.inflight.size, graceMs: grace }));
    }
    this.subs.length = 0;
    for (const r of this.reassemblers.values()) r.clear();
    await super.close();
  }

  /** Counters since start: received, rejected (bad JSON, …), handler errors; per pattern too. */
  stats(): StatsSnapshot {
    return this.counters.snapshot();
  }

  /** The subscriptions made by `listen`. */
  routes(): MeshRoute[] {
    return [...this.table.values()];
  }
}
