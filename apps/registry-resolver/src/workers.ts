import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '@wgmesh/log';
import type { ResolverConfig } from './config';

/**
 * DNS worker processes (node:cluster): the standalone resolver's `--workers` and `registry up
 * --dns-workers`. Every worker runs the resolver alone (its own peer table from Redis, kept
 * current from NATS) and binds the same DNS address: cluster workers share the primary's UDP
 * socket and TCP listener, so the kernel spreads queries over them. The supervisor restarts a
 * worker that dies (with backoff) and stops them all by PID.
 *
 * A worker forked by `registry up` runs the same command line as the primary; it waits for the
 * resolver's configuration from the primary (`startConfig`), which sends it once the hub device
 * (its address, its key) is up, so that workers can start loading while the primary sets up.
 * The worker asks for it once it listens (a message sent before would be lost).
 */
const ASK = 'wgmesh-dns-worker:ask';
const START = 'wgmesh-dns-worker:start';
const ANSWERING = 'wgmesh-dns-worker:answering';

interface StartMessage {
  type: typeof START;
  config: ResolverConfig;
}

export interface WorkerSupervisorOptions {
  count: number;
  log: Logger;
  /** What the workers are called in log lines. */
  name?: string;
}

export class DnsWorkers {
  private stopping = false;
  private restarts = 0;
  private config: ResolverConfig | null = null;
  /** Workers that asked for the configuration before there was one. */
  private readonly waiting = new Set<Worker>();
  private readonly answeringIds = new Set<number>();
  private answeringWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly onMessage = (worker: Worker, msg: unknown) => {
    const type = (msg as { type?: unknown })?.type;
    if (type === ANSWERING) {
      this.answeringIds.add(worker.id);
      if (this.answeringIds.size >= this.o.count) for (const w of this.answeringWaiters.splice(0)) w.resolve();
      return;
    }
    if (type !== ASK) return;
    if (this.config) this.send(worker);
    else this.waiting.add(worker);
  };
  private readonly onExit = (worker: Worker, code: number | null, signal: string | null) => {
    if (this.stopping) return;
    // Starting: a worker that dies before answering (the DNS address cannot be bound, Redis
    // refuses…) fails the start, rather than being restarted while the start waits forever.
    if (this.config && this.answeringIds.size < this.o.count && !this.answeringIds.has(worker.id) && this.answeringWaiters.length > 0) {
      const err = new Error(`${this.name} ${worker.id} exited before answering DNS (code ${code}, signal ${signal}); its log says why`);
      for (const w of this.answeringWaiters.splice(0)) w.reject(err);
      return;
    }
    this.restarts++;
    const delay = Math.min(100 * 2 ** Math.min(this.restarts, 6), 5000);
    this.o.log.error(`${this.name} exited; restarting`, { worker: worker.id, code, signal, inMs: delay });
    setTimeout(() => !this.stopping && this.fork(), delay);
  };

  private constructor(private readonly o: WorkerSupervisorOptions) {}

  private get name(): string {
    return this.o.name ?? 'resolver worker';
  }

  /** Forks `count` workers (in the primary). */
  static start(o: WorkerSupervisorOptions): DnsWorkers {
    if (!cluster.isPrimary) throw new Error('DNS workers are forked by the primary process only');
    const workers = new DnsWorkers(o);
    cluster.on('exit', workers.onExit);
    cluster.on('message', workers.onMessage);
    for (let i = 0; i < o.count; i++) workers.fork();
    return workers;
  }

  /** Sends the resolver's configuration to every worker (and to every worker forked later). */
  startConfig(config: ResolverConfig): void {
    this.config = config;
    for (const w of this.waiting) this.send(w);
    this.waiting.clear();
  }

  /** Resolves once `count` workers have answered DNS (after startConfig); rejects when one exits before. */
  answering(): Promise<void> {
    if (this.answeringIds.size >= this.o.count) return Promise.resolve();
    return new Promise((resolve, reject) => this.answeringWaiters.push({ resolve, reject }));
  }

  /** Stops every worker (SIGTERM, by PID) and resolves when all have exited. */
  async close(): Promise<void> {
    this.stopping = true;
    cluster.off('exit', this.onExit);
    cluster.off('message', this.onMessage);
    await Promise.all(
      this.alive().map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.process.kill('SIGTERM');
          }),
      ),
    );
  }

  private fork(): void {
    const worker = cluster.fork();
    worker.once('exit', () => this.waiting.delete(worker));
  }

  private send(worker: Worker): void {
    if (worker.isConnected()) worker.send({ type: START, config: this.config! } satisfies StartMessage);
  }

  private alive(): Worker[] {
    return Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
  }
}

/** In a worker forked by DnsWorkers: the resolver's configuration, once the primary sends it. */
export function startConfigFromPrimary(): Promise<ResolverConfig> {
  if (!cluster.isWorker) return Promise.reject(new Error('not a DNS worker'));
  return new Promise((resolve) => {
    const onMessage = (msg: unknown) => {
      const m = msg as StartMessage;
      if (m?.type !== START) return;
      process.off('message', onMessage);
      resolve(m.config);
    };
    process.on('message', onMessage);
    process.send!({ type: ASK });
  });
}

/** In a worker: tells the primary that this worker answers DNS. */
export function announceAnswering(): void {
  if (cluster.isWorker) process.send?.({ type: ANSWERING });
}
