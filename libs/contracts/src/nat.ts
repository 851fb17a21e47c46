import { formatEndpoint, parseEndpoint } from '@wgmesh/netaddr';
import { NAT_TYPES, NatType, parsePublicKey } from './peer';
import { parseName } from './names';
import { array, ContractError, field, integer, join, object, oneOf, string } from './validate';

/**
 * NAT classification and path decisions (nat-probe). RFC 4787 / RFC 5780 vocabulary:
 * mapping and filtering behaviour are each endpoint-independent, address-dependent or
 * address-and-port-dependent. `nat` is the one-word summary the registry publishes (TXT `nat=`):
 * none (no NAT: the mapped address is local), eim (mapping endpoint-independent), edm (mapping
 * depends on the destination), unknown (no answer from the server, or not decidable).
 */
export const BEHAVIOURS = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent', 'unknown'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

/** `node.<id>.nat` event: one member's NAT, as its nat-probe measured it. */
export interface NatReport {
  /** The member's node id (its name). */
  node: string;
  /** The member's WireGuard public key. */
  publicKey: string;
  nat: NatType;
  mapping: Behaviour;
  filtering: Behaviour;
  /** The address the STUN server saw (ip:port), null when no server answered. */
  mappedAddress: string | null;
  /** The STUN server probed (ip:port). */
  server: string;
  /** How the classification was reached, in words (which tests ran, what they showed). */
  method: string;
  /** Milliseconds since the epoch. */
  at: number;
}

export const PATH_KINDS = ['direct', 'relayed'] as const;
export type PathKindDecided = (typeof PATH_KINDS)[number];

/**
 * One pair's path, as one end decided it:
 * - direct: the peer is configured with its endpoint and routes (tunnel address /32).
 * - relayed: no direct route; traffic takes the registry peer's mesh-CIDR route. With
 *   `attempt: true` a direct attempt is under way meanwhile: the peer is configured with its
 *   endpoint and a keepalive but no routes, so a handshake can happen without risking traffic.
 */
export interface PathDecision {
  /** The other member's public key. */
  peer: string;
  /** Its name, when known. */
  peerName?: string;
  path: PathKindDecided;
  attempt: boolean;
  /** Why, in words: "direct: a is endpoint-independent", "relayed: both endpoint-dependent", … */
  reason: string;
  /** When a relayed pair tries direct again (ms since the epoch), null when it will not by itself. */
  retryAt: number | null;
  /** When this decision was taken (ms since the epoch). */
  since: number;
}

/** `node.<id>.paths` event (and `node.<id>.paths.get` reply): every pair decision of one member. */
export interface PathReport {
  node: string;
  publicKey: string;
  /** This member's own NAT summary, as last classified. */
  nat: NatType;
  decisions: PathDecision[];
  /** Milliseconds since the epoch. */
  at: number;
}

/** `node.<id>.paths.get` request: no fields. */
export type PathsGetRequest = Record<string, never>;

export const MAX_PATH_DECISIONS = 10_000;
const MS = (value: unknown, path: string) => integer(value, path, 0, Number.MAX_SAFE_INTEGER);

function endpointOrNull(value: unknown, path: string): string | null {
  if (value === null) return null;
  return field(path, () => formatEndpoint(parseEndpoint(string(value, path, 64))));
}

export function parseNatReport(value: unknown): NatReport {
  const o = object(value, '', ['node', 'publicKey', 'nat', 'mapping', 'filtering', 'mappedAddress', 'server', 'method', 'at']);
  return {
    node: parseName(o.node, 'node'),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    nat: oneOf(o.nat, 'nat', NAT_TYPES),
    mapping: oneOf(o.mapping, 'mapping', BEHAVIOURS),
    filtering: oneOf(o.filtering, 'filtering', BEHAVIOURS),
    mappedAddress: endpointOrNull(o.mappedAddress, 'mappedAddress'),
    server: field('server', () => formatEndpoint(parseEndpoint(string(o.server, 'server', 64)))),
    method: string(o.method, 'method', 1024),
    at: MS(o.at, 'at'),
  };
}

export function parsePathDecision(value: unknown, path: string): PathDecision {
  const o = object(value, path, ['peer', 'peerName', 'path', 'attempt', 'reason', 'retryAt', 'since']);
  if (typeof o.attempt !== 'boolean') throw new ContractError(join(path, 'attempt'), 'must be true or false');
  const d: PathDecision = {
    peer: parsePublicKey(o.peer, join(path, 'peer')),
    path: oneOf(o.path, join(path, 'path'), PATH_KINDS),
    attempt: o.attempt,
    reason: string(o.reason, join(path, 'reason'), 512),
    retryAt: o.retryAt === null ? null : MS(o.retryAt, join(path, 'retryAt')),
    since: MS(o.since, join(path, 'since')),
  };
  if (o.peerName !== undefined) d.peerName = string(o.peerName, join(path, 'peerName'), 64);
  if (d.attempt && d.path !== 'relayed') throw new ContractError(join(path, 'attempt'), 'can only be true on a relayed path');
  return d;
}

export function parsePathReport(value: unknown): PathReport {
  const o = object(value, '', ['node', 'publicKey', 'nat', 'decisions', 'at']);
  return {
    node: parseName(o.node, 'node'),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    nat: oneOf(o.nat, 'nat', NAT_TYPES),
    decisions: array(o.decisions, 'decisions', MAX_PATH_DECISIONS).map((d, i) => parsePathDecision(d, join('decisions', i))),
    at: MS(o.at, 'at'),
  };
}

export function parsePathsGetRequest(value: unknown): PathsGetRequest {
  object(value, '', []);
  return {};
}
