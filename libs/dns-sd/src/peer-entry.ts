import type { NatType } from '@wgmesh/contracts';
import { Cidr, Endpoint, formatCidr, parseCidr, parseEndpoint } from '@wgmesh/netaddr';
import { keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';

/** The DNS-visible part of a peer: what wgsd serves, plus wgmesh's TXT keys. */
export interface PeerSource {
  publicKey: string;
  endpoint: string | null;
  allowedIps: readonly string[];
  nat?: NatType;
}

/** A peer prepared for answering: key names and addresses parsed once, TXT strings built once. */
export interface PeerEntry {
  /** The peer's key, base64 as given. */
  readonly publicKey: string;
  /** Lowercase base32 of the key with padding: the DNS-SD instance label. */
  readonly b32: string;
  readonly endpoint: Endpoint | null;
  readonly prefixes: readonly Cidr[];
  readonly txt: readonly string[];
  /** Order of insertion: among equally specific prefixes, the newest owner wins. */
  readonly seq: number;
  /** Set once the index replaced or removed this entry: answers built from it are stale. */
  retired: boolean;
}

export const TXT_VERSION = 'txtvers=1';
const MAX_TXT_STRING = 255;

/** Parses a peer's key, endpoint and prefixes. Throws KeyError or AddressError on bad input. */
export function createPeerEntry(source: PeerSource, seq: number): PeerEntry {
  const key = keyFromBase64(source.publicKey);
  const prefixes = source.allowedIps.map((text) => parseCidr(text));
  return {
    publicKey: source.publicKey,
    b32: keyToBase32(key),
    endpoint: source.endpoint === null ? null : parseEndpoint(source.endpoint),
    prefixes,
    txt: txtStrings(source.publicKey, prefixes.map(formatCidr), source.nat),
    seq,
    retired: false,
  };
}

/**
 * wgsd's three strings, then ours. A TXT string holds at most 255 bytes: a long allowed list is
 * split at commas into several "allowed=" strings (RFC 6763 clients read only the first).
 */
export function txtStrings(publicKey: string, cidrs: readonly string[], nat?: NatType): string[] {
  const out = [TXT_VERSION, `pub=${publicKey}`];
  let current = 'allowed=';
  for (const cidr of cidrs) {
    const sep = current === 'allowed=' ? '' : ',';
    if (current.length + sep.length + cidr.length > MAX_TXT_STRING) {
      out.push(current);
      current = `allowed=${cidr}`;
    } else {
      current += sep + cidr;
    }
  }
  out.push(current);
  if (nat !== undefined) out.push(`nat=${nat}`);
  return out;
}

/** True when two sources would be served identically (so an update need not clear caches). */
export function sameDnsView(a: PeerSource, b: PeerSource): boolean {
  if (a.publicKey !== b.publicKey || a.endpoint !== b.endpoint || a.nat !== b.nat) return false;
  if (a.allowedIps.length !== b.allowedIps.length) return false;
  for (let i = 0; i < a.allowedIps.length; i++) if (a.allowedIps[i] !== b.allowedIps[i]) return false;
  return true;
}

/** True when a change from `a` to `b` can change other names' answers (listing, addresses, existence). */
export function changesStructure(a: PeerSource, b: PeerSource): boolean {
  if ((a.endpoint === null) !== (b.endpoint === null)) return true;
  if (a.allowedIps.length !== b.allowedIps.length) return true;
  for (let i = 0; i < a.allowedIps.length; i++) if (a.allowedIps[i] !== b.allowedIps[i]) return true;
  return false;
}

export function isHostPrefix(cidr: Cidr): boolean {
  return cidr.prefixLength === (cidr.address.family === 4 ? 32 : 128);
}

/** A Map key for an address: its bytes as a string (4 characters for IPv4, 16 for IPv6). */
export function addressKey(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}
