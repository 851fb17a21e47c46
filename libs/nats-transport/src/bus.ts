import { Logger } from '@nestjs/common';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { inboundParser, type InboundOf, isErrorReply, type Pattern } from '@wgmesh/contracts';
import { injectTraceHeaders, recordError, tracer, withSpan } from '@wgmesh/telemetry';
import { connect, ErrorCode, headers, Msg, MsgHdrs, NatsConnection, NatsError, Subscription } from 'nats';
import { Observable, share } from 'rxjs';
import { ConnectionConfig, connectionOptions } from './connection';
import { RemoteError, RequestError } from './errors';
import { chunkHeaders, HEADER_ROOM, MAX_ASSEMBLED_BYTES, MAX_CHUNKS, newChunkId, Reassembler, splitBody } from './chunks';
import { handleChunked, InboundRoute } from './inbound';
import { drainWithin } from './drain';
import { decodeBody, encodeJson } from './json';
import { TransportLogger } from './log';
import { MeshScope, parseScope, subjectOf } from './routes';
import { StatsSnapshot, TransportStats } from './stats';
import { BusStatus, watchStatus } from './status';

export interface MeshBusOptions extends ConnectionConfig, MeshScope {
  logger?: TransportLogger;
}

export interface RequestOptions {
  /** How long to wait for the reply; 5000 ms by default. */
  timeoutMs?: number;
  /** Node id for `node.{node}.…` patterns (defaults to the bus's node). */
  node?: string;
}

export interface SubscribeOptions {
  queue?: string;
  /** Node id for `node.{node}.…` patterns; "*" receives every node's messages. */
  node?: string;
  /** Sender id on addressed patterns (`….{from}`; defaults to the bus's node); "*" receives every sender's. */
  from?: string;
  /** Check each message against the pattern's contract before the handler (default true; see MeshNatsServerOptions). */
  validate?: boolean;
}

/**
 * A message handler; for a request (a message with a reply subject) its result is the reply. It
 * gets the message as the pattern's contract checked it (`InboundOf<P>`), unless `validate: false`.
 */
export type BusHandler<T = unknown> = (value: T, msg: Msg) => unknown | Promise<unknown>;

export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** After a reconnect, how long "no responders" is taken as "not re-subscribed yet" and retried. */
const RESUBSCRIBE_GRACE_MS = 3000;
const RESUBSCRIBE_RETRY_MS = 100;

/**
 * The NATS client side of wgmesh for providers and scripts: publish, request and subscribe by
 * contracts' logical patterns, with plain JSON bodies and W3C trace context in the headers.
 */
export class MeshBus {
  /** Connection changes; "reconnected" is the cue to resync anything built from events. */
  readonly status: Observable<BusStatus>;
  private readonly scope: MeshScope;
  private readonly log: TransportLogger;
  private readonly counters = new TransportStats();
  /**
   * False from a disconnect until the reconnect. nats.js drops whatever is written in between
   * (each dial resets its outbound buffer), so a request sent then would only time out: requests
   * wait for the connection instead (within their timeout).
   */
  private up = true;
  private readonly upWaiters = new Set<() => void>();

  private constructor(
    /** The underlying nats.js connection, for what this class does not wrap. */
    readonly raw: NatsConnection,
    scope: MeshScope,
    logger: TransportLogger,
  ) {
    this.scope = scope;
    this.log = logger;
    this.status = watchStatus(raw).pipe(share());
    this.status.subscribe((s) => {
      this.up = s === 'reconnected';
      if (this.up) this.reconnectedAt = Date.now();
      if (this.up || s === 'closed') for (const wake of [...this.upWaiters]) wake();
    });
  }

  /** True unless the connection is down (between a disconnect and the reconnect) or closed. */
  get connected(): boolean {
    return this.up && !this.raw.isClosed();
  }

  /** Resolves once connected (at once if it is), or after `timeoutMs`, or when the connection closes. */
  /** When the connection last came back (ms since the epoch; 0 before any reconnect). */
  private reconnectedAt = 0;

  private whenUp(timeoutMs: number): Promise<void> {
    if (this.up || this.raw.isClosed()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.upWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.upWaiters.add(wake);
    });
  }

  /** Connects, waiting for NATS to come up if it is not yet; reconnects forever afterwards. */
  static async connect(opts: MeshBusOptions): Promise<MeshBus> {
    const scope = parseScope(opts);
    const nc = await connect(connectionOptions(opts));
    return new MeshBus(nc, scope, opts.logger ?? new Logger(MeshBus.name));
  }

  get mesh(): string {
    return this.scope.mesh;
  }

  /** The full subject of a pattern for this bus's mesh (and node, or `node`). */
  subject(pattern: string, node?: string, from?: string): string {
    return subjectOf(pattern, this.scope, node, from);
  }

  /**
   * The largest body sent as one message: the server's max_payload less room for headers. A
   * larger one goes in chunks (see chunks.ts).
   */
  get chunkBytes(): number {
    return Math.max(HEADER_ROOM, (this.raw.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM);
  }

  /**
   * Publishes an event as JSON, in a PRODUCER span whose context travels in the headers. A body
   * above max_payload is published as consecutive chunks that subscribers put back together.
   */
  publish(pattern: string, message: unknown, scope: { node?: string; from?: string } = {}): void {
    const subject = this.subject(pattern, scope.node, scope.from);
    const data = encodeJson(message);
    const parent = context.active();
    const span = tracer().startSpan(`${pattern} publish`, { kind: SpanKind.PRODUCER, attributes: this.attributes(subject, 'send', data.length) }, parent);
    try {
      const traceHeaders = injectTraceHeaders(headers(), trace.setSpan(parent, span));
      const parts = this.split(subject, data);
      if (parts.length === 1) this.raw.publish(subject, data, { headers: traceHeaders });
      else {
        const id = newChunkId();
        parts.forEach((part, index) => this.raw.publish(subject, part, { headers: chunkHeaders(traceHeaders, { id, index, count: parts.length }) }));
      }
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * Sends a request and validates the reply with `parse`. An `ErrorReply` is thrown as
   * `RemoteError`; no responders, a timeout or a closed connection as `RequestError`. A body above
   * max_payload goes as chunks, one request each: the responder acknowledges each but the last,
   * whose reply is the answer (all within the one timeout).
   */
  async request<T>(pattern: string, message: unknown, parse: (value: unknown) => T, opts: RequestOptions = {}): Promise<T> {
    const subject = this.subject(pattern, opts.node);
    const timeout = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const data = encodeJson(message);
    return withSpan(
      `${pattern} request`,
      this.attributes(subject, 'send', data.length),
      async () => {
        const started = Date.now();
        await this.whenUp(timeout);
        if (!this.up && !this.raw.isClosed()) throw new RequestError('timeout', subject, `request on ${subject} not sent: NATS stayed disconnected for ${timeout} ms`);
        const traceHeaders = injectTraceHeaders(headers());
        const parts = this.split(subject, data);
        const id = parts.length > 1 ? newChunkId() : '';
        let reply!: Msg;
        for (let index = 0; index < parts.length; index++) {
          const hdrs = parts.length > 1 ? chunkHeaders(traceHeaders, { id, index, count: parts.length }) : traceHeaders;
          reply = await this.send(subject, parts[index], hdrs, timeout, started);
          if (index < parts.length - 1) {
            const ack = decodeBody(reply.data);
            if (isErrorReply(ack)) throw remoteError(ack, subject);
          }
        }
        const value = decodeBody(reply.data);
        if (isErrorReply(value)) throw remoteError(value, subject);
        return parse(value);
      },
      { kind: SpanKind.CLIENT },
    );
  }

  /** The body as one message or as chunks; a body too large even for chunks is refused. */
  private split(subject: string, data: Uint8Array): Uint8Array[] {
    const parts = splitBody(data, this.chunkBytes);
    if (parts.length > MAX_CHUNKS || data.length > MAX_ASSEMBLED_BYTES) {
      throw new RequestError('failed', subject, `a message on ${subject} of ${data.length} bytes is above the ${MAX_ASSEMBLED_BYTES} bytes (${MAX_CHUNKS} chunks) one may have`);
    }
    return parts;
  }

  /** One request message within the overall timeout (started at `started`). */
  private async send(subject: string, data: Uint8Array, hdrs: MsgHdrs, timeout: number, started: number): Promise<Msg> {
    for (;;) {
      const left = Math.max(1, timeout - (Date.now() - started));
      try {
        return await this.raw.request(subject, data, { timeout: left, headers: hdrs });
      } catch (err) {
        const error = requestError(err, subject, timeout);
        // Right after a reconnect the responders may still be re-subscribing (they reconnect
        // too): "no responders" then means "not yet", so try again while time is left.
        const justBack = Date.now() - this.reconnectedAt < RESUBSCRIBE_GRACE_MS;
        if (!(error instanceof RequestError && error.code === 'no_responders' && justBack && timeout - (Date.now() - started) > RESUBSCRIBE_RETRY_MS)) throw error;
        await new Promise((r) => setTimeout(r, RESUBSCRIBE_RETRY_MS));
      }
    }
  }

  /**
   * Handles messages on a pattern's subject with the server's behaviour: span continuing the
   * sender's trace, JSON decoding, bad messages counted and logged. A message with a reply
   * subject is a request: the handler's result (or an ErrorReply) is sent back.
   */
  subscribe<P extends Pattern>(pattern: P, handler: BusHandler<InboundOf<P>>, opts?: SubscribeOptions & { validate?: true }): Subscription;
  subscribe(pattern: string, handler: BusHandler, opts?: SubscribeOptions): Subscription;
  subscribe(pattern: string, handler: BusHandler<any>, opts: SubscribeOptions = {}): Subscription { // (the overloads above type the handler)
    const subject = this.subject(pattern, opts.node, opts.from);
    const validate = opts.validate === false ? undefined : inboundParser(pattern);
    const route = (kind: InboundRoute['kind']): InboundRoute => ({ pattern, mesh: this.scope.mesh, kind, stats: this.counters, logger: this.log, validate });
    const reassembler = new Reassembler();
    return this.raw.subscribe(subject, {
      queue: opts.queue,
      callback: (err, msg) => {
        if (err) {
          this.log.error(`subscription failed subject=${subject} error=${JSON.stringify(err.message)}`);
          return;
        }
        void handleChunked(reassembler, msg, route(msg.reply ? 'request' : 'event'), async (value) => handler(value, msg));
      },
    });
  }

  stats(): StatsSnapshot {
    return this.counters.snapshot();
  }

  /** Sends everything buffered to the server. */
  flush(): Promise<void> {
    return this.raw.flush();
  }

  /**
   * Lets subscriptions finish what they received, flushes, then closes. A server that does not
   * answer the drain in time (DRAIN_ANSWER_MS: the connection cut without a FIN, as a removed
   * member's tunnel) is not waited for: the connection is closed without it. Resolves true when
   * drained, false when closed without (or closed already).
   */
  async drain(): Promise<boolean> {
    if (this.raw.isClosed() || this.raw.isDraining()) return false;
    const server = this.raw.getServer();
    if (await drainWithin(this.raw, () => this.raw.drain())) return true;
    this.log.warn(`NATS did not answer the drain; closing without it server=${server}`);
    await this.close();
    return false;
  }

  async close(): Promise<void> {
    if (!this.raw.isClosed()) await this.raw.close();
  }

  private attributes(subject: string, operation: string, size: number) {
    return {
      'messaging.system': 'nats',
      'messaging.destination.name': subject,
      'messaging.operation.type': operation,
      'messaging.message.body.size': size,
      'wgmesh.mesh': this.scope.mesh,
    };
  }
}

function remoteError(value: unknown, subject: string): RemoteError {
  const { code, message } = (value as { error: { code?: unknown; message?: unknown } }).error ?? {};
  return new RemoteError(String(code ?? 'unknown'), String(message ?? ''), subject);
}

function requestError(err: unknown, subject: string, timeoutMs: number): Error {
  if (!(err instanceof NatsError)) return err as Error;
  switch (err.code) {
    case ErrorCode.NoResponders:
      return new RequestError('no_responders', subject, `no responders on ${subject} (is the service running?)`);
    case ErrorCode.Timeout:
      return new RequestError('timeout', subject, `request on ${subject} timed out after ${timeoutMs} ms`);
    case ErrorCode.ConnectionClosed:
    case ErrorCode.ConnectionDraining:
      return new RequestError('closed', subject, `request on ${subject} failed: the NATS connection is closed`);
    default:
      return new RequestError('failed', subject, `request on ${subject} failed: ${err.message}`);
  }
}
