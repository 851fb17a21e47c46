import type { DesiredPeer, PeerState } from '@wgmesh/contracts';
import { canonicalCidr, cidrContains, formatEndpoint, formatIp, parseCidr, parseEndpoint, parseIp } from '@wgmesh/netaddr';
import { VppRetvalError, WireguardPeer } from '@wgmesh/vpp-api';

// Between the contracts' peer model and VPP's wireguard_peer messages, and the bookkeeping the
// vpp driver keeps (no I/O here). Used by vpp-driver.ts.

/** A peer of our interface as VPP has it, by public key (base64). */
export interface VppPeerEntry {
  peerIndex: number;
  publicKey: string;
  /** "ip:port"; null when VPP has none (0.0.0.0 port 0). */
  endpoint: string | null;
  /** Canonical prefixes, without the peer's next-hop addresses. */
  allowedIps: string[];
  persistentKeepalive: number;
  /** The peer's next-hop addresses (see NextHops): also in its allowed IPs on VPP. */
  nextHops: NextHops;
}

/** What a peer should be on VPP (the desired peer, with a null endpoint resolved). */
export interface VppPeerWant {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  persistentKeepalive: number;
}

export function entryFromDump(p: WireguardPeer): VppPeerEntry {
  const allowedIps: string[] = [];
  const nextHops: NextHops = {};
  for (const prefix of p.allowedIps) {
    const c = canonicalPrefix(prefix);
    const family = nextHopFamily(c);
    if (family && nextHops[family] === undefined) nextHops[family] = c.slice(0, c.indexOf('/'));
    else allowedIps.push(c);
  }
  return {
    peerIndex: p.peerIndex,
    publicKey: p.publicKey.toString('base64'),
    endpoint: endpointText(p.endpoint, p.port),
    allowedIps,
    persistentKeepalive: p.persistentKeepalive,
    nextHops,
  };
}

/** Dotted quad as formatIp writes it (no leading zeros). */
const IPV4_CANONICAL = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

// The conversions below run for every peer of a 10,000-peer apply or read, so the common
// case skips re-parsing text that is canonical already: the codec decodes addresses to
// canonical text, and contracts hand us canonical endpoints and prefixes.

/** VPP's (address, port) as "ip:port" / "[ipv6]:port"; null for the unspecified address or port 0. */
export function endpointText(address: string, port: number): string | null {
  if (port === 0 || address === '0.0.0.0' || address === '::') return null;
  if (!address.includes(':')) return `${address}:${port}`;
  return formatEndpoint({ ip: parseIp(address), port });
}

/** "ip:port" as VPP's separate address and port; null is "0.0.0.0" port 0 (no endpoint yet). */
export function endpointFields(endpoint: string | null): { endpoint: string; port: number } {
  if (endpoint === null) return { endpoint: '0.0.0.0', port: 0 };
  const colon = endpoint.lastIndexOf(':');
  if (endpoint[0] !== '[' && colon > 0 && colon === endpoint.indexOf(':')) {
    const port = Number(endpoint.slice(colon + 1));
    const host = endpoint.slice(0, colon);
    if (Number.isInteger(port) && port > 0 && port < 65536 && IPV4_CANONICAL.test(host)) return { endpoint: host, port };
  }
  const ep = parseEndpoint(endpoint);
  return { endpoint: formatIp(ep.ip), port: ep.port };
}

/** The desired state of a peer on VPP: a null endpoint keeps the one VPP has (learnt by roaming). */
export function wantOf(p: DesiredPeer, current: VppPeerEntry | undefined): VppPeerWant {
  return {
    publicKey: p.publicKey,
    endpoint: p.endpoint ?? current?.endpoint ?? null,
    allowedIps: p.allowedIps.length === 1 ? [canonicalPrefix(p.allowedIps[0])] : [...new Set(p.allowedIps.map(canonicalPrefix))],
    persistentKeepalive: p.persistentKeepalive ?? 0,
  };
}

/** True when VPP's peer already is as wanted (then it is not touched at all). */
export function sameAsWanted(have: VppPeerEntry, want: VppPeerWant): boolean {
  if (have.persistentKeepalive !== want.persistentKeepalive) return false;
  if (have.endpoint !== want.endpoint) return false;
  if (have.allowedIps.length !== want.allowedIps.length) return false;
  const set = new Set(have.allowedIps);
  return want.allowedIps.every((p) => set.has(p));
}

/** Canonical prefix text; a host prefix in canonical text ("10.99.0.2/32", as contracts and the codec give it) is returned as it is. */
export function canonicalPrefix(prefix: string): string {
  const slash = prefix.indexOf('/');
  const len = prefix.slice(slash + 1);
  if (slash > 0 && (len === '32' ? IPV4_CANONICAL.test(prefix.slice(0, slash)) : false)) return prefix;
  return canonicalCidr(prefix);
}


/**
 * Next hops, and why each peer has one of its own. VPP (v26.06, wireguard plugin) sends a route's
 * traffic to the peer its next-hop adjacency is bound to, and binds an adjacency to the *first*
 * peer whose allowed IPs cover the next hop (wg_if_update_adj walks the interface's peers in hash
 * order; a peer added later binds only the first adjacency it covers, wg_peer_fill), not the most
 * specific one. With the registry's mesh-wide prefix on one peer and a direct peer's /32 on
 * another, a route "10.99.0.7/32 via 10.99.0.7" may so end up at the registry. So every peer gets
 * a next-hop address of its own, which no other peer's allowed IPs cover: an address from a block
 * that is never routed (198.18.0.0/15, benchmarking, RFC 2544; 2001:2::/48 for IPv6, RFC 5180),
 * added to the peer's allowed IPs on VPP, and every route of the peer goes via it. Each adjacency
 * then has exactly one candidate peer, in whatever order VPP walks them; a peer removed and added
 * again (VPP's only way to change one) keeps its next hop, so its routes stay as they are. A peer
 * without allowed IPs (a direct attempt), which VPP refuses, is added with its next hop alone.
 */
export const NEXT_HOP_BLOCKS = { v4: '198.18.0.0/15', v6: '2001:2::/48' } as const;
export type NextHopFamily = keyof typeof NEXT_HOP_BLOCKS;
export type NextHops = Partial<Record<NextHopFamily, string>>;
const NEXT_HOP_CIDRS = { v4: parseCidr(NEXT_HOP_BLOCKS.v4), v6: parseCidr(NEXT_HOP_BLOCKS.v6) };
/** Next hops per family: far more than VPP's peers on one interface in practice (2^17 - 2 for IPv4). */
const NEXT_HOP_COUNT = { v4: 2 ** 17 - 2, v6: 2 ** 32 - 2 };

/** The family of a host prefix inside a next-hop block (one of ours), else null. */
export function nextHopFamily(prefix: string): NextHopFamily | null {
  const slash = prefix.indexOf('/');
  const len = prefix.slice(slash + 1);
  if (len === '32' && prefix.startsWith('198.1')) return cidrContains(NEXT_HOP_CIDRS.v4, parseIp(prefix.slice(0, slash))) ? 'v4' : null;
  if (len === '128' && prefix.startsWith('2001:2:')) return cidrContains(NEXT_HOP_CIDRS.v6, parseIp(prefix.slice(0, slash))) ? 'v6' : null;
  return null;
}

/** A prefix that overlaps a next-hop block: refused as a peer's allowed IP (the driver could not tell it from a next hop). */
export function overlapsNextHops(prefix: string): boolean {
  const c = parseCidr(prefix);
  return (Object.keys(NEXT_HOP_CIDRS) as NextHopFamily[]).some((f) => {
    const block = NEXT_HOP_CIDRS[f];
    return c.address.family === block.address.family && (cidrContains(block, c.address) || cidrContains(c, block.address));
  });
}

/** The family whose next hop a route to `prefix` goes via. */
export function familyOf(prefix: string): NextHopFamily {
  return prefix.includes(':') ? 'v6' : 'v4';
}

/** What VPP gets as the peer's allowed IPs: its own prefixes and its next hops. */
export function vppAllowedIps(allowedIps: readonly string[], nextHops: NextHops): string[] {
  return [...allowedIps, ...(nextHops.v4 ? [`${nextHops.v4}/32`] : []), ...(nextHops.v6 ? [`${nextHops.v6}/128`] : [])];
}

/** The next-hop families a peer with these prefixes needs: IPv4 always (also the placeholder of a peer without prefixes), IPv6 when it has IPv6 prefixes. */
export function neededFamilies(allowedIps: readonly string[]): NextHopFamily[] {
  return allowedIps.some((p) => p.includes(':')) ? ['v4', 'v6'] : ['v4'];
}

/** Hands out next-hop addresses, each to one peer; rebuilt from VPP's peers (their allowed IPs) after a dump. */
export class NextHopPool {
  private readonly used = { v4: new Set<number>(), v6: new Set<number>() };
  private readonly free = { v4: [] as number[], v6: [] as number[] };
  private readonly next = { v4: 1, v6: 1 };

  take(family: NextHopFamily): string {
    let i = this.free[family].pop();
    while (i !== undefined && this.used[family].has(i)) i = this.free[family].pop();
    if (i === undefined) {
      while (this.used[family].has(this.next[family])) this.next[family]++;
      i = this.next[family]++;
    }
    if (i > NEXT_HOP_COUNT[family]) throw new Error(`no next-hop address left in ${NEXT_HOP_BLOCKS[family]}`);
    this.used[family].add(i);
    return addressAt(family, i);
  }

  /** Marks an address VPP has (from a dump) as used. */
  hold(family: NextHopFamily, address: string): void {
    this.used[family].add(indexOf(family, address));
  }

  release(family: NextHopFamily, address: string): void {
    const i = indexOf(family, address);
    if (this.used[family].delete(i)) this.free[family].push(i);
  }

  clear(): void {
    for (const f of ['v4', 'v6'] as const) {
      this.used[f].clear();
      this.free[f].length = 0;
      this.next[f] = 1;
    }
  }
}

function addressAt(family: NextHopFamily, i: number): string {
  const bytes = Uint8Array.from(NEXT_HOP_CIDRS[family].address.bytes);
  for (let k = bytes.length - 1, n = i; n > 0 && k >= 0; k--, n = Math.floor(n / 256)) bytes[k] += n % 256;
  return formatIp({ family: family === 'v4' ? 4 : 6, bytes });
}

function indexOf(family: NextHopFamily, address: string): number {
  const a = parseIp(address).bytes;
  const base = NEXT_HOP_CIDRS[family].address.bytes;
  let n = 0;
  for (let k = family === 'v4' ? 0 : 12; k < a.length; k++) n = n * 256 + (a[k] - base[k]);
  return n;
}

/**
 * The next hop of a device route (--route prefixes): the prefix's own address (its network
 * address for a shorter prefix), bound by VPP to a peer whose allowed IPs cover it.
 */
export function routeNextHop(prefix: string): string {
  const slash = prefix.indexOf('/');
  if (prefix.endsWith('/32') && !prefix.includes(':')) return prefix.slice(0, slash);
  return formatIp(parseCidr(prefix).address);
}

/**
 * Approximate "latest handshake" (unix seconds) for a peer VPP reports as ESTABLISHED. VPP's
 * API has no handshake time, only the flag, which stays set while the session keys are valid
 * (VPP clears it when they expire with no new handshake, REJECT_AFTER_TIME × 3 = 540 s). While
 * the flag holds, WireGuard re-handshakes every REKEY_AFTER_TIME (120 s) on an active session,
 * so we report the time the driver first saw the flag, moved forward to the latest 120 s step
 * of the wall clock: "within the last two minutes", stable between steps (so state reports do
 * not change every second), 0 when not established.
 */
export const REKEY_AFTER_TIME_S = 120;
export function approximateHandshake(firstSeenSec: number | undefined, nowSec: number): number {
  if (firstSeenSec === undefined) return 0;
  return Math.max(firstSeenSec, Math.floor(nowSec / REKEY_AFTER_TIME_S) * REKEY_AFTER_TIME_S);
}

export function toPeerState(e: VppPeerEntry, latestHandshake: number): PeerState {
  // VPP's WireGuard API has no per-peer byte counters: 0 (documented in the README).
  return { publicKey: e.publicKey, endpoint: e.endpoint, allowedIps: [...e.allowedIps], latestHandshake, rxBytes: 0, txBytes: 0, persistentKeepalive: e.persistentKeepalive };
}

/** "gTi0pTEJ…": enough of a key to tell peers apart in a message. */
export function shortKey(publicKey: string): string {
  return `${publicKey.slice(0, 8)}…`;
}

/**
 * Who needs a route through the wg interface: prefix → owners in the order they came (peer
 * keys, or SPEC_OWNER for the device's --route prefixes). The route goes via the first owner's
 * next hop: it is added when the prefix gets its first owner, moved when that owner goes and
 * another remains, removed when the last goes.
 */
export const SPEC_OWNER = '(device route)';
export type RouteRelease = 'kept' | 'moved' | 'removed';
export class RouteOwners {
  private readonly owners = new Map<string, string[]>();

  /** True when `prefix` had no owner before (its route must be added). */
  acquire(prefix: string, owner: string): boolean {
    const list = this.owners.get(prefix);
    if (list) {
      if (!list.includes(owner)) list.push(owner);
      return false;
    }
    this.owners.set(prefix, [owner]);
    return true;
  }

  /** What the route must do now that `owner` no longer needs `prefix`. */
  release(prefix: string, owner: string): RouteRelease {
    const list = this.owners.get(prefix);
    const i = list?.indexOf(owner) ?? -1;
    if (!list || i < 0) return 'kept';
    list.splice(i, 1);
    if (list.length === 0) {
      this.owners.delete(prefix);
      return 'removed';
    }
    return i === 0 ? 'moved' : 'kept';
  }

  /** The owner whose next hop the route goes via. */
  primary(prefix: string): string | undefined {
    return this.owners.get(prefix)?.[0];
  }

  has(prefix: string): boolean {
    return this.owners.has(prefix);
  }

  prefixes(): string[] {
    return [...this.owners.keys()];
  }

  clear(): void {
    this.owners.clear();
  }
}

/** One VPP call of an apply or ensureDevice that failed. */
export interface VppCallFailure {
  call: string;
  /** VPP's negative retval; null when the call failed otherwise (timeout, connection, encoding). */
  retval: number | null;
  /** VNET_API_ERROR name, when known. */
  code: string | null;
  /** What was being done, e.g. "adding peer gTi0pTEJ… (endpoint 10.10.0.9:51820, allowed 10.100.0.9/32)". */
  what: string;
  message: string;
}

export function callFailure(call: string, what: string, err: Error): VppCallFailure {
  if (err instanceof VppRetvalError) {
    const code = err.code ?? null;
    return { call: err.call, retval: err.retval, code, what, message: `${err.call} returned retval ${err.retval}${code ? ` (${code})` : ''} while ${what}` };
  }
  return { call, retval: null, code: null, what, message: `${call} failed while ${what}: ${err.message}` };
}

/** An apply (or device set-up) that VPP refused in part: names every failed call, its retval and what it was for. */
export class VppApplyError extends Error {
  override readonly name = 'VppApplyError';
  constructor(
    readonly device: string,
    readonly failures: VppCallFailure[],
  ) {
    const more = failures.length > 1 ? `; ${failures.length - 1} more failed: ${failures.slice(1, 4).map((f) => f.message).join('; ')}${failures.length > 4 ? '; …' : ''}` : '';
    super(`vpp ${device}: ${failures[0].message}${more}`);
  }
}

/** The VPP interface exists with settings VPP cannot change in place (key, port, source address). */
export class VppDeviceMismatchError extends Error {
  override readonly name = 'VppDeviceMismatchError';
}
