import type { PathReport, PeerState } from '@wgmesh/contracts';
import { leads } from '@wgmesh/nat-probe';
import { RECENT_HANDSHAKE_SECONDS } from '@wgmesh/peer-discovery';
import type { PingResult } from './exec';
import type { MemberNat } from './plan';

/**
 * The pair table (pure: reading the members' path decisions, checking them against what a ping
 * through the tunnel showed, printing the table). mesh-paths.ts gathers the decisions, device
 * peers (`wg show dump`, read by libs/wireguard's parseWgDump) and pings; this file only interprets.
 */

export type PairPath = 'direct' | 'relayed';

/** What the tunnel showed for a pair's ping: through the direct peer, through the registry, part each, or no reply. */
export type ObservedPath = 'direct' | 'relayed' | 'mixed' | null;

/** One pair of members, as `wgmesh lab up` prints it. */
export interface PairRow {
  a: string;
  b: string;
  /** The members' decision (nat-probe); relayed when there is none yet. */
  path: PairPath;
  /** Why, from the decision ("direct: both endpoint-independent (decided by a)"), plus what disagrees with it. */
  reason: string;
  /** Average round trip of the pings between the tunnel addresses; null when no reply came back. */
  rttMs: number | null;
  /** The decision is relayed while a direct attempt runs (peer configured without routes). */
  attempt: boolean;
  /** The pair's leader (smaller public key), whose decision both ends apply; null without one. */
  decidedBy: string | null;
  /** Where the ping went, from the devices' counters (see observePair). */
  observed: ObservedPath;
  /**
   * Both ends apply the same decision, taken with both NATs known, and the tunnel agrees: direct
   * pairs have fresh handshakes on both devices and their ping went direct; relayed ones answered
   * through the registry.
   */
  settled: boolean;
}

/** One end of a pair: its name and public key. */
export interface PairEnd {
  name: string;
  publicKey: string;
}

/** The leader's decision about a pair, and whether the other end applies it. */
export interface PairDecision {
  path: PairPath;
  attempt: boolean;
  /** The leader's reason, with "(decided by <leader>)" as the follower shows it. */
  reason: string;
  decidedBy: string;
  /** The leader's decision, for comparing two readings ("path|attempt|since"). */
  fingerprint: string;
  /** What keeps it from being settled: the follower has not copied it, a NAT is not known yet. */
  pending: string | null;
}

/**
 * The pair's decision from both ends' path reports (nat-probe's `node.<id>.paths`): the leader
 * (smaller public key, nat-probe's `leads`) decides, the other end copies it; null when neither
 * end has published one about the other yet.
 */
export function pairDecision(a: PairEnd, b: PairEnd, reports: ReadonlyMap<string, PathReport>): PairDecision | { pending: string } {
  const [leader, follower] = leads(a.publicKey, b.publicKey) ? [a, b] : [b, a];
  const about = (from: PairEnd, to: PairEnd) => reports.get(from.name)?.decisions.find((d) => d.peer === to.publicKey);
  const dl = about(leader, follower);
  const df = about(follower, leader);
  if (!dl) {
    const none = (e: PairEnd) => (reports.has(e.name) ? `${e.name} has no decision about ${e === a ? b.name : a.name}` : `no path report from ${e.name}`);
    return { pending: `no decision yet: ${none(leader)}${df ? '' : `, ${none(follower)}`}` };
  }
  const reason = `${dl.reason} (decided by ${leader.name})`;
  let pending: string | null = null;
  if (/is not known yet/.test(dl.reason)) pending = 'a NAT is not classified yet';
  else if (!df) pending = `${follower.name} has not published a decision about ${leader.name}`;
  else if (df.path !== dl.path || df.attempt !== dl.attempt || df.since !== dl.since) pending = `${follower.name} still applies "${df.reason}"`;
  return { path: dl.path, attempt: dl.attempt, reason, decidedBy: leader.name, fingerprint: `${dl.path}|${dl.attempt}|${dl.since}`, pending };
}

/** What one ping between a pair's tunnel addresses showed, with a's device entry for b and b's for a. */
export interface PairProbe {
  ping: PingResult;
  /** ICMP payload bytes of each echo (the IP packet is 28 bytes more). */
  size: number;
  /** a's entry for b and b's entry for a, before and after the ping (undefined: no entry). */
  before: { aToB?: PeerState; bToA?: PeerState };
  after: { aToB?: PeerState; bToA?: PeerState };
  nowSeconds: number;
  /**
   * For a pair with a VPP end (VPP has no per-peer counters): the TTLs of the replies to a ping
   * b → a (`there`: packets a → b) and to the ping a → b (`back`: b → a), and the TTL a packet
   * has when it went direct (see pathTtl).
   */
  ttl?: { direct: number; there: number[]; back: number[] };
}

/**
 * The TTL of a packet between two members' hosts that went direct: 64, less one for each VPP on
 * the way (a VPP member's host sends through its VPP, which routes it into WireGuard; VPP at the
 * other end routes it to its host). Through the registry it is one less: the registry routes
 * it from one tunnel to the other.
 */
export function pathTtl(aIsVpp: boolean, bIsVpp: boolean): number {
  return 64 - (aIsVpp ? 1 : 0) - (bIsVpp ? 1 : 0);
}

/**
 * Where the ping went. a's device sends to b's tunnel address through the peer whose allowed IPs
 * hold it: b's own entry (direct) or the registry's mesh-CIDR route (relayed); so does b for the
 * replies. The direct entries' counters tell which: both carried the echoes (tx on a's side at
 * least every request, rx at least every reply) → direct; neither carried a single packet's worth
 * → relayed through the registry; otherwise mixed (e.g. one end routes direct, the other not).
 */
export function observePair(p: PairProbe): ObservedPath {
  if (!p.ping.ok) return null;
  if (p.ttl) return observeByTtl(p.ttl);
  const packet = p.size + 28;
  const delta = (k: 'rxBytes' | 'txBytes', e: 'aToB' | 'bToA') => (p.after[e]?.[k] ?? 0) - (p.before[e]?.[k] ?? 0);
  const requestsDirect = delta('txBytes', 'aToB') >= p.ping.sent * packet;
  const repliesDirect = delta('rxBytes', 'aToB') >= p.ping.received * packet;
  if (requestsDirect && repliesDirect) return 'direct';
  if (delta('txBytes', 'aToB') < packet && delta('rxBytes', 'aToB') < packet) return 'relayed';
  return 'mixed';
}

/** Where both directions went by the replies' TTLs: all direct, all one router more (the registry), else mixed. */
function observeByTtl(t: NonNullable<PairProbe['ttl']>): ObservedPath {
  const all = [...t.there, ...t.back];
  if (t.there.length === 0 || t.back.length === 0) return 'mixed';
  if (all.every((x) => x === t.direct)) return 'direct';
  if (all.every((x) => x === t.direct - 1)) return 'relayed';
  return 'mixed';
}

/** Both devices have a handshake with the other in the last 180 s. */
export function freshHandshakes(p: Pick<PairProbe, 'after' | 'nowSeconds'>): { a: boolean; b: boolean } {
  const fresh = (e?: PeerState) => e !== undefined && e.latestHandshake > 0 && p.nowSeconds - e.latestHandshake <= RECENT_HANDSHAKE_SECONDS;
  return { a: fresh(p.after.aToB), b: fresh(p.after.bToA) };
}

/**
 * A pair's row: the decision, and whether the tunnel agrees with it (flagged in the reason when
 * not). Without a probe (not pinged yet) the pair is not settled.
 */
export function pairRow(a: PairEnd, b: PairEnd, decision: PairDecision | { pending: string }, probe?: PairProbe): PairRow {
  const observed = probe ? observePair(probe) : null;
  const rttMs = probe?.ping.ok && probe.ping.rttMs !== undefined ? probe.ping.rttMs : null;
  if (!('path' in decision)) return { a: a.name, b: b.name, path: 'relayed', reason: decision.pending, rttMs, attempt: false, decidedBy: null, observed, settled: false };
  const flags: string[] = [];
  if (decision.pending) flags.push(`not settled: ${decision.pending}`);
  if (!probe) flags.push('not pinged yet');
  else if (!probe.ping.ok) flags.push('but no ping reply');
  else if (decision.path === 'direct') {
    const hs = freshHandshakes(probe);
    const stale = [hs.a ? null : a.name, hs.b ? null : b.name].filter(Boolean);
    if (stale.length > 0) flags.push(`but no recent handshake on ${stale.join(' and ')}'s device`);
    if (observed === 'relayed') flags.push('but the ping went through the registry');
    if (observed === 'mixed') flags.push('but only part of the ping went direct');
  } else {
    if (observed === 'direct') flags.push('but the ping did not go through the registry');
    if (observed === 'mixed') flags.push('but part of the ping went direct');
  }
  return {
    a: a.name,
    b: b.name,
    path: decision.path,
    reason: flags.length > 0 ? `${decision.reason}; ${flags.join('; ')}` : decision.reason,
    rttMs,
    attempt: decision.attempt,
    decidedBy: decision.decidedBy,
    observed,
    settled: flags.length === 0,
  };
}

/**
 * Whether two members can get a direct tunnel by hole punching in the lab: always, unless one is
 * behind an edm NAT (a random port per destination, so neither the registry-observed port nor a
 * predicted one is any use) and the other is not public. A public member learns an edm member's
 * real port from its first handshake (WireGuard roaming), so that pair works. Behind seq NATs the
 * ports are predicted (port prediction), with eim, seq or public on the other side.
 */
export function expectDirect(a: MemberNat, b: MemberNat): boolean {
  if (a === 'edm') return b === 'public';
  if (b === 'edm') return a === 'public';
  return true;
}

/** The pair table as text: a, b, path, RTT, reason. */
export function formatPairTable(rows: readonly PairRow[]): string {
  const path = (r: PairRow) => (r.attempt ? 'relayed*' : r.path);
  const table = [['A', 'B', 'PATH', 'RTT', 'REASON'], ...rows.map((r) => [r.a, r.b, path(r), r.rttMs === null ? 'no reply' : `${r.rttMs.toFixed(2)} ms`, r.reason])];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = table.map((r) => r.map((c, j) => c.padEnd(widths[j])).join('  ').trimEnd());
  if (rows.some((r) => r.attempt)) lines.push('* relayed while a direct attempt runs (peer configured without routes)');
  return lines.join('\n');
}

/** Every unordered pair of `names`, in order: (a,b), (a,c), …, (b,c), … */
export function pairsOf<T>(items: readonly T[]): Array<[T, T]> {
  const out: Array<[T, T]> = [];
  for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) out.push([items[i], items[j]]);
  return out;
}
