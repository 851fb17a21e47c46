import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NatReport, parseNatReport, parsePathReport, PathDecision, PathReport, PeerState } from '@wgmesh/contracts';
import { LabError } from './errors';
import type { Lab } from './lab';
import { LogFile, logMessage } from './mesh-log';
import { PairDecision, pairDecision, PairEnd, PairProbe, PairRow, pairRow, pairsOf, pathTtl } from './mesh-pairs';
import type { LabProcess } from './process';

/**
 * What the pair checks read of a running mesh: its members, their device peers, a ping between
 * them and the watched path reports. `Mesh` (mesh.ts) is one; the interface keeps this file from
 * importing mesh.ts, which imports this one.
 */
export interface PairSource {
  readonly lab: Pick<Lab, 'ping'>;
  readonly paths: Pick<PathWatch, 'reports'>;
  memberNames(): string[];
  member(name: string): { publicKey: string; address: string; enrolledAt: number; host: { dataplane?: string } };
  devicePeers(name: string): Promise<Map<string, PeerState>>;
}

/**
 * The pair table from the members' own decisions: each member's nat-probe publishes its path
 * decisions (`node.<id>.paths`) and NAT (`node.<id>.nat`) on the mesh's NATS, which listens in the
 * registry's namespace; a small watcher there (paths-watch.ts) writes them to a file that this
 * side reads. Pings between the tunnel addresses, with the devices' counters read before and
 * after, show whether the tunnel agrees with each decision (see mesh-pairs.ts).
 */

const WORKSPACE = resolve(__dirname, '../../..');
const WATCHER = join(__dirname, 'paths-watch.ts');

/** The pings of a pair check: 3 echoes of 1000 bytes, 20 ms apart; a missing reply is waited for 0.5 s. */
export const PAIR_PING = { count: 3, intervalMs: 20, size: 1000, timeoutMs: 500 } as const;
/** Pairs pinged at once. */
const PING_CONCURRENCY = 8;

export interface WatchedEvent<T> {
  /** When the watcher received it (ms since the epoch). */
  at: number;
  report: T;
  /** "get": a `paths.get` reply at the watcher's start, not an event. */
  source?: 'get';
}

/** The members' path reports and NAT reports, as the watcher in the registry's namespace received them. */
export class PathWatch {
  readonly paths: Array<WatchedEvent<PathReport>> = [];
  readonly nats: Array<WatchedEvent<NatReport>> = [];
  private read = 0;

  private constructor(
    readonly log: LogFile,
    readonly process: LabProcess,
  ) {}

  /** Starts the watcher in the registry's namespace (NATS must be up); resolves once it subscribed. */
  static async start(lab: Lab, o: { host?: string; logDir: string; nats: string; mesh: string; nodes: string[]; creds?: string; timeoutMs: number }): Promise<PathWatch> {
    const path = join(o.logDir, 'paths-watch.log');
    const args = [
      '-r', join(WORKSPACE, 'bin/register.js'), WATCHER, '--nats', o.nats, '--mesh', o.mesh,
      ...(o.creds && existsSync(o.creds) ? ['--creds', o.creds] : []), ...o.nodes.flatMap((n) => ['--node', n]),
    ];
    const proc = lab.spawn(o.host ?? 'registry', 'sh', ['-c', 'exec "$@" >>"$LAB_LOG_FILE" 2>&1', 'sh', process.execPath, ...args], { LAB_LOG_FILE: path }, { cwd: WORKSPACE });
    const log = new LogFile(path, 'paths-watch (registry)');
    await log.waitFor(logMessage('watching'), { process: proc, timeoutMs: o.timeoutMs });
    return new PathWatch(log, proc);
  }

  /** Reads what arrived since the last call. */
  poll(): void {
    this.log.poll();
    for (; this.read < this.log.entries.length; this.read++) {
      const e = this.log.entries[this.read];
      if (e.json?.msg === 'paths') this.paths.push({ at: e.at, report: parsePathReport(e.json.report), ...(e.json.source === 'get' ? { source: 'get' as const } : {}) });
      else if (e.json?.msg === 'nat') this.nats.push({ at: e.at, report: parseNatReport(e.json.report) });
    }
  }

  /** Each node's latest path report (by the report's own time). */
  reports(): Map<string, PathReport> {
    this.poll();
    const out = new Map<string, PathReport>();
    for (const { report } of this.paths) if ((out.get(report.node)?.at ?? -1) <= report.at) out.set(report.node, report);
    return out;
  }

  /** Each node's latest NAT report. */
  natReports(): Map<string, NatReport> {
    this.poll();
    const out = new Map<string, NatReport>();
    for (const { report } of this.nats) if ((out.get(report.node)?.at ?? -1) <= report.at) out.set(report.node, report);
    return out;
  }

  /**
   * Every distinct decision `from` published about `to`, in order, with when the watcher first
   * saw it (repeats of the same decision, in the whole reports printed after each update, are left out).
   */
  decisions(from: string, toPublicKey: string): Array<PathDecision & { at: number }> {
    this.poll();
    const out: Array<PathDecision & { at: number }> = [];
    for (const { at, report } of this.paths) {
      if (report.node !== from) continue;
      const d = report.decisions.find((x) => x.peer === toPublicKey);
      if (!d) continue;
      const last = out.at(-1);
      if (last && last.path === d.path && last.attempt === d.attempt && last.reason === d.reason && last.since === d.since && last.technique === d.technique) continue;
      out.push({ ...d, at });
    }
    return out;
  }
}

/** A pair key: "a-b". */
const key = (a: string, b: string) => `${a}-${b}`;

function endOf(mesh: PairSource, name: string): PairEnd {
  return { name, publicKey: mesh.member(name).publicKey };
}

/** Each member's device peers (`wg show dump`), by member name. */
async function dumps(mesh: PairSource, names: readonly string[]): Promise<Map<string, Map<string, PeerState>>> {
  return new Map(await Promise.all(names.map(async (n) => [n, await mesh.devicePeers(n)] as const)));
}

/**
 * Pings each pair (a → b's tunnel address) with the devices read before and after. Pairs are
 * pinged at once (up to 8): a's entry for b counts only this pair's direct traffic, so they do not
 * disturb each other's verdict.
 */
export async function probePairs(mesh: PairSource, pairs: ReadonlyArray<readonly [string, string]>): Promise<Map<string, PairProbe>> {
  const names = [...new Set(pairs.flat())];
  const vpp = (n: string) => mesh.member(n).host.dataplane === 'vpp';
  const before = await dumps(mesh, names);
  const pings = new Map<string, Awaited<ReturnType<Lab['ping']>>>();
  const back = new Map<string, Awaited<ReturnType<Lab['ping']>>>();
  for (let i = 0; i < pairs.length; i += PING_CONCURRENCY) {
    await Promise.all(
      pairs.slice(i, i + PING_CONCURRENCY).map(async ([a, b]) => {
        // A VPP end has no per-peer counters: ping the other way too, and read both ways' TTLs.
        const [there, other] = await Promise.all([mesh.lab.ping(a, mesh.member(b).address, PAIR_PING), vpp(a) || vpp(b) ? mesh.lab.ping(b, mesh.member(a).address, PAIR_PING) : undefined]);
        pings.set(key(a, b), there);
        if (other) back.set(key(a, b), other);
      }),
    );
  }
  const after = await dumps(mesh, names);
  const nowSeconds = Math.floor(Date.now() / 1000);
  const entries = (d: Map<string, Map<string, PeerState>>, a: string, b: string) => ({ aToB: d.get(a)!.get(mesh.member(b).publicKey), bToA: d.get(b)!.get(mesh.member(a).publicKey) });
  return new Map(
    pairs.map(([a, b]) => {
      const reverse = back.get(key(a, b));
      const probe: PairProbe = { ping: pings.get(key(a, b))!, size: PAIR_PING.size, before: entries(before, a, b), after: entries(after, a, b), nowSeconds };
      if (reverse) probe.ttl = { direct: pathTtl(vpp(a), vpp(b)), there: reverse.ttls, back: probe.ping.ttls };
      return [key(a, b), probe];
    }),
  );
}

/** Every pair of the running members, now: decision, ping, verdict (settled or not). */
export async function meshPairTable(mesh: PairSource, names = mesh.memberNames()): Promise<PairRow[]> {
  const pairs = pairsOf(names);
  const probes = await probePairs(mesh, pairs);
  const reports = mesh.paths.reports();
  return pairs.map(([a, b]) => pairRow(endOf(mesh, a), endOf(mesh, b), pairDecision(endOf(mesh, a), endOf(mesh, b), reports), probes.get(key(a, b))));
}

export interface WaitForPathsOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Members whose pairs to wait for; default every running member. */
  names?: string[];
  /** A further condition for a settled pair (e.g. `(r) => !r.attempt` to wait for attempts to end). */
  until?: (row: PairRow) => boolean;
}

export interface PathsConvergence {
  /** One row per pair, each as it was when it settled. */
  rows: PairRow[];
  /** From the last member's enrolment to the last pair settling. */
  convergeMs: number;
  lastEnrolledAt: number;
  /** When each pair settled ("a-b" → ms since the epoch). */
  settledAt: Record<string, number>;
}

/**
 * Waits until every pair is settled (see PairRow.settled, and `until`): both ends apply the
 * leader's decision with both NATs known, direct pairs handshake and ping directly, relayed ones
 * answer through the registry. Pairs whose decision is still open (not known NATs, the follower
 * lagging) are not pinged; a settled pair whose decision changes is checked again. Rejects after
 * `timeoutMs` with each pair's state.
 */
export async function waitForPaths(mesh: PairSource, o: WaitForPathsOptions = {}): Promise<PathsConvergence> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const names = o.names ?? mesh.memberNames();
  const pairs = pairsOf(names);
  const lastEnrolledAt = Math.max(...names.map((n) => mesh.member(n).enrolledAt));
  const settled = new Map<string, { row: PairRow; fingerprint: string; at: number }>();
  const latest = new Map<string, PairRow>();
  const deadline = Date.now() + timeoutMs;
  const decide = (a: string, b: string) => pairDecision(endOf(mesh, a), endOf(mesh, b), mesh.paths.reports());
  const fingerprint = (d: PairDecision | { pending: string }) => ('fingerprint' in d && d.pending === null ? d.fingerprint : null);
  for (;;) {
    for (const [a, b] of pairs) {
      const s = settled.get(key(a, b));
      if (s && fingerprint(decide(a, b)) !== s.fingerprint) settled.delete(key(a, b));
    }
    const open = pairs.filter(([a, b]) => !settled.has(key(a, b)));
    if (open.length === 0) break;
    const ready = open.filter(([a, b]) => fingerprint(decide(a, b)) !== null);
    const readyKeys = new Set(ready.map(([a, b]) => key(a, b)));
    for (const [a, b] of open) if (!readyKeys.has(key(a, b))) latest.set(key(a, b), pairRow(endOf(mesh, a), endOf(mesh, b), decide(a, b)));
    if (ready.length > 0) {
      const before = new Map(ready.map(([a, b]) => [key(a, b), fingerprint(decide(a, b))]));
      const probes = await probePairs(mesh, ready);
      const at = Date.now();
      for (const [a, b] of ready) {
        const d = decide(a, b);
        const row = pairRow(endOf(mesh, a), endOf(mesh, b), d, probes.get(key(a, b)));
        latest.set(key(a, b), row);
        const fp = fingerprint(d);
        if (row.settled && fp !== null && fp === before.get(key(a, b)) && (o.until?.(row) ?? true)) settled.set(key(a, b), { row, fingerprint: fp, at });
      }
    }
    if (pairs.every(([a, b]) => settled.has(key(a, b)))) break;
    if (Date.now() > deadline) {
      const waiting = pairs.filter(([a, b]) => !settled.has(key(a, b))).map(([a, b]) => `  ${a}-${b}: ${latest.get(key(a, b))?.reason ?? 'not checked'}`);
      throw new LabError(`the pairs did not settle within ${timeoutMs} ms:\n${waiting.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, ready.length > 0 ? 20 : 50));
  }
  const rows = pairs.map(([a, b]) => settled.get(key(a, b))!.row);
  const settledAt = Object.fromEntries(pairs.map(([a, b]) => [key(a, b), settled.get(key(a, b))!.at]));
  const lastAt = Math.max(lastEnrolledAt, ...Object.values(settledAt));
  return { rows, convergeMs: pairs.length === 0 ? 0 : lastAt - lastEnrolledAt, lastEnrolledAt, settledAt };
}
