import type { KV, KvEntry } from 'nats';

/** What a PrefixWatch tells, in the store's order. */
export interface PrefixWatchHandlers {
  /**
   * Every live entry under the prefix (by key): at the start, and again after each restart (a
   * reconnect, a failed watch): a full read, from which the holder replaces what it had.
   */
  initial(entries: Map<string, KvEntry>): void;
  /** A key written after the initial read. */
  put(entry: KvEntry): void;
  /** A key deleted (or purged) after the initial read. */
  del(key: string): void;
  /** The watch ended by itself (the server dropped its consumer, an error); it starts again after `retryMs`. */
  failed(err: Error | undefined): void;
}

export interface PrefixWatchOptions {
  /** Wait before a watch that ended by itself, or failed to start, starts again (ms). */
  retryMs?: number;
}

/**
 * Keys under `prefix.` of a JetStream KV bucket, followed as they change: one watch (an ordered
 * consumer: the last value of each key, then every change) instead of reading them all again
 * and again. The first values arrive as one `initial` map; `restart()` (after the NATS
 * connection came back) and a watch that ends by itself start over with a new `initial`.
 */
export class PrefixWatch {
  private generation = 0;
  private iter: Awaited<ReturnType<KV['watch']>> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  private firstInitial: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void };
  private readonly retryMs: number;

  constructor(
    private readonly kv: KV,
    private readonly prefix: string,
    private readonly handlers: PrefixWatchHandlers,
    opts: PrefixWatchOptions = {},
  ) {
    this.retryMs = opts.retryMs ?? 1000;
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    this.firstInitial = { promise, resolve, reject };
  }

  /** Starts watching; resolves after the first `initial`, rejects when the first watch cannot start. */
  start(): Promise<void> {
    void this.run(++this.generation, true);
    return this.firstInitial.promise;
  }

  /** Starts over (a new consumer, a new `initial`): after a reconnect, when changes may have been missed. */
  restart(): void {
    if (this.stopped) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const old = this.iter;
    this.iter = null;
    const generation = ++this.generation;
    old?.stop();
    void this.run(generation, false);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.retry) clearTimeout(this.retry);
    this.iter?.stop();
    this.iter = null;
  }

  private async run(generation: number, first: boolean): Promise<void> {
    const entries = new Map<string, KvEntry>();
    let initialised = false;
    let returned = false;
    let early = false;
    const current = () => generation === this.generation && !this.stopped;
    const emitInitial = () => {
      if (initialised || !current()) return;
      initialised = true;
      this.handlers.initial(entries);
      if (first) this.firstInitial.resolve();
    };
    let iter: Awaited<ReturnType<KV['watch']>>;
    try {
      iter = await this.kv.watch({
        key: `${this.prefix}.>`,
        // Called in order after the last initial value has been iterated, or (no value pending
        // when the watch started) before watch() returns, with the initial values still queued.
        initializedFn: () => (returned ? emitInitial() : (early = true)),
      });
    } catch (err) {
      if (first) this.firstInitial.reject(err as Error);
      else if (current()) this.again(generation, err as Error);
      return;
    }
    returned = true;
    if (!current()) {
      iter.stop();
      return;
    }
    this.iter = iter;
    // Values queued before watch() returned are the initial ones (and perhaps a change or two after: applied in order all the same).
    let initialLeft = early ? iter.getPending() : Infinity;
    if (initialLeft === 0) emitInitial();
    let error: Error | undefined;
    try {
      for await (const e of iter) {
        if (!current()) break;
        if (!initialised) {
          if (e.operation === 'PUT') entries.set(e.key, e);
          else entries.delete(e.key);
          if (--initialLeft === 0) emitInitial();
        } else if (e.operation === 'PUT') this.handlers.put(e);
        else this.handlers.del(e.key);
      }
    } catch (err) {
      error = err as Error;
    }
    if (current()) {
      if (first && !initialised) this.firstInitial.reject(error ?? new Error(`the watch of ${this.prefix}.> ended before its initial values`));
      this.again(generation, error);
    }
  }

  private again(generation: number, err: Error | undefined): void {
    this.iter = null;
    this.handlers.failed(err);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (generation === this.generation && !this.stopped) void this.run(++this.generation, false);
    }, this.retryMs);
  }
}
