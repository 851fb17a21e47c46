import { formatEndpoint, parseEndpoint } from '@wgmesh/netaddr';
import { parseName } from './names';
import { parseCidrs, parsePeerEndpoint, parsePublicKey } from './peer';
import { olderThanHeld, updateStanding } from './sequence';
import { array, ContractError, field, integer, join, object, oneOf, string } from './validate';

/** One peer as a node's device should have it. */
export interface DesiredPeer {
  publicKey: string;
  /** Where to send handshakes; null keeps whatever the device has learnt (roaming). */
  endpoint: string | null;
  allowedIps: string[];
  /** Seconds; 0 or absent for none. */
  persistentKeepalive?: number;
}

/**
 * `node.<id>.dataplane.apply` request. `replace`: the peers are the whole desired set and any
 * other peer is removed (except protected ones: the bootstrap/registry peer is never removed).
 * Without `replace` the peers are upserted and only the keys in `remove` are removed.
 */
export interface DataplaneApplyRequest {
  peers: DesiredPeer[];
  replace: boolean;
  remove?: string[];
  /** Peer-table revision this desired state was computed from (for tracing and logs). */
  revision?: number;
  /**
   * With `replace`: peers to leave as the device has them, neither changed nor removed (a member's
   * peers nat-probe has not decided about yet: a session from before a restart goes on).
   */
  keep?: string[];
  /**
   * Peers to send a keepalive to now (those with a persistent keepalive): after this node's own
   * endpoint changed (a NAT rebinding), so that their NATs let the others' packets in again at
   * once instead of at the next keepalive.
   */
  poke?: string[];
  /**
   * Hole punching (nat-probe): after the peers are applied, each entry's peer is created afresh
   * once per endpoint, in order, so that the device sends a handshake initiation to each (opening
   * this node's NAT towards them and, under a sequentially allocating NAT, taking its next ports in
   * order); an entry with several endpoints then, after a pause longer than WireGuard's 20 ms
   * initiation flood limit, once more towards the first, and that is how it stays. Any session
   * with the peer is lost.
   */
  punch?: PunchSpray[];
}

/** One peer to punch towards: its endpoints in order, and the settings it keeps. */
export interface PunchSpray {
  publicKey: string;
  /** At most MAX_PUNCH_ENDPOINTS. */
  endpoints: string[];
  allowedIps: string[];
  /** Seconds, at least 1: turning the keepalive on is what makes the device send. */
  persistentKeepalive: number;
}

export const MAX_PUNCH_ENDPOINTS = 16;
export const MAX_PUNCHES_PER_APPLY = 64;

export interface DataplaneApplyResult {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  /** Client-side time to read, diff and apply. */
  durationMs: number;
  revision?: number;
  /** Peers punched (`punch`), when any were. */
  punched?: number;
}

/** One peer as the device reports it. */
export interface PeerState {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds, 0 for never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
}

/**
 * One node's device state, whole: a `node.<id>.dataplane.state.get` reply (one page of it: see
 * `readDataplaneState`), or what a `DataplaneStateView` holds.
 */
export interface DataplaneState {
  node: string;
  driver: DriverKind;
  device: string;
  publicKey: string;
  listenPort: number;
  peers: PeerState[];
  /** Unix milliseconds when read. */
  at: number;
  /** The dataplane-programmer's start (ms since the epoch): `seq` counts within it. */
  epoch?: number;
  /** The `seq` of the last `DataplaneStateUpdate` this state includes (0: none sent yet). */
  seq?: number;
  /**
   * A `dataplane.state.get` reply is one page (peers by public key): present when more follow,
   * the key to ask after (`{after: next}`).
   */
  next?: string;
}

/**
 * `node.<id>.dataplane.state` event: what changed on one node's device since its previous update
 * (a peer's set, endpoint, latest handshake, keepalive or allowed IPs; the byte counters alone
 * changing is no change), and at least every --state-interval an update with no change (so that
 * a missed last update shows as a gap). `seq` goes up by one per update within an `epoch`: a
 * consumer that holds the state up to `seq - 1` applies it; one that missed an update (or holds
 * none, or an older epoch's) fetches the whole state (`dataplane.state.get`) instead. The
 * interface fields (driver, device, key, port) are in every update: they are ~150 bytes.
 */
export interface DataplaneStateUpdate {
  node: string;
  driver: DriverKind;
  device: string;
  publicKey: string;
  listenPort: number;
  epoch: number;
  seq: number;
  /** Peers new or changed since the previous update, as the device reports them now (counters included). */
  changed: PeerState[];
  /** Public keys of the peers no longer on the device. */
  removed: string[];
  /** Unix milliseconds when read. */
  at: number;
}

/** `node.<id>.dataplane.state.get` request: `{}` for the first page, `{after, limit}` for the peers whose keys come after `after`. */
export interface DataplaneStateGetRequest {
  after?: string;
  /** Peers in the reply at most (STATE_PAGE_MAX when absent). */
  limit?: number;
}

/**
 * Peers in one `dataplane.state.get` reply at most. A peer is ~200 bytes with one allowed IP, so
 * 2000 make ~400 KB; a page also ends before STATE_PAGE_BYTES (peers with many allowed IPs), so a
 * reply stays under NATS' 1 MiB max_payload, which replies cannot exceed (the transport chunks
 * requests and events, not replies).
 */
export const STATE_PAGE_MAX = 2000;
/** A `dataplane.state.get` page ends before its peers' JSON exceeds this (bytes; at least one peer). */
export const STATE_PAGE_BYTES = 768 * 1024;

export const DRIVER_KINDS = ['uapi', 'wg', 'vpp'] as const;
export type DriverKind = (typeof DRIVER_KINDS)[number];

export const MAX_PEERS_PER_APPLY = 20_000;

export function parseDesiredPeer(value: unknown, path: string): DesiredPeer {
  const o = object(value, path, ['publicKey', 'endpoint', 'allowedIps', 'persistentKeepalive']);
  const peer: DesiredPeer = {
    publicKey: parsePublicKey(o.publicKey, join(path, 'publicKey')),
    endpoint: o.endpoint === null || o.endpoint === undefined ? null : parsePeerEndpoint(o.endpoint, join(path, 'endpoint')),
    allowedIps: parseCidrs(o.allowedIps, join(path, 'allowedIps')),
  };
  if (o.persistentKeepalive !== undefined) peer.persistentKeepalive = integer(o.persistentKeepalive, join(path, 'persistentKeepalive'), 0, 65535);
  return peer;
}

export function parsePunchSpray(value: unknown, path: string): PunchSpray {
  const o = object(value, path, ['publicKey', 'endpoints', 'allowedIps', 'persistentKeepalive']);
  const endpoints = array(o.endpoints, join(path, 'endpoints'), MAX_PUNCH_ENDPOINTS).map((e, i) => parsePeerEndpoint(e, join(join(path, 'endpoints'), i)));
  if (endpoints.length === 0) throw new ContractError(join(path, 'endpoints'), 'must name at least one endpoint');
  return {
    publicKey: parsePublicKey(o.publicKey, join(path, 'publicKey')),
    endpoints,
    allowedIps: parseCidrs(o.allowedIps, join(path, 'allowedIps')),
    persistentKeepalive: integer(o.persistentKeepalive, join(path, 'persistentKeepalive'), 1, 65535),
  };
}

export function parseDataplaneApplyRequest(value: unknown): DataplaneApplyRequest {
  const o = object(value, '', ['peers', 'replace', 'remove', 'revision', 'poke', 'punch', 'keep']);
  if (typeof o.replace !== 'boolean') throw new ContractError('replace', 'must be true or false');
  const req: DataplaneApplyRequest = {
    peers: array(o.peers, 'peers', MAX_PEERS_PER_APPLY).map((p, i) => parseDesiredPeer(p, join('peers', i))),
    replace: o.replace,
  };
  if (o.remove !== undefined) req.remove = array(o.remove, 'remove', MAX_PEERS_PER_APPLY).map((k, i) => parsePublicKey(k, join('remove', i)));
  if (o.revision !== undefined) req.revision = integer(o.revision, 'revision', 0, Number.MAX_SAFE_INTEGER);
  if (o.poke !== undefined) req.poke = array(o.poke, 'poke', MAX_PEERS_PER_APPLY).map((k, i) => parsePublicKey(k, join('poke', i)));
  if (o.keep !== undefined) req.keep = array(o.keep, 'keep', MAX_PEERS_PER_APPLY).map((k, i) => parsePublicKey(k, join('keep', i)));
  if (o.punch !== undefined) req.punch = array(o.punch, 'punch', MAX_PUNCHES_PER_APPLY).map((p, i) => parsePunchSpray(p, join('punch', i)));
  return req;
}

export function parseDriverKind(value: unknown, path: string): DriverKind {
  return oneOf(value, path, DRIVER_KINDS);
}

/** A device-reported peer: the endpoint is whatever the device saw, so any address is accepted. */
export function parsePeerState(value: unknown, path: string): PeerState {
  const o = object(value, path, ['publicKey', 'endpoint', 'allowedIps', 'latestHandshake', 'rxBytes', 'txBytes', 'persistentKeepalive']);
  const count = (key: string) => integer(o[key], join(path, key), 0, Number.MAX_SAFE_INTEGER);
  return {
    publicKey: parsePublicKey(o.publicKey, join(path, 'publicKey')),
    endpoint: o.endpoint === null ? null : field(join(path, 'endpoint'), () => formatEndpoint(parseEndpoint(string(o.endpoint, join(path, 'endpoint'), 64)))),
    allowedIps: parseCidrs(o.allowedIps, join(path, 'allowedIps')),
    latestHandshake: count('latestHandshake'),
    rxBytes: count('rxBytes'),
    txBytes: count('txBytes'),
    persistentKeepalive: integer(o.persistentKeepalive, join(path, 'persistentKeepalive'), 0, 65535),
  };
}

const MS = (value: unknown, path: string) => integer(value, path, 0, Number.MAX_SAFE_INTEGER);
const LENIENT = { ignoreUnknown: true } as const;
/** Peers on one device at most (as reported). */
export const MAX_DEVICE_PEERS = MAX_PEERS_PER_APPLY * 5;

function peerStates(value: unknown, path: string): PeerState[] {
  const seen = new Set<string>();
  return array(value, path, MAX_DEVICE_PEERS).map((p, i) => {
    const peer = parsePeerState(p, join(path, i));
    if (seen.has(peer.publicKey)) throw new ContractError(join(join(path, i), 'publicKey'), 'is listed twice');
    seen.add(peer.publicKey);
    return peer;
  });
}

/** A `dataplane.state.get` reply (one page of the state). */
export function parseDataplaneState(value: unknown): DataplaneState {
  const o = object(value, '', ['node', 'driver', 'device', 'publicKey', 'listenPort', 'peers', 'at', 'epoch', 'seq', 'next'], LENIENT);
  const state: DataplaneState = {
    node: parseName(o.node, 'node'),
    driver: parseDriverKind(o.driver, 'driver'),
    device: string(o.device, 'device', 64),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    listenPort: integer(o.listenPort, 'listenPort', 0, 65535),
    peers: peerStates(o.peers, 'peers'),
    at: MS(o.at, 'at'),
  };
  if ((o.epoch === undefined) !== (o.seq === undefined)) throw new ContractError(o.epoch === undefined ? 'epoch' : 'seq', 'epoch and seq come together');
  if (o.epoch !== undefined) {
    state.epoch = MS(o.epoch, 'epoch');
    state.seq = MS(o.seq, 'seq');
  }
  if (o.next !== undefined) state.next = parsePublicKey(o.next, 'next');
  return state;
}

/** A `node.<id>.dataplane.state` event. */
export function parseDataplaneStateUpdate(value: unknown): DataplaneStateUpdate {
  const o = object(value, '', ['node', 'driver', 'device', 'publicKey', 'listenPort', 'epoch', 'seq', 'changed', 'removed', 'at'], LENIENT);
  const update: DataplaneStateUpdate = {
    node: parseName(o.node, 'node'),
    driver: parseDriverKind(o.driver, 'driver'),
    device: string(o.device, 'device', 64),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    listenPort: integer(o.listenPort, 'listenPort', 0, 65535),
    epoch: MS(o.epoch, 'epoch'),
    seq: integer(o.seq, 'seq', 1, Number.MAX_SAFE_INTEGER),
    changed: peerStates(o.changed, 'changed'),
    removed: array(o.removed, 'removed', MAX_DEVICE_PEERS).map((k, i) => parsePublicKey(k, join('removed', i))),
    at: MS(o.at, 'at'),
  };
  const changed = new Set(update.changed.map((p) => p.publicKey));
  update.removed.forEach((k, i) => {
    if (changed.has(k)) throw new ContractError(join('removed', i), 'is also in changed');
  });
  return update;
}

export function parseDataplaneStateGetRequest(value: unknown): DataplaneStateGetRequest {
  const o = object(value, '', ['after', 'limit']);
  const req: DataplaneStateGetRequest = {};
  if (o.after !== undefined) req.after = parsePublicKey(o.after, 'after');
  if (o.limit !== undefined) req.limit = integer(o.limit, 'limit', 1, STATE_PAGE_MAX);
  return req;
}

/**
 * One page of a whole state (what `dataplane.state.get` answers): the peers whose keys come after
 * `after`, in key order, at most `limit` (STATE_PAGE_MAX) and ending before STATE_PAGE_BYTES of
 * JSON (at least one peer); `next` when more follow. `sorted`: the state's peers in key order.
 */
export function dataplaneStatePage(state: DataplaneState, sorted: readonly PeerState[], request: DataplaneStateGetRequest = {}): DataplaneState {
  const limit = Math.min(request.limit ?? STATE_PAGE_MAX, STATE_PAGE_MAX);
  let i = 0;
  if (request.after !== undefined) {
    const after = request.after;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid].publicKey <= after) lo = mid + 1;
      else hi = mid;
    }
    i = lo;
  }
  const peers: PeerState[] = [];
  let bytes = 0;
  for (; i < sorted.length && peers.length < limit; i++) {
    const size = JSON.stringify(sorted[i]).length + 1;
    if (peers.length > 0 && bytes + size > STATE_PAGE_BYTES) break;
    bytes += size;
    peers.push(sorted[i]);
  }
  const { next: _next, ...head } = state;
  return { ...head, peers, ...(i < sorted.length ? { next: peers[peers.length - 1].publicKey } : {}) };
}

/**
 * A node's whole device state through paged `dataplane.state.get` requests (`request` sends one):
 * the pages in key order, put together. Pages may come from different moments; the state takes
 * the first page's `seq`, the oldest: applying the updates after it again only sets peers to what
 * they became since (an update says what a peer is now), so the state then follows the node
 * exactly. A programmer that restarted between pages makes it throw.
 */
export async function readDataplaneState(request: (req: DataplaneStateGetRequest) => Promise<DataplaneState>): Promise<DataplaneState> {
  const first = await request({ limit: STATE_PAGE_MAX });
  const peers = [...first.peers];
  let page = first;
  for (let pages = 1; page.next !== undefined; pages++) {
    if (pages > MAX_DEVICE_PEERS) throw new Error(`${first.node}'s device state has more than ${MAX_DEVICE_PEERS} peers`);
    const after: string = page.next;
    page = await request({ after, limit: STATE_PAGE_MAX });
    if (page.publicKey !== first.publicKey || page.epoch !== first.epoch) throw new Error(`${first.node}'s dataplane-programmer restarted while its state was read`);
    for (const p of page.peers) if (p.publicKey > after) peers.push(p);
    if (peers.length > MAX_DEVICE_PEERS) throw new Error(`${first.node}'s device state has more than ${MAX_DEVICE_PEERS} peers`);
  }
  const { next: _next, ...last } = page;
  return { ...last, peers, ...(first.epoch !== undefined ? { epoch: first.epoch, seq: first.seq } : {}) };
}

/**
 * One node's device state as a consumer of its updates holds it (`node.<id>.dataplane.state`
 * events on top of a `dataplane.state.get` reply). `update` says what to do with an update:
 * 'applied', 'stale' (the state includes it already), or 'gap' (one was missed, the programmer
 * restarted, or no state is held yet: fetch the whole state with `readDataplaneState` and hand it
 * to `full`).
 */
export class DataplaneStateView {
  private held: DataplaneState | undefined;
  private byPeer = new Map<string, PeerState>();
  /** Peers changed by updates since `held.peers` was built. */
  private dirty = false;

  /** The state held (undefined before the first `full`); its peers are built on each read after an update. */
  get state(): DataplaneState | undefined {
    if (this.held && this.dirty) {
      this.held = { ...this.held, peers: [...this.byPeer.values()] };
      this.dirty = false;
    }
    return this.held;
  }

  /** One peer as held. */
  peer(publicKey: string): PeerState | undefined {
    return this.byPeer.get(publicKey);
  }

  /** A whole state (`readDataplaneState`): taken unless older than the one held. True when taken. */
  full(state: DataplaneState): boolean {
    const h = this.held;
    if (h && h.publicKey === state.publicKey && olderThanHeld(h, state)) return false;
    const { next: _next, ...whole } = state;
    this.held = whole;
    this.byPeer = new Map(state.peers.map((p) => [p.publicKey, p]));
    this.dirty = false;
    return true;
  }

  update(u: DataplaneStateUpdate): 'applied' | 'stale' | 'gap' {
    const h = this.held;
    if (!h || h.publicKey !== u.publicKey || h.node !== u.node) return 'gap';
    const standing = updateStanding(h, u);
    if (standing !== 'next') return standing;
    for (const k of u.removed) this.byPeer.delete(k);
    for (const p of u.changed) this.byPeer.set(p.publicKey, p);
    this.held = { node: u.node, driver: u.driver, device: u.device, publicKey: u.publicKey, listenPort: u.listenPort, peers: h.peers, at: Math.max(h.at, u.at), epoch: u.epoch, seq: u.seq };
    this.dirty = this.dirty || u.changed.length > 0 || u.removed.length > 0;
    return 'applied';
  }

  /** Forgets the state (the node left). */
  clear(): void {
    this.held = undefined;
    this.byPeer.clear();
    this.dirty = false;
  }
}

export function parseDataplaneApplyResult(value: unknown): DataplaneApplyResult {
  const o = object(value, '', ['added', 'updated', 'removed', 'unchanged', 'durationMs', 'revision', 'punched']);
  const result: DataplaneApplyResult = {
    added: integer(o.added, 'added', 0, Number.MAX_SAFE_INTEGER),
    updated: integer(o.updated, 'updated', 0, Number.MAX_SAFE_INTEGER),
    removed: integer(o.removed, 'removed', 0, Number.MAX_SAFE_INTEGER),
    unchanged: integer(o.unchanged, 'unchanged', 0, Number.MAX_SAFE_INTEGER),
    durationMs: nonNegative(o.durationMs, 'durationMs'),
  };
  if (o.revision !== undefined) result.revision = integer(o.revision, 'revision', 0, Number.MAX_SAFE_INTEGER);
  if (o.punched !== undefined) result.punched = integer(o.punched, 'punched', 0, MAX_PUNCHES_PER_APPLY);
  return result;
}

function nonNegative(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ContractError(path, 'must be a non-negative number');
  return value;
}
