import { formatEndpoint, parseEndpoint } from '@wgmesh/netaddr';
import { parseName } from './names';
import { parseCidrs, parsePeerEndpoint, parsePublicKey } from './peer';
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

/** `node.<id>.dataplane.state` event. */
export interface DataplaneState {
  node: string;
  driver: DriverKind;
  device: string;
  publicKey: string;
  listenPort: number;
  peers: PeerState[];
  /** Unix milliseconds when read. */
  at: number;
}

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

export function parseDataplaneState(value: unknown): DataplaneState {
  const o = object(value, '', ['node', 'driver', 'device', 'publicKey', 'listenPort', 'peers', 'at']);
  return {
    node: parseName(o.node, 'node'),
    driver: parseDriverKind(o.driver, 'driver'),
    device: string(o.device, 'device', 64),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    listenPort: integer(o.listenPort, 'listenPort', 0, 65535),
    peers: array(o.peers, 'peers', MAX_PEERS_PER_APPLY * 5).map((p, i) => parsePeerState(p, join('peers', i))),
    at: integer(o.at, 'at', 0, Number.MAX_SAFE_INTEGER),
  };
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
