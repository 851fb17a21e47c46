import { PATHS_PAGE_MAX, type DataplaneState, type NatType, type PathDecision, type PathReport, type PathsGetRequest, type PathUpdate, type PeerRecord } from '@wgmesh/contracts';
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

/**
 * A leader sends a follower its decision about it when it changes, and once more this long after
 * (see `resend`): a follower that lost the first one (NATS dropped it: a slow consumer, a
 * reconnect before its resubscription had re-asked) gets it then, at the cost of one more small
 * message per change. Nothing is resent periodically otherwise.
 */
export const PATH_RESEND_MS = 30_000;

/** A leader's decision about one follower, addressed to it (`node.<to>.paths.from.<self>`). */
export interface AddressedDecision {
  /** The follower's node id. */
  to: string;
  /** This member's report with at most the one decision about the follower (none: it has none any more). */
  report: PathReport;
}

/** What to publish after a change: the update of this member's report, and the decisions addressed to followers. */
export interface PathsOutgoing {
  /** `node.<self>.paths`: what changed since the previous update (null when nothing did). */
  update: PathUpdate | null;
  addressed: AddressedDecision[];
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
 * the PathPlanner, the attempts punched, and what this member publishes: the updates of its report
 * (`node.<id>.paths`, numbered), and each led pair's decision to its follower only
 * (`node.<follower>.paths.from.<id>`). The whole report is asked for (`current`, `paths.get`).
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
  /** The decisions as last sent in an update (by peer), the NAT type sent, and the update count. */
  private readonly published = new Map<string, PathDecision>();
  private publishedNat: NatType | undefined;
  private seq = 0;
  /** Followers whose decision is to be sent again (see PATH_RESEND_MS): peer key → when, and its node id. */
  private readonly resends = new Map<string, { at: number; to: string }>();
  private sorted: { of: readonly PathDecision[]; by: PathDecision[] } | undefined;

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

  /**
   * The current decisions; with `peer`, only the one about that member. Stamped now, with the
   * `epoch` and `seq` of the last update (the report includes it: call `outgoing` in the same
   * turn as `plan`, before any reply).
   */
  current(now: number, peer?: string, page: Pick<PathsGetRequest, 'after' | 'limit'> = {}): PathReport {
    const report: PathReport = { ...(this.report ?? this.build([], now)), techniques: this.planner.techniques(), at: this.stamp(now), epoch: this.opts.startedAt, seq: this.seq };
    if (peer !== undefined) return { ...report, decisions: report.decisions.filter((d) => d.peer === peer) };
    // One page: the decisions by key after `after`, PATHS_PAGE_MAX at most (a reply must fit one NATS message).
    const sorted = this.sortedDecisions();
    let start = 0;
    if (page.after !== undefined) {
      let hi = sorted.length;
      while (start < hi) {
        const mid = (start + hi) >> 1;
        if (sorted[mid]!.peer <= page.after) start = mid + 1;
        else hi = mid;
      }
    }
    const end = Math.min(sorted.length, start + Math.min(page.limit ?? PATHS_PAGE_MAX, PATHS_PAGE_MAX));
    const decisions = sorted.slice(start, end);
    return { ...report, decisions, ...(end < sorted.length ? { next: sorted[end - 1]!.peer } : {}) };
  }

  /** The decisions by key (cached until the next change). */
  private sortedDecisions(): readonly PathDecision[] {
    const decisions = this.report?.decisions ?? [];
    if (this.sorted?.of !== decisions) this.sorted = { of: decisions, by: [...decisions].sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)) };
    return this.sorted.by;
  }

  /**
   * What to send after a planning step: the update of this member's report (the decisions that
   * differ from the last update's, in any field, and those gone; null when none did and the NAT
   * type is the same) and, for each pair this member leads whose decision changed, the decision
   * addressed to the follower. O(decisions) to compare, O(changes) to send.
   */
  outgoing(now: number): PathsOutgoing {
    if (!this.report) return { update: null, addressed: [] };
    const me = this.opts.self.publicKey;
    const changed: PathDecision[] = [];
    const removed: string[] = [];
    const addressed: AddressedDecision[] = [];
    const current = new Set<string>();
    const at = this.stamp(now);
    const address = (peer: string, name: string | undefined, d: PathDecision | undefined) => {
      if (name === undefined || !leads(me, peer)) return;
      addressed.push({ to: name, report: this.addressedReport(d, at) });
      this.resends.set(peer, { at: now + PATH_RESEND_MS, to: name });
    };
    for (const d of this.report.decisions) {
      current.add(d.peer);
      const before = this.published.get(d.peer);
      if (before === d || (before !== undefined && sameDecision(before, d))) continue;
      changed.push(d);
      this.published.set(d.peer, d);
      address(d.peer, d.peerName ?? before?.peerName, d);
    }
    for (const [peer, before] of this.published) {
      if (current.has(peer)) continue;
      removed.push(peer);
      this.published.delete(peer);
      address(peer, before.peerName, undefined);
    }
    const nat = this.report.nat;
    if (changed.length === 0 && removed.length === 0 && nat === this.publishedNat) return { update: null, addressed };
    this.publishedNat = nat;
    const update: PathUpdate = { node: this.opts.self.name, publicKey: me, nat, epoch: this.opts.startedAt, seq: ++this.seq, changed, removed, techniques: this.planner.techniques(), at };
    return { update, addressed };
  }

  /**
   * The decisions addressed to followers PATH_RESEND_MS ago (see there), to send once more now:
   * each change is sent twice, never more. Call it every few seconds or so.
   */
  resend(now: number): AddressedDecision[] {
    const out: AddressedDecision[] = [];
    let at: number | undefined;
    for (const [peer, r] of this.resends) {
      if (r.at > now) continue;
      this.resends.delete(peer);
      at ??= this.stamp(now);
      out.push({ to: r.to, report: this.addressedReport(this.published.get(peer), at) });
    }
    return out;
  }

  decisions(): readonly PathDecision[] {
    return this.report?.decisions ?? [];
  }

  techniques(): TechniqueCounts {
    return this.planner.techniques();
  }

  private addressedReport(d: PathDecision | undefined, at: number): PathReport {
    return { node: this.opts.self.name, publicKey: this.opts.self.publicKey, nat: this.nat?.nat ?? 'unknown', decisions: d ? [d] : [], at };
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

function sameDecision(a: PathDecision, b: PathDecision): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
