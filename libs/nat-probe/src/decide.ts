import { TECHNIQUES, type NatType, type PathDecision, type PathKindDecided, type PunchTechnique, type Technique, type TechniqueCount } from '@wgmesh/contracts';
import { pathSentence } from './path-words';

/**
 * Path decisions for every pair of members (pure: time and observations come in, decisions go
 * out; no timers, no I/O).
 *
 * The rule (from each side's NAT mapping):
 * - sure:  either side public, or both endpoint-independent (or a NAT not known yet) → direct at
 *   once: the peer is configured with its endpoint and routes. If no handshake shows within the
 *   deadline, the pair falls back to the relay and is retried later with backoff.
 * - try:   one endpoint-independent, the other endpoint-dependent → the registry-observed port of
 *   the dependent side is useless, but the independent side may still be reachable: relayed, with
 *   a direct *attempt* (peer configured with endpoint and keepalive, no routes, so traffic keeps
 *   flowing through the relay); a handshake within the deadline makes it direct.
 * - relay: both endpoint-dependent → relayed; nothing to punch (until a NAT changes), unless
 *   the leader's NAT allocates ports sequentially: then it tries (port prediction, if the peer's
 *   NAT is sequential too).
 * Retries are attempts too, so a retry never black-holes traffic. Every attempt is a hole punch
 * (the service runs it: see `punched`), so the pair's endpoints on both devices are the ones the
 * punch set and WireGuard learnt (decision.technique), not the registry-observed ones.
 * Counters per technique (direct, punch, prediction) cover the pairs this side leads.
 *
 * One side decides for both: the member with the smaller public key leads the pair; the other
 * follows the leader's published decision (and uses the rule's first step until it has one), so
 * both ends always configure the pair the same way.
 */
export interface PlannerOptions {
  /** How long a direct path (or attempt) may go without a handshake before relaying (ms). */
  deadlineMs: number;
  /** First retry after a failure (ms); doubles per failure up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** A handshake older than this means the direct path stopped working (WireGuard's 180 s). */
  staleHandshakeMs: number;
}

export const DEFAULT_PLANNER_OPTIONS: PlannerOptions = {
  deadlineMs: 10_000,
  retryBaseMs: 30_000,
  retryMaxMs: 600_000,
  staleHandshakeMs: 180_000 + 25_000,
};

export interface PlannerPeer {
  publicKey: string;
  name?: string;
  /** The peer's NAT as the registry publishes it (undefined: not classified yet). */
  nat?: NatType;
}

export interface PlannerInput {
  /** `portStep`: this node's NAT allocates ports sequentially (nat-probe's classification). */
  self: { publicKey: string; name: string; nat: NatType | undefined; portStep?: number };
  /** Every other member that has an endpoint at the registry (the ones a direct path could use). */
  peers: readonly PlannerPeer[];
  /** This node's device: latest handshake per peer key, in ms since the epoch (0 or absent: none). */
  handshakes: ReadonlyMap<string, number>;
  /** Decisions the leaders of our pairs published about us, by the leader's public key. */
  leaderDecisions: ReadonlyMap<string, PathDecision>;
  /**
   * This node is not ready to decide: its NAT is being classified for the first time, or the
   * registry has not seen its endpoint yet (a punch offers it). Nothing goes direct yet: a device
   * that dialled a peer before knowing its NAT would hold a mapping towards it that port
   * prediction cannot see (a NAT keeps it as long as packets flow, and minutes after).
   */
  selfPending?: boolean;
  now: number;
}

export type RuleKind = 'sure' | 'try' | 'relay';

/** A side of a pair whose NAT is not known: not classified yet (nat undefined) or unclassifiable. */
export interface UnknownSide {
  name: string;
  nat?: 'unknown';
}

/** Why a pair's rule is what it is (in words: `ruleSentence`). `kind` is the wire's `PairWhy`. */
export type RuleWhy =
  | { kind: 'public'; side: string }
  | { kind: 'both-eim' }
  | { kind: 'both-edm' }
  | { kind: 'sequential'; sequential: Array<{ name: string; step: number }> }
  | { kind: 'eim-edm'; eim: string; edm: string }
  | { kind: 'edm-unknown'; edm: string; unknown: UnknownSide[] }
  | { kind: 'unknown'; unknown: UnknownSide[] };

export interface Rule {
  kind: RuleKind;
  why: RuleWhy;
}

/**
 * The rule for a pair, from each side's NAT (and `portStep` where a side's NAT is known to
 * allocate ports sequentially). Symmetric up to the names.
 */
export function pairRule(a: { name: string; nat?: NatType; portStep?: number }, b: { name: string; nat?: NatType; portStep?: number }): Rule {
  const known = (n?: NatType) => (n === undefined || n === 'unknown' ? undefined : n);
  const na = known(a.nat);
  const nb = known(b.nat);
  if (na === 'none' || nb === 'none') return { kind: 'sure', why: { kind: 'public', side: na === 'none' ? a.name : b.name } };
  if (na === 'eim' && nb === 'eim') return { kind: 'sure', why: { kind: 'both-eim' } };
  if (na === 'edm' && nb === 'edm') {
    const sequential = [a, b].filter((m) => m.portStep !== undefined);
    if (sequential.length === 0) return { kind: 'relay', why: { kind: 'both-edm' } };
    return { kind: 'try', why: { kind: 'sequential', sequential: sequential.map((m) => ({ name: m.name, step: m.portStep! })) } };
  }
  if ((na === 'eim' && nb === 'edm') || (na === 'edm' && nb === 'eim')) {
    const [eim, edm] = na === 'eim' ? [a, b] : [b, a];
    return { kind: 'try', why: { kind: 'eim-edm', eim: eim.name, edm: edm.name } };
  }
  const unknown: UnknownSide[] = [a, b].filter((m) => known(m.nat) === undefined).map((m) => (m.nat === undefined ? { name: m.name } : { name: m.name, nat: 'unknown' }));
  // An endpoint-dependent side with a NAT not known: the path may well be impossible, so the
  // relay carries traffic while direct is tried (a punch), rather than a direct route
  // black-holing it. Not before the other side has classified at all: a punch needs its
  // nat-probe to answer, and its NAT decides how to punch.
  const edm = na === 'edm' ? a : nb === 'edm' ? b : undefined;
  if (edm) return { kind: unknown.some((m) => m.nat === undefined) ? 'relay' : 'try', why: { kind: 'edm-unknown', edm: edm.name, unknown } };
  return { kind: 'sure', why: { kind: 'unknown', unknown } };
}

function sameWhy(a: RuleWhy, b: RuleWhy): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The leader of a pair: the smaller public key (a fixed, shared choice). */
export function leads(self: string, peer: string): boolean {
  return self < peer;
}

/** What a punch did (the service reports it with `punched`): the technique and, in words, how. */
export interface PunchOutcome {
  technique: PunchTechnique;
  /** E.g. "punched at predicted ports (b allocates sequentially, step +1)". */
  detail: string;
  /** Where this side's device now sends its initiations (the peer's first candidate); nudges go there. */
  aim?: string;
}

/**
 * What a pair's decision rests on, as data; `pathSentence` puts it in words (the wire's `reason`).
 * `why` is the rule as the phase saw it; `punch` the punch's outcome where it shows.
 */
export type PathBasis =
  | { cause: 'rule'; path: PathKindDecided; attempt: boolean; why: RuleWhy; punch?: PunchOutcome; deadlineMs: number }
  | { cause: 'session-up' | 'handshake'; path: 'direct'; attempt: false; why: RuleWhy; punch?: PunchOutcome }
  | { cause: 'retry'; path: 'relayed'; attempt: true; why: RuleWhy; failures: number; punch?: PunchOutcome }
  | { cause: 'no-handshake'; path: 'relayed'; attempt: false; why: RuleWhy; deadlineMs: number; retryAt: number; punch?: PunchOutcome }
  | { cause: 'handshakes-stopped'; path: 'relayed'; attempt: false; why: RuleWhy; silentMs: number; retryAt: number }
  /** A follower's copy of its leader's decision. */
  | { cause: 'leader'; leaderName: string; leaderReason: string };

type Phase =
  /** `awaitingPunch`: direct on a handshake before the attempt's punch reported (since: the attempt's). */
  | { kind: 'direct'; since: number; confirmed: boolean; cause: 'rule' | 'session-up' | 'handshake'; why: RuleWhy; punch?: PunchOutcome; awaitingPunch?: number }
  | { kind: 'attempt'; since: number; failures: number; cause: 'rule' | 'retry'; why: RuleWhy; handshakeBefore: number; punch?: PunchOutcome }
  | { kind: 'relayed'; since: number; failures: number; retryAt: number | null; cause: 'rule' | 'no-handshake' | 'handshakes-stopped'; why: RuleWhy; punch?: PunchOutcome };

interface PairState {
  rule: Rule;
  phase: Phase;
}

export type TechniqueCounts = Record<Technique, TechniqueCount>;

export interface PlanResult {
  decisions: PathDecision[];
  /** What each decision rests on, by peer key (its `reason` is this in words). */
  bases: Map<string, PathBasis>;
  /** Per technique, over the pairs this side leads (cumulative). */
  techniques: TechniqueCounts;
  /** True when any decision differs from the previous plan (publish it). */
  changed: boolean;
  /** The next time something is due (a deadline or a retry), null when nothing is. */
  nextWakeAt: number | null;
}

/** One pair to decide (`PathPlanner.decide`). */
export interface PairInput {
  self: PlannerInput['self'];
  peer: PlannerPeer;
  /** This node's device: the latest handshake with the peer, ms since the epoch (0: none). */
  handshakeMs: number;
  /** The leader's decision about this node (when the peer leads the pair). */
  leader: PathDecision | undefined;
  now: number;
}

export interface PairResult {
  decision: PathDecision;
  basis: PathBasis;
  /** A deadline or a retry (what `PlanResult.nextWakeAt` is made of); null: none. */
  dueAt: number | null;
  /** When the handshake the decision rests on goes stale (a direct path then relays); null: none. */
  staleAt: number | null;
}

/** Keeps each pair's phase between calls: `plan` for every pair at once, `decide` for one. */
export class PathPlanner {
  private readonly pairs = new Map<string, PairState>();
  /** Followed pairs on the rule's first step (no leader's decision yet): that step and since when. */
  private readonly fallbacks = new Map<string, { shape: string; since: number }>();
  private last = new Map<string, string>();
  private readonly counts = Object.fromEntries(TECHNIQUES.map((t) => [t, { attempts: 0, successes: 0, failures: 0 }])) as TechniqueCounts;

  constructor(private readonly opts: PlannerOptions = DEFAULT_PLANNER_OPTIONS) {}

  /**
   * The punch for a led pair's attempt that started at `since` is done: its technique and detail
   * go into the reasons and the counters. False when the pair has moved on (nothing recorded).
   */
  punched(peer: string, since: number, outcome: PunchOutcome): boolean {
    const state = this.pairs.get(peer);
    const p = state?.phase;
    if (p?.kind === 'direct' && p.awaitingPunch === since) {
      // The handshake came before the punch reported how it was made: counted as a punch then.
      this.counts.punch.attempts--;
      this.counts.punch.successes--;
      this.counts[outcome.technique].attempts++;
      this.counts[outcome.technique].successes++;
      state!.phase = { ...p, punch: outcome, awaitingPunch: undefined, why: state!.rule.why };
      return true;
    }
    if (!p || p.kind !== 'attempt' || p.since !== since || p.punch) return false;
    p.punch = outcome;
    this.counts[outcome.technique].attempts++;
    return true;
  }

  /** Counters per technique so far (a copy). */
  techniques(): TechniqueCounts {
    return structuredClone(this.counts);
  }

  /**
   * Every pair at once (the whole table): `decide` for each peer, the pairs of peers not listed
   * forgotten. MemberPaths decides pair by pair instead (only the pairs a change touched).
   */
  plan(input: PlannerInput): PlanResult {
    const { now } = input;
    const decisions: PathDecision[] = [];
    const bases = new Map<string, PathBasis>();
    const seen = new Set<string>();
    let nextWakeAt: number | null = null;
    for (const peer of input.peers) {
      if (peer.publicKey === input.self.publicKey) continue;
      seen.add(peer.publicKey);
      if (input.selfPending) {
        // No decision yet: the device keeps what it has (a session from before a restart goes on).
        this.forget(peer.publicKey);
        continue;
      }
      const r = this.decide({ self: input.self, peer, handshakeMs: input.handshakes.get(peer.publicKey) ?? 0, leader: input.leaderDecisions.get(peer.publicKey), now });
      bases.set(peer.publicKey, r.basis);
      decisions.push(r.decision);
      if (r.dueAt !== null && (nextWakeAt === null || r.dueAt < nextWakeAt)) nextWakeAt = r.dueAt;
    }
    for (const key of [...this.pairs.keys(), ...this.fallbacks.keys()]) if (!seen.has(key)) this.forget(key);
    decisions.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
    const next = new Map(decisions.map((d) => [d.peer, fingerprint(d)]));
    const changed = next.size !== this.last.size || [...next].some(([k, f]) => this.last.get(k) !== f);
    this.last = next;
    return { decisions, bases, changed, nextWakeAt, techniques: this.techniques() };
  }

  /**
   * One pair, now: O(1), whatever the number of peers. A led pair advances (see `lead`); a
   * followed pair copies its leader's decision, or takes the rule's first step until it has one
   * (that step keeps its `since` while it stays the same step). The caller decides the pair again
   * when anything it rests on changes (either NAT, the peer's name, the handshake, the leader's
   * decision, a punch reported) and at `dueAt` / `staleAt`; in between, deciding it again changes
   * nothing.
   */
  decide(input: PairInput): PairResult {
    const { self, peer, handshakeMs, now } = input;
    const peerName = peer.name ?? shortName(peer.publicKey);
    // Only this side's port step is known here (the peer's shows in its answer to a punch).
    const rule = pairRule({ name: self.name, nat: self.nat, portStep: self.portStep }, { name: peerName, nat: peer.nat });
    const bases = new Map<string, PathBasis>();
    if (leads(self.publicKey, peer.publicKey)) {
      this.fallbacks.delete(peer.publicKey);
      const state = this.lead(peer.publicKey, rule, handshakeMs, now);
      const decision = toDecision(peer, state.phase, this.opts, bases);
      const p = state.phase;
      const staleAt = p.kind === 'direct' && p.confirmed && handshakeMs > 0 ? staleMoment(handshakeMs, this.opts) : null;
      return { decision, basis: bases.get(peer.publicKey)!, dueAt: this.dueAt(p), staleAt };
    }
    this.pairs.delete(peer.publicKey);
    const leader = input.leader;
    // Behind an endpoint-dependent NAT, dialling the leader's registry-observed endpoint is of
    // no use (unless it is public) and opens a mapping a later punch cannot predict: a plain
    // direct decision (the leader has not seen this node's NAT yet) waits for the punch.
    const stale = leader?.path === 'direct' && !leader.technique && self.nat === 'edm' && peer.nat !== 'none';
    if (leader && !stale) {
      this.fallbacks.delete(peer.publicKey);
      const decision = follow(peer, leader, peerName, bases);
      return { decision, basis: bases.get(peer.publicKey)!, dueAt: null, staleAt: null };
    }
    const phase = startPhase(rule, now, this.opts, handshakeMs);
    const decision = toDecision(peer, phase, this.opts, bases);
    // The same first step as before keeps its `since` (it is the same decision, taken earlier).
    const shape = `${decision.path}|${decision.attempt}|${decision.reason}|${decision.retryAt}|${decision.technique}|${decision.cause}|${decision.why}`;
    const before = this.fallbacks.get(peer.publicKey);
    if (before && before.shape === shape) decision.since = before.since;
    else this.fallbacks.set(peer.publicKey, { shape, since: decision.since });
    const staleAt = phase.cause === 'session-up' ? staleMoment(handshakeMs, this.opts) : null;
    return { decision, basis: bases.get(peer.publicKey)!, dueAt: null, staleAt };
  }

  /** The pair with `peer` is gone (the peer left, or nothing is decided for now): its state goes. */
  forget(peer: string): void {
    this.pairs.delete(peer);
    this.fallbacks.delete(peer);
  }

  /** Advances one led pair: a new rule starts it over; deadlines, handshakes and retries move it on. */
  private lead(peer: string, rule: Rule, handshakeMs: number, now: number): PairState {
    let state = this.pairs.get(peer);
    if (!state) {
      state = { rule, phase: startPhase(rule, now, this.opts, handshakeMs) };
      if (state.phase.kind === 'direct' && !state.phase.punch) this.counts.direct.attempts++;
      this.pairs.set(peer, state);
    } else if (state.rule.kind !== rule.kind) {
      // Abandoned, not failed: a NAT changed under it (counted as neither).
      if (state.phase.kind === 'attempt' && !state.phase.punch) this.counts.punch.attempts++;
      state = { rule, phase: firstPhase(rule, now, this.opts, handshakeMs) };
      if (state.phase.kind === 'direct') this.counts.direct.attempts++;
      this.pairs.set(peer, state);
    } else if (!sameWhy(state.rule.why, rule.why)) {
      // The same kind of rule for another reason (a NAT got classified, "not known yet" → "eim"):
      // the phase goes on (its deadline is not restarted); only a first step not punched yet
      // takes the new reason.
      const p = state.phase;
      state = { rule, phase: p.cause === 'rule' && !p.punch ? { ...p, why: rule.why } : p };
      this.pairs.set(peer, state);
    }
    const o = this.opts;
    const p = state.phase;
    // On a direct path a live session is what counts, whenever it started: a pair that worked
    // before a rule change (a NAT classified) keeps working. An attempt needs a handshake newer
    // than the one the device had when it started: a rule change to "try" means a NAT changed,
    // and the session from before the change (fresh for up to 205 s) no longer proves a path.
    // Relaying removes the peer entry, so a retry starts from a device entry without a handshake.
    const fresh = handshakeMs > 0 && now - handshakeMs <= o.staleHandshakeMs;
    if (p.kind === 'direct') {
      if (fresh && !p.confirmed) {
        state.phase = { ...p, confirmed: true };
        if (!p.punch) this.ended(p, true);
      } else if (!p.confirmed && now >= p.since + o.deadlineMs) {
        this.ended(p, false);
        state.phase = relayAfterFailure(1, now, 'no-handshake', p.why, o);
      } else if (p.confirmed && !fresh) {
        state.phase = relayAfterFailure(1, now, 'handshakes-stopped', p.why, o);
      }
    } else if (p.kind === 'attempt') {
      if (fresh && handshakeMs > p.handshakeBefore) {
        this.ended(p, true);
        state.phase = { kind: 'direct', since: now, confirmed: true, cause: 'handshake', why: rule.why, punch: p.punch ?? { technique: 'punch', detail: 'punched' }, ...(p.punch ? {} : { awaitingPunch: p.since }) };
      } else if (now >= p.since + o.deadlineMs) {
        this.ended(p, false);
        state.phase = relayAfterFailure(p.failures + 1, now, 'no-handshake', p.why, o, p.punch);
      }
    } else if (p.retryAt !== null && now >= p.retryAt) {
      state.phase = { kind: 'attempt', since: now, failures: p.failures, cause: 'retry', why: rule.why, handshakeBefore: handshakeMs };
    }
    return state;
  }

  /**
   * Counts how a direct phase or an attempt ended (an attempt never punched counts as a punch).
   * attempts − successes − failures: under way, or abandoned because a NAT changed.
   */
  private ended(p: Phase, success: boolean): void {
    if (p.kind === 'relayed' || (p.kind === 'direct' && (p.confirmed || p.punch))) return;
    const technique: Technique = p.kind === 'direct' ? 'direct' : (p.punch?.technique ?? 'punch');
    if (p.kind === 'attempt' && !p.punch) this.counts.punch.attempts++;
    this.counts[technique][success ? 'successes' : 'failures']++;
  }

  private dueAt(p: Phase): number | null {
    if (p.kind === 'direct') return p.confirmed ? null : p.since + this.opts.deadlineMs;
    if (p.kind === 'attempt') return p.since + this.opts.deadlineMs;
    return p.retryAt;
  }
}

/**
 * A pair seen for the first time: a live session on the device for a pair that is not plainly
 * direct (so a punch opened it before this node restarted) is kept as it is, its endpoint left
 * to the device; otherwise the rule's first step.
 */
function startPhase(rule: Rule, now: number, o: PlannerOptions, handshakeMs: number): Phase {
  if (rule.kind !== 'sure' && handshakeMs > 0 && now - handshakeMs <= o.staleHandshakeMs) {
    return { kind: 'direct', since: now, confirmed: true, cause: 'session-up', why: rule.why, punch: { technique: 'punch', detail: 'a session was up already' } };
  }
  return firstPhase(rule, now, o, handshakeMs);
}

function firstPhase(rule: Rule, now: number, o: PlannerOptions, handshakeMs = 0): Phase {
  if (rule.kind === 'sure') return { kind: 'direct', since: now, confirmed: false, cause: 'rule', why: rule.why };
  if (rule.kind === 'try') return { kind: 'attempt', since: now, failures: 0, cause: 'rule', why: rule.why, handshakeBefore: handshakeMs };
  return { kind: 'relayed', since: now, failures: 0, retryAt: null, cause: 'rule', why: rule.why };
}

function relayAfterFailure(failures: number, now: number, cause: 'no-handshake' | 'handshakes-stopped', why: RuleWhy, o: PlannerOptions, punch?: PunchOutcome): Phase {
  const retryAt = now + Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** (failures - 1));
  return { kind: 'relayed', since: now, failures, retryAt, cause, why, ...(punch ? { punch } : {}) };
}

/** What a phase rests on (the punch shows once it reported; a placeholder does not). */
function basisOf(p: Phase, o: PlannerOptions): PathBasis {
  const punch = p.kind === 'direct' && p.awaitingPunch !== undefined ? undefined : p.punch;
  const shown = punch ? { punch } : {};
  switch (p.cause) {
    case 'rule':
      return { cause: 'rule', path: p.kind === 'direct' ? 'direct' : 'relayed', attempt: p.kind === 'attempt', why: p.why, deadlineMs: o.deadlineMs, ...shown };
    case 'session-up':
    case 'handshake':
      return { cause: p.cause, path: 'direct', attempt: false, why: p.why, ...shown };
    case 'retry':
      return { cause: 'retry', path: 'relayed', attempt: true, why: p.why, failures: (p as { failures: number }).failures, ...shown };
    case 'no-handshake':
      return { cause: 'no-handshake', path: 'relayed', attempt: false, why: p.why, deadlineMs: o.deadlineMs, retryAt: (p as { retryAt: number }).retryAt, ...shown };
    case 'handshakes-stopped':
      return { cause: 'handshakes-stopped', path: 'relayed', attempt: false, why: p.why, silentMs: o.staleHandshakeMs, retryAt: (p as { retryAt: number }).retryAt };
  }
}

function toDecision(peer: PlannerPeer, p: Phase, o: PlannerOptions, bases: Map<string, PathBasis>): PathDecision {
  const basis = basisOf(p, o);
  bases.set(peer.publicKey, basis);
  const d: PathDecision = {
    peer: peer.publicKey,
    path: p.kind === 'direct' ? 'direct' : 'relayed',
    attempt: p.kind === 'attempt',
    reason: pathSentence(basis),
    retryAt: p.kind === 'relayed' ? p.retryAt : null,
    since: p.since,
  };
  if (peer.name !== undefined) d.peerName = peer.name;
  // Attempts are punched; a direct path a punch opened keeps the endpoints it learnt.
  if (p.kind === 'attempt') d.technique = p.punch?.technique ?? 'punch';
  else if (p.kind === 'direct' && p.punch) d.technique = p.punch.technique;
  d.cause = p.cause;
  d.why = p.why.kind;
  return d;
}

/** The follower's copy of its leader's decision about the pair. */
function follow(peer: PlannerPeer, leader: PathDecision, leaderName: string, bases: Map<string, PathBasis>): PathDecision {
  const basis: PathBasis = { cause: 'leader', leaderName, leaderReason: leader.reason };
  bases.set(peer.publicKey, basis);
  const d: PathDecision = {
    peer: peer.publicKey,
    path: leader.path,
    attempt: leader.attempt,
    reason: pathSentence(basis),
    retryAt: leader.retryAt,
    since: leader.since,
  };
  if (peer.name !== undefined) d.peerName = peer.name;
  if (leader.technique !== undefined) d.technique = leader.technique;
  if (leader.cause !== undefined) d.cause = leader.cause;
  if (leader.why !== undefined) d.why = leader.why;
  return d;
}

function fingerprint(d: PathDecision): string {
  return `${d.path}|${d.attempt}|${d.reason}|${d.retryAt}|${d.since}|${d.technique}`;
}

/** The first moment (ms) at which a handshake at `handshakeMs` is older than staleHandshakeMs. */
function staleMoment(handshakeMs: number, o: PlannerOptions): number {
  return Math.floor(handshakeMs + o.staleHandshakeMs) + 1;
}

/** A key's first 8 characters, for text when a peer has no name. */
function shortName(publicKey: string): string {
  return publicKey.slice(0, 8);
}
