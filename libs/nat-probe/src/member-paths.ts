import type { DataplaneState, NatType, PathDecision, PathReport, PeerRecord } from '@wgmesh/contracts';
import { DEFAULT_PLANNER_OPTIONS, leads, PathPlanner, PlannerOptions, PunchOutcome, TechniqueCounts } from './decide';

/** How long pairs wait for this node's first NAT classification (and its endpoint at the registry) before being decided without. */
export const FIRST_CLASSIFICATION_WAIT_MS = 5000;

export interface MemberPathsOptions {
  self: { publicKey: string; name: string };
  /** The registry's key: never a pair of this node. */
  registryKey: string;
  planner?: PlannerOptions;
  /** When this member started (ms since the epoch): pairs wait FIRST_CLASSIFICATION_WAIT_MS from then. */
  startedAt: number;
}

/** What one planning step asks of the caller. */
export interface MemberPlanStep {
  /** Wake up and plan again then (null: nothing due). */
  nextWakeAt: number | null;
  /** Attempts of led pairs to punch now (each attempt once). */
  punch: PathDecision[];
  /** The decisions that changed (path, attempt or reason) since the last report: to log. Null when the report did not change. */
  changed: PathDecision[] | null;
}

/**
 * A member's path state, without I/O or timers (time comes in as `now`): the device's handshakes,
 * the PathPlanner, the attempts punched, and the report this member publishes on `node.<id>.paths`.
 * nat-probe's member service feeds it (table, NAT, device state, leaders' decisions) and carries
 * out what a step asks (punch, wake up, publish).
 */
export class MemberPaths {
  private readonly handshakes = new Map<string, number>();
  private readonly planner: PathPlanner;
  private report: PathReport | null = null;
  /** The `at` of the last report sent (event or reply): strictly increasing. */
  private lastAt = 0;
  /** Led pairs whose attempt (by its `since`) has been punched or is being punched. */
  private readonly punching = new Map<string, number>();
  private nat: { nat: NatType; portStep?: number } | undefined;

  constructor(private readonly opts: MemberPathsOptions) {
    this.planner = new PathPlanner(opts.planner ?? DEFAULT_PLANNER_OPTIONS);
  }

  /** This node's NAT as last classified (its report carries it; the rules depend on it). */
  classified(nat: { nat: NatType; portStep?: number }): void {
    this.nat = { nat: nat.nat, ...(nat.portStep !== undefined ? { portStep: nat.portStep } : {}) };
  }

  /** This node's device state: the handshake time of each peer. True when any changed (plan again). */
  observe(state: Pick<DataplaneState, 'peers'>): boolean {
    let changed = false;
    const seen = new Set<string>();
    for (const p of state.peers) {
      seen.add(p.publicKey);
      const ms = p.latestHandshake * 1000;
      if (this.handshakes.get(p.publicKey) !== ms) {
        this.handshakes.set(p.publicKey, ms);
        changed = true;
      }
    }
    for (const k of [...this.handshakes.keys()]) {
      if (!seen.has(k)) {
        this.handshakes.delete(k);
        changed = true;
      }
    }
    return changed;
  }

  /**
   * One planning step over the peer table (every member with an endpoint and addresses, but this
   * node and the registry), this node's NAT (`classified`) and the leaders' decisions.
   */
  plan(args: { table: Iterable<PeerRecord>; leaderDecisions: ReadonlyMap<string, PathDecision>; now: number }): MemberPlanStep {
    const { now } = args;
    const me = this.opts.self.publicKey;
    const table = [...args.table];
    const peers = table.filter((p) => p.publicKey !== me && p.publicKey !== this.opts.registryKey && p.endpoint !== null && p.allowedIps.length > 0);
    const ownEndpoint = table.find((p) => p.publicKey === me)?.endpoint;
    const result = this.planner.plan({
      self: { publicKey: me, name: this.opts.self.name, nat: this.nat?.nat, portStep: this.nat?.portStep },
      peers: peers.map((p) => ({ publicKey: p.publicKey, name: p.name, nat: p.nat })),
      handshakes: this.handshakes,
      leaderDecisions: args.leaderDecisions,
      // At start, pairs wait (up to FIRST_CLASSIFICATION_WAIT_MS) for this node's NAT type and
      // for the registry to see its endpoint: a punch without it fails and waits for a retry.
      selfPending: now - this.opts.startedAt < FIRST_CLASSIFICATION_WAIT_MS && (this.nat === undefined || !ownEndpoint),
      now,
    });
    const punch: PathDecision[] = [];
    for (const d of result.decisions) {
      if (!d.attempt || !leads(me, d.peer) || this.punching.get(d.peer) === d.since) continue;
      this.punching.set(d.peer, d.since);
      punch.push(d);
    }
    const led = new Set(result.decisions.map((d) => d.peer));
    for (const key of [...this.punching.keys()]) if (!led.has(key)) this.punching.delete(key);
    if (!result.changed && this.report) return { nextWakeAt: result.nextWakeAt, punch, changed: null };
    const before = new Map((this.report?.decisions ?? []).map((d) => [d.peer, d]));
    this.report = this.build(result.decisions, now);
    const changed = result.decisions.filter((d) => {
      const prev = before.get(d.peer);
      return !prev || prev.path !== d.path || prev.attempt !== d.attempt || prev.reason !== d.reason;
    });
    return { nextWakeAt: result.nextWakeAt, punch, changed };
  }

  /** A punch for a led pair's attempt is done (see PathPlanner.punched): true when recorded (plan again). */
  punched(peer: string, since: number, outcome: PunchOutcome): boolean {
    return this.planner.punched(peer, since, outcome);
  }

  /** The attempt `since` on `peer` is still the current decision (nudges go on while it is). */
  attempting(peer: string, since: number): boolean {
    const d = this.report?.decisions.find((x) => x.peer === peer);
    return d !== undefined && d.attempt && d.since === since;
  }

  /** The current decisions; with `peer`, only the one about that member. Stamped now. */
  current(now: number, peer?: string): PathReport {
    const report = { ...(this.report ?? this.build([], now)), techniques: this.planner.techniques(), at: this.stamp(now) };
    return peer === undefined ? report : { ...report, decisions: report.decisions.filter((d) => d.peer === peer) };
  }

  /** The report to publish now (null before the first plan). */
  outgoing(now: number): PathReport | null {
    return this.report ? { ...this.report, techniques: this.planner.techniques(), at: this.stamp(now) } : null;
  }

  decisions(): readonly PathDecision[] {
    return this.report?.decisions ?? [];
  }

  techniques(): TechniqueCounts {
    return this.planner.techniques();
  }

  private build(decisions: PathDecision[], now: number): PathReport {
    return { node: this.opts.self.name, publicKey: this.opts.self.publicKey, nat: this.nat?.nat ?? 'unknown', decisions, techniques: this.planner.techniques(), at: now };
  }

  /** `at` for a report sent now: strictly increasing, so a follower can tell the newer of two. */
  private stamp(now: number): number {
    this.lastAt = Math.max(now, this.lastAt + 1);
    return this.lastAt;
  }
}
