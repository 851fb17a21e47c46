import { canonicalCidr, formatEndpoint, IpAddress, isSpecialPurpose, parseEndpoint } from '@wgmesh/netaddr';
import { isBase64Key } from '@wgmesh/wireguard';
import { array, ContractError, field, integer, join, object, oneOf, string } from './validate';

export const NAT_TYPES = ['none', 'eim', 'edm', 'unknown'] as const;
/** NAT mapping behaviour: none (public address), endpoint-independent, endpoint-dependent. */
export type NatType = (typeof NAT_TYPES)[number];

/**
 * One mesh member as the registry sees it. Only public material: the private key never
 * leaves its node.
 */
export interface PeerRecord {
  /** WireGuard public key, standard base64 (44 characters). */
  publicKey: string;
  /** Tunnel prefixes in canonical form ("10.99.0.2/32", "fd00::2/128"). */
  allowedIps: string[];
  /** Registry-observed endpoint "ip:port" / "[ipv6]:port", or null before the first handshake. */
  endpoint: string | null;
  /** Human name given at enrolment. */
  name?: string;
  persistentKeepalive?: number;
  /** Unix seconds of the latest handshake with the registry, 0 for never. */
  latestHandshake?: number;
  nat?: NatType;
}

export const MAX_ALLOWED_IPS = 256;
const PEER_FIELDS = ['publicKey', 'allowedIps', 'endpoint', 'name', 'persistentKeepalive', 'latestHandshake', 'nat'] as const;

export function parsePublicKey(value: unknown, path: string): string {
  if (!isBase64Key(value)) throw new ContractError(path, 'must be a WireGuard public key (44 characters of base64)');
  return value;
}

/** A list of allowed IPs (at most MAX_ALLOWED_IPS), each as a canonical CIDR. */
export function parseCidrs(value: unknown, path: string): string[] {
  return array(value, path, MAX_ALLOWED_IPS).map((c, i) => field(join(path, i), () => canonicalCidr(string(c, join(path, i), 64))));
}

/** Validates and normalises a peer record (canonical prefixes and endpoint). */
export function parsePeerRecord(value: unknown, path = 'peer'): PeerRecord {
  const o = object(value, path, PEER_FIELDS);
  const peer: PeerRecord = {
    publicKey: parsePublicKey(o.publicKey, join(path, 'publicKey')),
    allowedIps: parseCidrs(o.allowedIps, join(path, 'allowedIps')),
    endpoint: o.endpoint === null || o.endpoint === undefined ? null : parsePeerEndpoint(o.endpoint, join(path, 'endpoint')),
  };
  if (o.name !== undefined) peer.name = parsePeerName(o.name, join(path, 'name'));
  if (o.persistentKeepalive !== undefined) {
    peer.persistentKeepalive = integer(o.persistentKeepalive, join(path, 'persistentKeepalive'), 0, 65535);
  }
  if (o.latestHandshake !== undefined) {
    peer.latestHandshake = integer(o.latestHandshake, join(path, 'latestHandshake'), 0, Number.MAX_SAFE_INTEGER);
  }
  if (o.nat !== undefined) peer.nat = oneOf(o.nat, join(path, 'nat'), NAT_TYPES);
  return peer;
}

/**
 * An endpoint a peer can really be reached at: not loopback, unspecified, multicast or
 * link-local, also not written as an IPv4-mapped IPv6 address (`[::ffff:127.0.0.1]:1`).
 */
export function parsePeerEndpoint(value: unknown, path: string): string {
  const ep = field(path, () => parseEndpoint(string(value, path, 64)));
  if (isSpecialPurpose(ep.ip) || isSpecialPurpose(unmapped(ep.ip))) {
    throw new ContractError(path, 'must not be a loopback, unspecified, multicast or link-local address');
  }
  return formatEndpoint(ep);
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else the address itself. */
function unmapped(ip: IpAddress): IpAddress {
  const b = ip.bytes;
  if (ip.family !== 6 || !b.subarray(0, 10).every((x) => x === 0) || b[10] !== 0xff || b[11] !== 0xff) return ip;
  return { family: 4, bytes: b.slice(12, 16) };
}

function parsePeerName(value: unknown, path: string): string {
  const name = string(value, path, 64);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ContractError(path, 'must be letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  return name;
}
