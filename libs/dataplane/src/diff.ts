import type { DesiredPeer, PeerState } from '@wgmesh/contracts';
import { canonicalCidr, ipEquals, parseEndpoint } from '@wgmesh/netaddr';
import type { PeerChanges, PeerDiff } from './driver';

export interface DiffOptions {
  /** The desired peers are the whole set: every other peer is removed (except protected ones). */
  replace: boolean;
  /** Without `replace`: keys to remove (a key also in the desired peers is kept and upserted). */
  remove?: string[];
  /** Keys never removed, whatever the request says (the bootstrap/registry peer). */
  protect?: string[];
}

export interface DiffResult {
  diff: PeerDiff;
  /** Upserts of peers the device does not have. */
  added: number;
  /** Upserts of peers the device has with another endpoint, allowed IPs or keepalive. */
  updated: number;
  /** Desired peers the device already has as desired. */
  unchanged: number;
}

/**
 * What to change on a device so that it has the desired peers: O(desired + actual) with maps.
 * A peer is updated when its endpoint differs (only if the desired endpoint is not null: null
 * keeps what the device learnt from roaming), its allowed IPs differ as a set, or its keepalive
 * differs (absent means 0). When a key is desired twice, the last one counts.
 */
export function diffPeers(desired: readonly DesiredPeer[], actual: readonly PeerState[], opts: DiffOptions): DiffResult {
  const have = new Map<string, PeerState>();
  for (const p of actual) have.set(p.publicKey, p);
  const want = new Map<string, DesiredPeer>();
  for (const p of desired) want.set(p.publicKey, p);
  const protect = new Set(opts.protect ?? []);

  const upsert: DesiredPeer[] = [];
  const changed = new Map<string, PeerChanges>();
  let added = 0;
  let unchanged = 0;
  for (const p of want.values()) {
    const a = have.get(p.publicKey);
    if (a === undefined) {
      upsert.push(p);
      added++;
      continue;
    }
    const c = peerChanges(p, a);
    if (c === null) {
      unchanged++;
    } else {
      upsert.push(p);
      changed.set(p.publicKey, c);
    }
  }

  const remove: string[] = [];
  if (opts.replace) {
    for (const key of have.keys()) if (!want.has(key) && !protect.has(key)) remove.push(key);
  } else {
    for (const key of new Set(opts.remove ?? [])) if (have.has(key) && !want.has(key) && !protect.has(key)) remove.push(key);
  }
  return { diff: { upsert, remove, changed }, added, updated: changed.size, unchanged };
}

/** What applying `want` would change on the device's peer `have`; null for nothing. */
export function peerChanges(want: DesiredPeer, have: PeerState): PeerChanges | null {
  const endpoint = want.endpoint !== null && !sameEndpoint(want.endpoint, have.endpoint);
  const allowedIps = !samePrefixes(want.allowedIps, have.allowedIps);
  const persistentKeepalive = (want.persistentKeepalive ?? 0) !== have.persistentKeepalive;
  return endpoint || allowedIps || persistentKeepalive ? { endpoint, allowedIps, persistentKeepalive } : null;
}

// Both sides are nearly always in canonical text already (contracts canonicalise desired peers;
// the devices print canonical IPv4, and RFC 5952 IPv6), so text is compared first. Only IPv6
// text is parsed again when it differs: wireguard-go prints "::ffff:192.0.2.9/128" where we
// write "::ffff:c000:209/128". Desired prefixes must be canonical (no host bits), as
// parseDesiredPeer makes them, or the peer is updated on every apply.

function sameEndpoint(want: string, have: string | null): boolean {
  if (have === null) return false;
  if (want === have) return true;
  if (want[0] !== '[' && have[0] !== '[') return false;
  try {
    const [a, b] = [parseEndpoint(want), parseEndpoint(have)];
    return a.port === b.port && ipEquals(a.ip, b.ip);
  } catch {
    return false;
  }
}

function samePrefixes(want: readonly string[], have: readonly string[]): boolean {
  if (want.length === 1 && have.length === 1) {
    if (want[0] === have[0]) return true;
    if (!want[0].includes(':') && !have[0].includes(':')) return false;
  }
  if (sameSet(want, have)) return true;
  if (!want.some(isV6) && !have.some(isV6)) return false;
  return sameSet(want.map(canonical), have.map(canonical));
}

const isV6 = (prefix: string) => prefix.includes(':');

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  if (sa.size !== sb.size) return false;
  for (const x of sa) if (!sb.has(x)) return false;
  return true;
}

function canonical(prefix: string): string {
  try {
    return canonicalCidr(prefix);
  } catch {
    return prefix;
  }
}
