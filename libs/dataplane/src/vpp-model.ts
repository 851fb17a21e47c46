import type { DesiredPeer, PeerState } from '@wgmesh/contracts';
import { canonicalCidr, formatEndpoint, formatIp, parseCidr, parseEndpoint, parseIp } from '@wgmesh/netaddr';
import { VppRetvalError, WireguardPeer } from '@wgmesh/vpp-api';

// Between the contracts' peer model and VPP's wireguard_peer messages, and the bookkeeping the
// vpp driver keeps (no I/O here). Used by vpp-driver.ts.

/** A peer of our interface as VPP has it, by public key (base64). */
export interface VppPeerEntry {
  peerIndex: number;
  publicKey: string;
  /** "ip:port"; null when VPP has none (0.0.0.0 port 0). */
  endpoint: string | null;
  /** Canonical prefixes. */
  allowedIps: string[];
  persistentKeepalive: number;
}

/** What a peer should be on VPP (the desired peer, with a null endpoint resolved). */
export interface VppPeerWant {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  persistentKeepalive: number;
}

export function entryFromDump(p: WireguardPeer): VppPeerEntry {
  return {
    peerIndex: p.peerIndex,
    publicKey: p.publicKey.toString('base64'),
    endpoint: endpointText(p.endpoint, p.port),
    allowedIps: p.allowedIps.map(canonicalPrefix),
    persistentKeepalive: p.persistentKeepalive,
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
 * The next hop of a peer's route: the allowed IP itself (its network address for a shorter
 * prefix), as VPP needs it (README: "route through the wg interface with next hop = that IP").
 * VPP resolves that next hop to the peer whose allowed IPs contain it.
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
 * Who needs a route through the wg interface: prefix → owners (peer keys, or SPEC_OWNER for the
 * device's --route prefixes). A route is added when its first owner comes and removed when its
 * last goes, so two owners of one prefix never remove each other's route.
 */
export const SPEC_OWNER = '(device route)';
export class RouteOwners {
  private readonly owners = new Map<string, Set<string>>();

  /** True when `prefix` had no owner before (its route must be added). */
  acquire(prefix: string, owner: string): boolean {
    const set = this.owners.get(prefix);
    if (set) {
      set.add(owner);
      return false;
    }
    this.owners.set(prefix, new Set([owner]));
    return true;
  }

  /** True when `owner` was the last owner of `prefix` (its route must be removed). */
  release(prefix: string, owner: string): boolean {
    const set = this.owners.get(prefix);
    if (!set || !set.delete(owner)) return false;
    if (set.size > 0) return false;
    this.owners.delete(prefix);
    return true;
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
