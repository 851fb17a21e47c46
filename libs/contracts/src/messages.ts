import { parsePeerRecord, parsePublicKey, PeerRecord } from './peer';
import { array, ContractError, integer, join, object, oneOf, string } from './validate';

/** `peers.events`: one change to the registry's peer table. Revisions increase by one per change. */
export type PeerEvent =
  | { type: 'upsert'; revision: number; peer: PeerRecord }
  | { type: 'remove'; revision: number; peer: { publicKey: string } };

export function parsePeerEvent(value: unknown): PeerEvent {
  const o = object(value, '', ['type', 'revision', 'peer']);
  const type = oneOf(o.type, 'type', ['upsert', 'remove'] as const);
  const revision = integer(o.revision, 'revision', 1, Number.MAX_SAFE_INTEGER);
  if (type === 'upsert') return { type, revision, peer: parsePeerRecord(o.peer, 'peer') };
  const p = object(o.peer, 'peer', ['publicKey', 'allowedIps', 'endpoint', 'name', 'persistentKeepalive', 'latestHandshake', 'nat']);
  return { type, revision, peer: { publicKey: parsePublicKey(p.publicKey, 'peer.publicKey') } };
}

/** `peers.snapshot` request: pages of at most `limit` peers, starting at `cursor`. */
export interface SnapshotRequest {
  cursor?: number;
  limit?: number;
}
export const SNAPSHOT_PAGE_MAX = 2000;

export function parseSnapshotRequest(value: unknown): SnapshotRequest {
  const o = object(value ?? {}, '', ['cursor', 'limit']);
  const req: SnapshotRequest = {};
  if (o.cursor !== undefined) req.cursor = integer(o.cursor, 'cursor', 0, Number.MAX_SAFE_INTEGER);
  if (o.limit !== undefined) req.limit = integer(o.limit, 'limit', 1, SNAPSHOT_PAGE_MAX);
  return req;
}

/**
 * `peers.snapshot` reply: the peer table at `revision`. When `nextCursor` is not null, more
 * pages follow; a client that sees the revision change between pages starts again.
 */
export interface PeerSnapshot {
  revision: number;
  peers: PeerRecord[];
  nextCursor: number | null;
}

export function parsePeerSnapshot(value: unknown): PeerSnapshot {
  const o = object(value, '', ['revision', 'peers', 'nextCursor']);
  return {
    revision: integer(o.revision, 'revision', 0, Number.MAX_SAFE_INTEGER),
    peers: array(o.peers, 'peers', SNAPSHOT_PAGE_MAX).map((p, i) => parsePeerRecord(p, join('peers', i))),
    nextCursor: o.nextCursor === null || o.nextCursor === undefined ? null : integer(o.nextCursor, 'nextCursor', 0, Number.MAX_SAFE_INTEGER),
  };
}

/** Every request/reply subject answers either its reply type or this. */
export interface ErrorReply {
  error: { code: string; message: string };
}

export function errorReply(err: unknown): ErrorReply {
  if (err instanceof ContractError) return { error: { code: 'invalid_request', message: err.message } };
  return { error: { code: 'internal', message: (err as Error)?.message ?? String(err) } };
}

export function isErrorReply(value: unknown): value is ErrorReply {
  return typeof value === 'object' && value !== null && 'error' in value;
}
