import { PATHS_PAGE_MAX, type DataplaneState, type NatType, type PathDecision, type PathReport, type PathsGetRequest, type PathUpdate, type PeerRecord } from '@wgmesh/contracts';
import { DEFAULT_PLANNER_OPTIONS, leads, PathPlanner, PlannerOptions, PlannerPeer, PunchOutcome, TechniqueCounts } from './decide';
import { DueTimes } from './due-times';

/** How long pairs wait for this node's first NAT classification (and its endpoint at the registry) before being decided without. */
export const FIRST_CLASSIFICATION_WAIT_MS = 5000;

export interface MemberPathsOptions {
  self: { publicKey: string; name: string };
  /** The registry's key: never a pair of this node. */
  registryKey: string;
  planner?: PlannerOptions;
  /** When this member started (ms since the epoch): pairs wait FIRST_CLASSIFICATION_WAIT_MS from then. */
  startedAt: number;
  /** Called for every pair decided (tests and benchmarks count the work of a step). */
  onDecide?: (peer: string) => void;
}

/**
 * A change to the peer table (peer-sync's MirrorChange fits): a reset replaces the whole table
 * (and decides every pair again), an upsert or a removal touches one pair.
 */
export type TableChange =
  | { type: 'reset'; peers: readonly PeerRecord[] }
  | { type: 'upsert'; peer: PeerRecord }
  | { type: 'remove'; publicKey: string };

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
 * nat-probe's member service feeds it changes (`table`, `classified`, `observe`, `leader`) and
 * carries out what a step asks (punch, wake up, publish).
 *
 * Incremental: a change marks the pairs it touches, and `plan` decides only those and the pairs
 * whose time (deadline, retry, a handshake going stale) has come (kept in a heap, DueTimes), so
 * a step costs O(pairs touched), not O(members). What touches a pair: its peer's record (added,
 * changed, removed), its handshake, its leader's decision, a punch reported; this node's NAT
 * (classified) and whether it is still waiting for it touch every pair, as does a table reset.
 * The decisions are kept by peer; arrays are built only when asked for (`decisions`, `current`).
 * The result is the same as deciding every pair at every step (the spec checks it).
 */
export class MemberPaths {
  /** The device's handshake with each peer (ms), and the `observe` call that last listed it. */
  private readonly handshakes = new Map<string, { ms: number; seen: number }>();
  private observed = 0;
  private readonly planner: PathPlanner;
  /** The members a pair is decided with (an endpoint and addresses; not this node or the registry). */
  private readonly peers = new Map<string, PlannerPeer>();
  private ownEndpoint: string | null = null;
  private readonly leaders = new Map<string, PathDecision>();
  /** The decisions as last reported, by peer. */
  private readonly decisionsByPeer = new Map<string, PathDecision>();
  /** The decisions sorted by peer (built when asked for; null after a change). */
  private sorted: PathDecision[] | null = null;
  private relayed = 0;
  /** Pairs to decide at the next step; `all`: every one. */
  private readonly dirty = new Set<string>();
  private all = true;
  private readonly due = new DueTimes();
  /** Whether the last step waited for this node's NAT (null: no step yet). */
  private pending: boolean | null = null;
  /** A report exists (the first step made it); its NAT as of its last change. */
  private reported = false;
  private reportNat: NatType | 'unknown' = 'unknown';
  /** The `at` of the last report sent (event or reply): strictly increasing. */
  private lastAt = 0;
  /** Led pairs whose attempt (by its `since`) has been punched or is being punched. */
  private readonly punching = new Map<string, number>();
  private nat: { nat: NatType; portStep?: number } | undefined;
  /** The decisions as last sent in an update (by peer), the NAT type sent, and the update count. */
  private readonly published = new Map<string, PathDecision>();
  private publishedNat: NatType | undefined;
  private seq = 0;
  /** Peers whose decision was decided again (or dropped) since the last update: compared with `published` then. */
  private readonly unsent = new Set<string>();
  /** Followers whose decision is to be sent again (see PATH_RESEND_MS): peer key → when, and its node id. */
  private readonly resends = new Map<string, { at: number; to: string }>();

  constructor(private readonly opts: MemberPathsOptions) {
    this.planner = new PathPlanner(opts.planner ?? DEFAULT_PLANNER_OPTIONS);
  }

  /** This node's NAT as last classified (its report carries it; the rules depend on it: every pair is decided again). */
  classified(nat: { nat: NatType; portStep?: number }): void {
    if (this.nat?.nat === nat.nat && this.nat.portStep === nat.portStep) return;
    this.nat = { nat: nat.nat, ...(nat.portStep !== undefined ? { portStep: nat.portStep } : {}) };
    this.all = true;
  }

  /** A change to the peer table. */
  table(change: TableChange): void {
    if (change.type === 'reset') {
      this.ownEndpoint = null;
      for (const key of this.peers.keys()) this.dirty.add(key);
      this.peers.clear();
      for (const p of change.peers) this.put(p);
      this.all = true;
    } else if (change.type === 'upsert') {
      this.put(change.peer);
    } else {
      if (change.publicKey === this.opts.self.publicKey) this.ownEndpoint = null;
      if (this.peers.delete(change.publicKey)) this.dirty.add(change.publicKey);
    }
  }

  /**
   * This node's device state: the handshake time of each peer (O(peers on the device): the state
   * lists them all). Returns the keys whose handshake changed (their pairs are decided again).
   */
  observe(state: Pick<DataplaneState, 'peers'>): string[] {
    const changed: string[] = [];
    const epoch = ++this.observed;
    let known = 0;
    let added = 0;
    for (const p of state.peers) {
      const ms = p.latestHandshake * 1000;
      const h = this.handshakes.get(p.publicKey);
      if (!h) {
        this.handshakes.set(p.publicKey, { ms, seen: epoch });
        changed.push(p.publicKey);
        added++;
        continue;
      }
      if (h.seen === epoch) continue; // listed twice: counted once
      h.seen = epoch;
      known++;
      if (h.ms !== ms) {
        h.ms = ms;
        changed.push(p.publicKey);
      }
    }
    // Keys the state no longer lists (looked for only when some are missing).
    if (known + added < this.handshakes.size) {
      for (const [k, h] of this.handshakes) {
        if (h.seen !== epoch) {
          this.handshakes.delete(k);
          changed.push(k);
        }
      }
    }
    for (const k of changed) this.dirty.add(k);
    return changed;
  }

  /**
   * An update of the device state (the peers it names changed, `removed` left the device): O(what
   * it names), where `observe` walks every peer. Returns the keys whose handshake changed.
   */
  observeChanges(changedPeers: ReadonlyArray<Pick<DataplaneState['peers'][number], 'publicKey' | 'latestHandshake'>>, removed: readonly string[]): string[] {
    const changed: string[] = [];
    for (const p of changedPeers) {
      const ms = p.latestHandshake * 1000;
      const h = this.handshakes.get(p.publicKey);
      if (!h) this.handshakes.set(p.publicKey, { ms, seen: this.observed });
      else if (h.ms !== ms) h.ms = ms;
      else continue;
      changed.push(p.publicKey);
    }
    for (const k of removed) if (this.handshakes.delete(k)) changed.push(k);
    for (const k of changed) this.dirty.add(k);
    return changed;
  }

  /** The decision the leader `leaderKey` published about this node (undefined: none). */
  leader(leaderKey: string, decision: PathDecision | undefined): void {
    if (decision) this.leaders.set(leaderKey, decision);
    else if (!this.leaders.delete(leaderKey)) return;
    this.dirty.add(leaderKey);
  }

  /**
   * One planning step: decides the pairs touched since the last one and those due by `now` (with
   * every member with an endpoint and addresses, but this node and the registry).
   */
  plan(args: { now: number }): MemberPlanStep {
    const { now } = args;
    // At start, pairs wait (up to FIRST_CLASSIFICATION_WAIT_MS) for this node's NAT type and
    // for the registry to see its endpoint: a punch without it fails and waits for a retry.
    const pending = now - this.opts.startedAt < FIRST_CLASSIFICATION_WAIT_MS && (this.nat === undefined || !this.ownEndpoint);
    if (pending !== this.pending) this.all = true;
    this.pending = pending;
    let keys: Iterable<string>;
    if (this.all) {
      keys = new Set([...this.peers.keys(), ...this.decisionsByPeer.keys(), ...this.dirty]);
      this.due.takeDue(now);
    } else {
      for (const key of this.due.takeDue(now)) this.dirty.add(key);
      keys = this.dirty;
    }
    const punch: PathDecision[] = [];
    const changed: PathDecision[] = [];
    let reportChanged = !this.reported;
    for (const key of keys) {
      const before = this.decisionsByPeer.get(key);
      const after = this.decide(key, pending, now);
      if (!before && !after) continue;
      if (!before || !after || fingerprint(before) !== fingerprint(after)) reportChanged = true;
      if (after && (!before || before.path !== after.path || before.attempt !== after.attempt || before.reason !== after.reason)) changed.push(after);
      if (after?.attempt && leads(this.opts.self.publicKey, key) && this.punching.get(key) !== after.since) {
        this.punching.set(key, after.since);
        punch.push(after);
      }
    }
    this.dirty.clear();
    this.all = false;
    const nextWakeAt = this.due.next();
    punch.sort(byPeer);
    if (!reportChanged) return { nextWakeAt, punch, changed: null };
    this.reported = true;
    this.reportNat = this.nat?.nat ?? 'unknown';
    return { nextWakeAt, punch, changed: changed.sort(byPeer) };
  }

  /** A punch for a led pair's attempt is done (see PathPlanner.punched): true when recorded (plan again). */
  punched(peer: string, since: number, outcome: PunchOutcome): boolean {
    if (!this.planner.punched(peer, since, outcome)) return false;
    this.dirty.add(peer);
    return true;
  }

  /** The attempt `since` on `peer` is still the current decision (nudges go on while it is). */
  attempting(peer: string, since: number): boolean {
    const d = this.decisionsByPeer.get(peer);
    return d !== undefined && d.attempt && d.since === since;
  }

  /**
   * The current decisions; with `peer`, only the one about that member (O(1)). Stamped now, with
   * the `epoch` and `seq` of the last update (the report includes it: call `outgoing` in the same
   * turn as `plan`, before any reply).
   */
  current(now: number, peer?: string, page: Pick<PathsGetRequest, 'after' | 'limit'> = {}): PathReport {
    const stamp = { epoch: this.opts.startedAt, seq: this.seq };
    if (peer !== undefined) {
      const d = this.decisionsByPeer.get(peer);
      return { ...this.build(d ? [d] : [], now), ...stamp };
    }
    // One page: the decisions by key after `after`, PATHS_PAGE_MAX at most (a reply must fit one NATS message).
    const sorted = this.decisions();
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
    return { ...this.build(sorted.slice(start, end), now), ...stamp, ...(end < sorted.length ? { next: sorted[end - 1]!.peer } : {}) };
  }

  /**
   * What to send after a planning step: the update of this member's report (the decisions that
   * differ from the last update's, in any field, and those gone; null when none did and the NAT
   * type is the same) and, for each pair this member leads whose decision changed, the decision
   * addressed to the follower. O(pairs decided since the last update), not O(decisions).
   */
  outgoing(now: number): PathsOutgoing {
    if (!this.reported) return { update: null, addressed: [] };
    const me = this.opts.self.publicKey;
    const changed: PathDecision[] = [];
    const removed: string[] = [];
    const addressed: AddressedDecision[] = [];
    const at = this.stamp(now);
    const address = (peer: string, name: string | undefined, d: PathDecision | undefined) => {
      if (name === undefined || !leads(me, peer)) return;
      addressed.push({ to: name, report: this.addressedReport(d, at) });
      this.resends.set(peer, { at: now + PATH_RESEND_MS, to: name });
    };
    for (const peer of [...this.unsent].sort()) {
      const d = this.decisionsByPeer.get(peer);
      const before = this.published.get(peer);
      if (d) {
        if (before === d || (before !== undefined && sameDecision(before, d))) continue;
        changed.push(d);
        this.published.set(peer, d);
        address(peer, d.peerName ?? before?.peerName, d);
      } else if (before) {
        removed.push(peer);
        this.published.delete(peer);
        address(peer, before.peerName, undefined);
      }
    }
    this.unsent.clear();
    const nat = this.reportNat;
    if (changed.length === 0 && removed.length === 0 && nat === this.publishedNat) return { update: null, addressed };
    this.publishedNat = nat;
    const update: PathUpdate = { node: this.opts.self.name, publicKey: me, nat, epoch: this.opts.startedAt, seq: ++this.seq, changed, removed, techniques: this.planner.techniques(), at };
    return { update, addressed };
  }

  /**
   * The decisions addressed to followers PATH_RESEND_MS ago (see there), to send once more now:
   * each change is sent twice, never more. Call it every few seconds or so (O(changes of the
   * last PATH_RESEND_MS)).
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

  /** The current decisions, sorted by peer (built once per change, when asked for). */
  decisions(): readonly PathDecision[] {
    if (!this.sorted) this.sorted = [...this.decisionsByPeer.values()].sort(byPeer);
    return this.sorted;
  }

  /** How many pairs are decided direct and relayed (kept as decisions change: O(1)). */
  pathCounts(): { direct: number; relayed: number } {
    return { direct: this.decisionsByPeer.size - this.relayed, relayed: this.relayed };
  }

  techniques(): TechniqueCounts {
    return this.planner.techniques();
  }

  /** A peer record as the pairs see it: kept (and its pair touched) when it is one of this node's pairs. */
  private put(p: PeerRecord): void {
    const me = this.opts.self.publicKey;
    if (p.publicKey === me) {
      this.ownEndpoint = p.endpoint;
      return;
    }
    const eligible = p.publicKey !== this.opts.registryKey && p.endpoint !== null && p.allowedIps.length > 0;
    const before = this.peers.get(p.publicKey);
    if (!eligible) {
      if (before) {
        this.peers.delete(p.publicKey);
        this.dirty.add(p.publicKey);
      }
      return;
    }
    if (before && before.name === p.name && before.nat === p.nat) return;
    this.peers.set(p.publicKey, { publicKey: p.publicKey, name: p.name, nat: p.nat });
    this.dirty.add(p.publicKey);
  }

  /** Decides one pair now and keeps the result (undefined: no pair, or nothing decided yet). */
  private decide(key: string, pending: boolean, now: number): PathDecision | undefined {
    const peer = this.peers.get(key);
    if (!peer || pending) {
      this.planner.forget(key);
      this.due.delete(key);
      this.punching.delete(key);
      this.setDecision(key, undefined);
      return undefined;
    }
    this.opts.onDecide?.(key);
    const r = this.planner.decide({
      self: { publicKey: this.opts.self.publicKey, name: this.opts.self.name, nat: this.nat?.nat, portStep: this.nat?.portStep },
      peer,
      handshakeMs: this.handshakes.get(key)?.ms ?? 0,
      leader: this.leaders.get(key),
      now,
    });
    const at = r.dueAt === null ? r.staleAt : r.staleAt === null ? r.dueAt : Math.min(r.dueAt, r.staleAt);
    // Something due now is decided at the next step (never in a loop within this one).
    this.due.set(key, at === null ? null : Math.max(at, now + 1));
    this.setDecision(key, r.decision);
    return r.decision;
  }

  private setDecision(key: string, d: PathDecision | undefined): void {
    const before = this.decisionsByPeer.get(key);
    if (!before && !d) return;
    if (before?.path === 'relayed') this.relayed--;
    if (d?.path === 'relayed') this.relayed++;
    if (d) this.decisionsByPeer.set(key, d);
    else this.decisionsByPeer.delete(key);
    this.unsent.add(key);
    this.sorted = null;
  }

  private addressedReport(d: PathDecision | undefined, at: number): PathReport {
    return { node: this.opts.self.name, publicKey: this.opts.self.publicKey, nat: this.nat?.nat ?? 'unknown', decisions: d ? [d] : [], at };
  }

  private build(decisions: readonly PathDecision[], now: number): PathReport {
    const nat = this.reported ? this.reportNat : (this.nat?.nat ?? 'unknown');
    return { node: this.opts.self.name, publicKey: this.opts.self.publicKey, nat, decisions: [...decisions], techniques: this.planner.techniques(), at: this.stamp(now) };
  }

  /** `at` for a report sent now: strictly increasing, so a follower can tell the newer of two. */
  private stamp(now: number): number {
    this.lastAt = Math.max(now, this.lastAt + 1);
    return this.lastAt;
  }
}

function byPeer(a: PathDecision, b: PathDecision): number {
  return a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0;
}

/** What makes a report differ (as PathPlanner compares plans). */
function fingerprint(d: PathDecision): string {
  return `${d.path}|${d.attempt}|${d.reason}|${d.retryAt}|${d.since}|${d.technique}`;
}

function sameDecision(a: PathDecision, b: PathDecision): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
