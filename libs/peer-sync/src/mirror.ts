import type { PeerEvent, PeerRecord } from '@wgmesh/contracts';

/** A change to apply to a local copy of the registry's peer table. */
export type MirrorChange =
  | { type: 'reset'; revision: number; peers: PeerRecord[] }
  /** `previous`: the record it replaces (absent: a new peer). */
  | { type: 'upsert'; revision: number; peer: PeerRecord; previous?: PeerRecord }
  | { type: 'remove'; revision: number; publicKey: string };

export interface PeerTable {
  revision: number;
  peers: PeerRecord[];
}

export interface MirrorLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface MirrorOptions {
  /** Fetches the whole table (a snapshot over NATS, or the Redis peer store). */
  load: (reason: string) => Promise<PeerTable>;
  /** Receives every change in revision order, once `table` holds it; a reset replaces everything. */
  apply: (change: MirrorChange) => void;
  log?: MirrorLog;
  /** Backoff between failed loads. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Events buffered while a load is in flight; beyond this the buffer is dropped and reloaded. */
  maxBuffered?: number;
  /**
   * How long a loaded table older than the one held (lower revision) is refused and the load
   * retried (default 30 s): the source lost its table and is writing it back (Redis flushed or
   * restarted). After a revision restart (an event at revision 1) an older table is taken at once.
   */
  regressionGraceMs?: number;
}

/**
 * Keeps a replica of the registry's peer table current from `peers.events`, with the snapshot as
 * the source of truth: events are applied only in revision order, a gap in revisions (a lost
 * event) triggers a reload, and events that arrive during a load are buffered and replayed on
 * top of it. A revision that starts again from 1 (the registry lost its store) also reloads.
 * A table older than the one held is not taken (for a while): replacing a whole table with an
 * emptier one would drop peers that are still there.
 */
export class PeerMirror {
  private current = 0;
  private loaded = false;
  private loading: Promise<void> | null = null;
  private buffer: PeerEvent[] = [];
  private overflowed = false;
  private stopped = false;
  /** An event restarted the revisions at 1: the next load may be older than what we hold. */
  private restarted = false;
  private readonly counters = { applied: 0, stale: 0, gaps: 0, loads: 0, loadFailures: 0, olderTables: 0 };
  private readonly peers = new Map<string, PeerRecord>();

  constructor(private readonly opts: MirrorOptions) {}

  /** The replica: every peer by public key, as of `revision` (empty until the first load). */
  get table(): ReadonlyMap<string, PeerRecord> {
    return this.peers;
  }

  get revision(): number {
    return this.current;
  }

  get ready(): boolean {
    return this.loaded;
  }

  stats(): Readonly<typeof this.counters> {
    return { ...this.counters };
  }

  /** Loads the table (retrying until it succeeds or stop() is called). */
  start(): Promise<void> {
    return this.reload('start');
  }

  stop(): void {
    this.stopped = true;
  }

  /** Reloads the whole table, e.g. after the NATS connection came back. Single-flight. */
  reload(reason: string): Promise<void> {
    if (!this.loading) {
      this.loading = this.loadUntilDone(reason).finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  handle(event: PeerEvent): void {
    if (this.loading) {
      if (this.buffer.length >= (this.opts.maxBuffered ?? 10_000)) {
        this.buffer = [];
        this.overflowed = true;
      }
      if (!this.overflowed) this.buffer.push(event);
      return;
    }
    if (!this.loaded) return;
    this.applyInOrder(event);
  }

  private applyInOrder(event: PeerEvent): void {
    if (event.revision === this.current + 1) {
      this.apply(event);
      return;
    }
    if (event.revision <= this.current) {
      if (event.revision === 1 && this.current > 1) {
        this.opts.log?.warn('peer table revision restarted at 1; reloading', { had: this.current });
        this.restarted = true;
        this.buffer.push(event);
        void this.reload('revision restarted');
        return;
      }
      this.counters.stale++;
      return;
    }
    this.counters.gaps++;
    this.opts.log?.info('revision gap in peer events; reloading', { have: this.current, got: event.revision });
    this.buffer.push(event);
    void this.reload(`gap: have ${this.current}, got ${event.revision}`);
  }

  private apply(event: PeerEvent): void {
    this.current = event.revision;
    this.counters.applied++;
    if (event.type === 'upsert') {
      const previous = this.peers.get(event.peer.publicKey);
      this.peers.set(event.peer.publicKey, event.peer);
      this.opts.apply({ type: 'upsert', revision: event.revision, peer: event.peer, ...(previous ? { previous } : {}) });
    } else {
      this.peers.delete(event.peer.publicKey);
      this.opts.apply({ type: 'remove', revision: event.revision, publicKey: event.peer.publicKey });
    }
  }

  private async loadUntilDone(reason: string): Promise<void> {
    let delay = this.opts.retryMinMs ?? 250;
    let olderSince: number | null = null;
    for (;;) {
      if (this.stopped) return;
      this.overflowed = false;
      try {
        this.counters.loads++;
        const table = await this.opts.load(reason);
        if (this.stopped) return;
        if (this.loaded && table.revision < this.current && !this.restarted) {
          olderSince ??= Date.now();
          const held = Date.now() - olderSince;
          if (held < (this.opts.regressionGraceMs ?? 30_000)) {
            this.counters.olderTables++;
            throw new Error(`the table loaded is older than ours (revision ${table.revision} < ${this.current}); keeping ours`);
          }
          this.opts.log?.warn('the peer table stayed older than ours; taking it', { have: this.current, loaded: table.revision, afterMs: held });
        }
        this.restarted = false;
        this.current = table.revision;
        this.loaded = true;
        this.peers.clear();
        for (const p of table.peers) this.peers.set(p.publicKey, p);
        this.opts.apply({ type: 'reset', revision: table.revision, peers: table.peers });
        if (this.overflowed) continue;
        if (this.replayBuffer()) return;
        reason = 'gap after reload';
      } catch (err) {
        this.counters.loadFailures++;
        this.opts.log?.warn('loading the peer table failed; retrying', { reason, error: (err as Error).message, retryInMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay).unref?.());
        delay = Math.min(delay * 2, this.opts.retryMaxMs ?? 5000);
      }
    }
  }

  /** Applies buffered events newer than the table; false if a gap remains. */
  private replayBuffer(): boolean {
    const pending = this.buffer.sort((a, b) => a.revision - b.revision);
    this.buffer = [];
    for (let i = 0; i < pending.length; i++) {
      const event = pending[i];
      if (event.revision <= this.current) continue;
      if (event.revision !== this.current + 1) {
        this.buffer = pending.slice(i);
        return false;
      }
      this.apply(event);
    }
    return true;
  }
}
