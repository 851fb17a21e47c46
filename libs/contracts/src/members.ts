import { parsePublicKey } from './peer';
import { array, ContractError, join, object, oneOf, string } from './validate';

/** `members.remove` request: the registry removes a member (hub peer, address, enrolment). */
export interface MemberRemoveRequest {
  /** The member's public key, name or tunnel address. */
  member: string;
}

export interface MemberRemoveReply {
  publicKey: string;
  name: string | null;
  /** The address it had, now free. */
  address: string | null;
}

export function parseMemberRemoveRequest(value: unknown): MemberRemoveRequest {
  const o = object(value, '', ['member']);
  return { member: target(o.member, 'member') };
}

export function parseMemberRemoveReply(value: unknown): MemberRemoveReply {
  const o = object(value, '', ['publicKey', 'name', 'address']);
  return {
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    name: o.name === null ? null : string(o.name, 'name', 64),
    address: o.address === null ? null : string(o.address, 'address', 64),
  };
}

/**
 * `node.<id>.connect` request to a member: add (or with `remove`, drop) on-demand peers, each
 * named by public key, tunnel address or member name. A member in full-mesh mode already wants
 * every peer and changes nothing; `all: true` takes an on-demand member back to full mesh.
 */
export interface ConnectRequest {
  targets: string[];
  remove?: boolean;
  all?: boolean;
}

export interface ConnectReply {
  mode: 'full' | 'on-demand';
  /** The on-demand list now in force (empty in full-mesh mode). */
  targets: string[];
  /** Public keys of the peers the member now wants (from its current peer table). */
  peers: string[];
}

export const MAX_CONNECT_TARGETS = 1000;

export function parseConnectRequest(value: unknown): ConnectRequest {
  const o = object(value, '', ['targets', 'remove', 'all']);
  const req: ConnectRequest = { targets: array(o.targets ?? [], 'targets', MAX_CONNECT_TARGETS).map((t, i) => target(t, join('targets', i))) };
  if (o.remove !== undefined) req.remove = flag(o.remove, 'remove');
  if (o.all !== undefined) req.all = flag(o.all, 'all');
  if (req.targets.length === 0 && !req.all) throw new ContractError('targets', 'must name at least one peer (or set all)');
  return req;
}

export function parseConnectReply(value: unknown): ConnectReply {
  const o = object(value, '', ['mode', 'targets', 'peers']);
  return {
    mode: oneOf(o.mode, 'mode', ['full', 'on-demand'] as const),
    targets: array(o.targets, 'targets', MAX_CONNECT_TARGETS).map((t, i) => target(t, join('targets', i))),
    peers: array(o.peers, 'peers', 100_000).map((k, i) => parsePublicKey(k, join('peers', i))),
  };
}

function flag(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new ContractError(path, 'must be true or false');
  return value;
}

function target(value: unknown, path: string): string {
  const t = string(value, path, 64);
  if (!/^[A-Za-z0-9+/=:._-]+$/.test(t)) throw new ContractError(path, 'must be a public key, a tunnel address or a member name');
  return t;
}
