import { integer, PeerRecord, PeerSnapshot, SNAPSHOT_PAGE_MAX } from '@wgmesh/contracts';

/**
 * One page of a snapshot: peers sorted by public key, `cursor` is an index into that order.
 * `nextCursor` is null on the last page.
 */
export function pageOf(revision: number, peers: readonly PeerRecord[], cursor: number, limit: number): PeerSnapshot {
  const from = integer(cursor, 'cursor', 0, Number.MAX_SAFE_INTEGER);
  const size = integer(limit, 'limit', 1, SNAPSHOT_PAGE_MAX);
  const sorted = [...peers].sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0));
  const page = sorted.slice(from, from + size);
  const next = from + size;
  return { revision, peers: page, nextCursor: next < sorted.length ? next : null };
}
