import { percentile } from './dnsperf';

/**
 * The NAT path benchmark's pure parts: reading `ping -D` lines (whose TTL tells the path) and
 * printing the table.
 *
 * Inside the tunnel a direct reply arrives with the TTL the other member sent it with (64); a
 * relayed one was routed once by the registry (which decrypts, forwards and encrypts again), so it
 * arrives with 63. The NAT routers on the way forward only the outer UDP packets.
 */
export interface PingReply {
  /** ms since the epoch, from ping -D (microsecond precision). */
  at: number;
  seq: number;
  ttl: number;
}

/** The TTL of a reply that came straight from the other member, and of one the registry relayed. */
export const DIRECT_TTL = 64;
export const RELAYED_TTL = 63;

/** `[1764046123.123456] 1008 bytes from 10.99.0.7: icmp_seq=3 ttl=63 time=1.23 ms` → reply; anything else → undefined. */
export function parsePingLine(line: string): PingReply | undefined {
  const m = /^\[(\d+\.\d+)\] \d+ bytes from [\d.]+: icmp_seq=(\d+) ttl=(\d+)/.exec(line.trim());
  if (!m) return undefined;
  return { at: Number(m[1]) * 1000, seq: Number(m[2]), ttl: Number(m[3]) };
}

export interface DirectRun {
  member: string;
  /** From the member's "enrolled" log line to the first reply through the direct tunnel (TTL 64). */
  enrolledToDirectMs: number;
  /** From its `member up` start (spawn) to that reply. */
  startToDirectMs: number;
  /** From "enrolled" to the handshake on both devices (the later one, from their UAPI, ns precision). */
  enrolledToHandshakeMs: number;
}

export interface RelayRun {
  member: string;
  /** From "enrolled" to the first reply through the relay (TTL 63). */
  enrolledToRelayMs: number;
  /** From "enrolled" to the relay for good: the reply after the last lost ping (see steadyReply). */
  enrolledToSteadyRelayMs: number;
  /** From the leader's attempt decision ("relayed while trying direct") to the relay for good. */
  attemptToSteadyRelayMs: number;
  /** The longest time without a reply after the first one (e.g. a direct route without a handshake while a NAT is not classified). */
  longestGapMs: number;
  /** From the attempt decision to the relayed decision ("no handshake in Ns on direct"): the fallback. */
  attemptToRelayedMs: number;
  /** From "enrolled" to the relayed decision. */
  enrolledToRelayedMs: number;
}

/**
 * The first reply after which no ping was lost (replies by sequence number; the pings still in
 * flight at the end are not counted as lost): where the path became steady.
 */
export function steadyReply(replies: readonly PingReply[]): PingReply | undefined {
  if (replies.length === 0) return undefined;
  const bySeq = [...replies].sort((a, b) => a.seq - b.seq);
  const seen = new Set(bySeq.map((r) => r.seq));
  let lastLost = 0;
  for (let seq = 1; seq < bySeq[bySeq.length - 1].seq; seq++) if (!seen.has(seq)) lastLost = seq;
  return bySeq.find((r) => r.seq > lastLost);
}

/** The longest time between two consecutive replies (by arrival). */
export function longestGap(replies: readonly PingReply[]): number {
  const at = replies.map((r) => r.at).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i] - at[i - 1]);
  return gap;
}

export interface PredictRun {
  member: string;
  /** From "enrolled" to the first reply through the direct tunnel from the eim member; null: none in time (prediction failed). */
  eimSeqMs: number | null;
  /** The same from the other member behind a sequential NAT. */
  seqSeqMs: number | null;
}

export interface NatBenchResult {
  deadlineS: number;
  natIntervalS: number;
  direct: DirectRun[];
  relay: RelayRun[];
  predict?: PredictRun[];
  /** `uptime`-style load averages before and after. */
  load: { before: number[]; after: number[] };
  cpus: number;
}

function stat(xs: number[]): string[] {
  const s = [...xs].sort((a, b) => a - b);
  return [percentile(s, 50), percentile(s, 99), s[s.length - 1]].map((v) => (Number.isNaN(v) ? '-' : v < 10 ? v.toFixed(1) : v.toFixed(0)));
}

/** p50/p99/max of each interval, with the goal and how many runs met it. */
export function formatNatReport(r: NatBenchResult): string {
  const goal = (xs: number[], limitMs: number) => `< ${limitMs} ms: ${xs.filter((x) => x < limitMs).length}/${xs.length}`;
  const deadline = r.deadlineS * 1000;
  const d = r.direct;
  const f = r.relay;
  const rows: string[][] = [];
  if (d.length > 0) {
    rows.push(['eim+eim: enrolled → first packet through the direct tunnel', ...stat(d.map((x) => x.enrolledToDirectMs)), goal(d.map((x) => x.enrolledToDirectMs), 1000)]);
    rows.push(['eim+eim: enrolled → handshake on both devices', ...stat(d.map((x) => x.enrolledToHandshakeMs)), '']);
    rows.push(['eim+eim: member up started → first direct packet', ...stat(d.map((x) => x.startToDirectMs)), '']);
  }
  if (f.length > 0) {
    rows.push(['eim+edm: enrolled → first packet through the relay', ...stat(f.map((x) => x.enrolledToRelayMs)), '']);
    rows.push(['eim+edm: longest gap in the replies after it', ...stat(f.map((x) => x.longestGapMs)), '']);
    rows.push(['eim+edm: enrolled → relay for good (no ping lost after)', ...stat(f.map((x) => x.enrolledToSteadyRelayMs)), goal(f.map((x) => x.enrolledToSteadyRelayMs), deadline + 1000)]);
    rows.push(['eim+edm: attempt decided → relay for good', ...stat(f.map((x) => x.attemptToSteadyRelayMs)), '']);
    rows.push(['eim+edm: attempt decided → relayed decision (fallback)', ...stat(f.map((x) => x.attemptToRelayedMs)), goal(f.map((x) => x.attemptToRelayedMs), deadline + 1000)]);
    rows.push(['eim+edm: enrolled → relayed decision', ...stat(f.map((x) => x.enrolledToRelayedMs)), goal(f.map((x) => x.enrolledToRelayedMs), deadline + 1000)]);
  }
  const p = r.predict ?? [];
  for (const [label, key] of [['eim+seq', 'eimSeqMs'], ['seq+seq', 'seqSeqMs']] as const) {
    if (p.length === 0) continue;
    const ok = p.map((x) => x[key]).filter((x): x is number => x !== null);
    rows.push([`${label}: enrolled → first packet through the direct tunnel (port prediction)`, ...stat(ok), `direct: ${ok.length}/${p.length}`]);
  }
  const all = [['interval', 'p50 ms', 'p99 ms', 'max ms', 'goal'], ...rows];
  const widths = all[0].map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const table = all.map((row) => row.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd());
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  return [
    `NAT paths in the lab: the second member of a pair enrolls while the first (behind an eim NAT) runs; ${d.length} eim+eim runs, ${f.length} eim+edm runs, ${p.length} seq runs (paired with an eim and a seq member); --path-deadline ${r.deadlineS} s, --nat-interval ${r.natIntervalS} s`,
    `load average ${load(r.load.before)} before, ${load(r.load.after)} after (${r.cpus} CPUs)`,
    ...table,
  ].join('\n');
}
