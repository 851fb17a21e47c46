import { type KV, type NatsConnection, StorageType } from 'nats';
import { parseName } from '@wgmesh/contracts';
import { encode, getLive, isConflict, json } from './state';

/**
 * One writer for the peer table when a mesh has several registries: a lease in a JetStream KV
 * bucket whose entries expire (`wgmesh-<mesh>-lease`, max age = the lease's time to live). The
 * holder renews it at a third of that; another registry takes it only once the entry has expired
 * (created only if absent), so at most one registry publishes at a time, except for up to one
 * time to live after a holder that lost NATS without knowing it (it stops at its next failed
 * renewal). A registry that restarts within its own lease takes it back.
 */
export interface LeaseHolder {
  holder: string;
  /** Unix ms of the last renewal. */
  at: number;
}

export interface LeaseOptions {
  /** How long a lease lasts without renewal (ms); the bucket's max age. */
  ttlMs: number;
  /** JetStream replicas of the lease bucket (as the store of record's). */
  replicas?: number;
  now?: () => number;
}

export const LEASE_KEY = 'peer-table';
export const DEFAULT_LEASE_TTL_MS = 6000;

export function leaseBucket(mesh: string): string {
  return `wgmesh-${parseName(mesh, 'mesh')}-lease`;
}

export async function openLeaseBucket(nc: NatsConnection, mesh: string, opts: LeaseOptions): Promise<KV> {
  return nc.jetstream().views.kv(leaseBucket(mesh), { history: 1, storage: StorageType.File, replicas: opts.replicas ?? 1, ttl: opts.ttlMs });
}

export class PeerTableLease {
  private revision: number | null = null;
  /** Why the last tick could not reach the lease (NATS down, no JetStream quorum), or null. */
  lastError: string | null = null;
  private readonly now: () => number;

  constructor(
    private readonly kv: KV,
    readonly holder: string,
    private readonly opts: LeaseOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** True while this registry holds the lease (as of the last tick). */
  get held(): boolean {
    return this.revision !== null;
  }

  /** How often tick() should run: a third of the time to live. */
  get renewEveryMs(): number {
    return Math.max(100, Math.floor(this.opts.ttlMs / 3));
  }

  /**
   * Renews the lease when held, else takes it when it is free (or ours from before a restart).
   * Resolves with whether this registry holds it now. A NATS failure counts as not holding it.
   */
  async tick(): Promise<boolean> {
    const value = encode({ holder: this.holder, at: this.now() } satisfies LeaseHolder);
    try {
      this.lastError = null;
      if (this.revision !== null) {
        try {
          this.revision = await this.kv.update(LEASE_KEY, value, this.revision);
          return true;
        } catch (err) {
          if (!isConflict(err)) throw err;
          this.revision = null; // expired and taken by another meanwhile
        }
      }
      try {
        this.revision = await this.kv.create(LEASE_KEY, value);
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      const e = await getLive(this.kv, LEASE_KEY);
      if (e && json<LeaseHolder>(e).holder === this.holder) {
        this.revision = await this.kv.update(LEASE_KEY, value, e.revision);
        return true;
      }
      return false;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.revision = null;
      return false;
    }
  }

  /** Who holds the lease now (null when nobody does). */
  async current(): Promise<LeaseHolder | null> {
    const e = await getLive(this.kv, LEASE_KEY);
    return e ? json<LeaseHolder>(e) : null;
  }

  /** Gives the lease up (a clean stop), so another registry takes it at once. */
  async release(): Promise<void> {
    if (this.revision === null) return;
    const rev = this.revision;
    this.revision = null;
    await this.kv.delete(LEASE_KEY, { previousSeq: rev }).catch(() => undefined);
  }
}
