import { ContractError, decodeJson, parseName, parsePeerRecord, parsePublicKey, PeerRecord, PeerSnapshot } from '@wgmesh/contracts';
import type { Redis } from 'ioredis';
import { canonicalJson } from './canonical';
import { peerStoreKeys, PeerStoreKeys } from './keys';
import { pageOf } from './paging';
import { definePeerScripts, PeerScripts } from './scripts';

/** Redis holds something peer-store cannot read (a corrupt revision, a record under the wrong key). */
export class PeerStoreError extends Error {
  override readonly name = 'PeerStoreError';
}

export interface PeerStoreOptions {
  /** Called for each stored entry that fails validation; the entry is left out of the snapshot. */
  onInvalid?: (publicKey: string, error: Error) => void;
}

/**
 * ioredis `retryStrategy` for wgmesh's services: reconnect 50 ms later each attempt, at most every
 * 500 ms, forever (ioredis's own default grows to 2 s), so a Redis that comes back is in use
 * again within half a second.
 */
export function redisRetryDelay(attempt: number): number {
  return Math.min(attempt * 50, 500);
}

/** How long snapshotPage serves a table from memory (while the revision is unchanged). */
export const SNAPSHOT_CACHE_MS = 1000;

export interface Change {
  revision: number;
  changed: boolean;
}

/**
 * The registry's peer table for one mesh, in Redis, with a revision that increases by exactly
 * one per change. Every write is one Lua script, so a change and its revision are atomic.
 */
export class PeerStore {
  readonly mesh: string;
  readonly keys: PeerStoreKeys;
  private readonly scripts: PeerScripts;
  private readonly onInvalid: (publicKey: string, error: Error) => void;
  /** snapshotPage's last table, sorted by key (a table at one revision never changes). */
  private cached: { revision: number; peers: PeerRecord[]; at: number } | null = null;
  private reading: Promise<{ revision: number; peers: PeerRecord[]; at: number }> | null = null;

  constructor(
    private readonly redis: Redis,
    mesh: string,
    options: PeerStoreOptions = {},
  ) {
    this.mesh = parseName(mesh, 'mesh');
    this.keys = peerStoreKeys(this.mesh);
    this.scripts = definePeerScripts(redis);
    this.onInvalid = options.onInvalid ?? (() => undefined);
  }

  /** Stores a peer. An identical record is a no-op: no write, no new revision. */
  async upsert(peer: PeerRecord): Promise<Change> {
    const record = parsePeerRecord(peer);
    const [changed, revision] = await this.scripts.upsert(this.keys.peers, this.keys.revision, record.publicKey, canonicalJson(record));
    return { changed: changed === 1, revision: toRevision(revision) };
  }

  /** Removes a peer; only a peer that existed makes a new revision. */
  async remove(publicKey: string): Promise<Change> {
    const key = parsePublicKey(publicKey, 'publicKey');
    const [changed, revision] = await this.scripts.remove(this.keys.peers, this.keys.revision, key);
    return { changed: changed === 1, revision: toRevision(revision) };
  }

  /**
   * Writes `peers` back as the whole table at `revision`, in one atomic step, but only when the
   * stored revision is below it: the table was lost (Redis flushed, or restarted without
   * persistence) and its last writer still knows it. Readers never see a half-written table, and
   * the revision does not go back, so replicas at `revision` stay valid. Returns whether it wrote.
   */
  async restore(peers: readonly PeerRecord[], revision: number): Promise<Change> {
    if (!Number.isSafeInteger(revision) || revision < 1) throw new PeerStoreError(`cannot restore at revision ${revision}`);
    const entries: string[] = [];
    for (const peer of peers) {
      const record = parsePeerRecord(peer);
      entries.push(record.publicKey, canonicalJson(record));
    }
    const [changed, current] = await this.scripts.restore(this.keys.peers, this.keys.revision, revision, entries);
    if (changed === 1) this.cached = null;
    return { changed: changed === 1, revision: toRevision(current) };
  }

  async revision(): Promise<number> {
    return toRevision(await this.redis.get(this.keys.revision));
  }

  /** The whole table at one revision (read in one MULTI/EXEC). Invalid entries are skipped. */
  async snapshot(): Promise<{ revision: number; peers: PeerRecord[] }> {
    const replies = await this.redis.multi().get(this.keys.revision).hgetall(this.keys.peers).exec();
    if (!replies) throw new PeerStoreError('snapshot transaction was aborted');
    const [[revErr, rev], [hashErr, hash]] = replies as [[Error | null, string | null], [Error | null, Record<string, string>]];
    if (revErr) throw revErr;
    if (hashErr) throw hashErr;
    const peers: PeerRecord[] = [];
    for (const [publicKey, json] of Object.entries(hash)) {
      const peer = this.readEntry(publicKey, json);
      if (peer) peers.push(peer);
    }
    return { revision: toRevision(rev), peers };
  }

  /**
   * One page of `snapshot()` in public-key order, for the paged `peers.snapshot` subject. The
   * table is read, validated and sorted once per revision and then served from memory: when every
   * member reloads at once (after a NATS reconnect or a registry restart), each request costs one
   * GET of the revision rather than reading and parsing the whole table. The copy is kept for
   * at most a second, so a table cleared elsewhere and rewritten up to the same revision (which
   * the revision alone cannot tell apart) is not served for longer.
   */
  async snapshotPage(cursor: number, limit: number): Promise<PeerSnapshot> {
    const revision = await this.revision();
    const c = this.cached;
    const table = c && c.revision === revision && Date.now() - c.at < SNAPSHOT_CACHE_MS ? c : await this.readSorted();
    return pageOf(table.revision, table.peers, cursor, limit);
  }

  /** snapshot(), sorted by key and kept for snapshotPage; concurrent callers share one read. */
  private readSorted(): Promise<{ revision: number; peers: PeerRecord[]; at: number }> {
    this.reading ??= this.snapshot()
      .then((s) => (this.cached = { revision: s.revision, peers: s.peers.sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0)), at: Date.now() }))
      .finally(() => (this.reading = null));
    return this.reading;
  }

  /** Deletes this mesh's peers and revision (the revision starts again from 0). */
  async clear(): Promise<void> {
    this.cached = null;
    await this.redis.del(this.keys.peers, this.keys.revision);
  }

  private readEntry(publicKey: string, json: string): PeerRecord | undefined {
    try {
      const peer = decodeJson(json, (v) => parsePeerRecord(v));
      if (peer.publicKey !== publicKey) throw new PeerStoreError(`record holds key ${peer.publicKey}`);
      return peer;
    } catch (err) {
      if (!(err instanceof ContractError || err instanceof PeerStoreError)) throw err;
      this.onInvalid(publicKey, err);
      return undefined;
    }
  }
}

function toRevision(value: unknown): number {
  if (value === null || value === undefined) return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || (typeof value === 'string' && !/^\d+$/.test(value))) {
    throw new PeerStoreError(`revision holds ${JSON.stringify(value)}, not a non-negative integer`);
  }
  return n;
}
