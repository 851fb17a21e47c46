import { TECHNIQUES, type NatType, type PathDecision, type PunchTechnique, type Technique, type TechniqueCount } from '@wgmesh/contracts';

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

export interface Rule {
  kind: RuleKind;
  /** Why, without the path word: "both endpoint-independent", "b has a public address", … */
  why: string;
}

const NAT_WORDS: Record<NatType, string> = {
  none: 'has a public address',
  eim: 'is endpoint-independent',
  edm: 'is endpoint-dependent',
  unknown: 'has a NAT that could not be classified',
};

/**
 * The rule for a pair, from each side's NAT (and `portStep` where a side's NAT is known to
 * allocate ports sequentially). Symmetric up to the names in the text.
 */
export function pairRule(a: { name: string; nat?: NatType; portStep?: number }, b: { name: string; nat?: NatType; portStep?: number }): Rule {
  const known = (n?: NatType) => (n === undefined || n === 'unknown' ? undefined : n);
  const na = known(a.nat);
  const nb = known(b.nat);
  if (na === 'none' || nb === 'none') return { kind: 'sure', why: `${na === 'none' ? a.name : b.name} has a public address` };
  if (na === 'eim' && nb === 'eim') return { kind: 'sure', why: 'both endpoint-independent' };
  if (na === 'edm' && nb === 'edm') {
    const sequential = [a, b].filter((m) => m.portStep !== undefined);
    if (sequential.length === 0) return { kind: 'relay', why: 'both endpoint-dependent' };
    return { kind: 'try', why: `both endpoint-dependent, ${sequential.map((m) => `${m.name} allocates ports sequentially (step ${signed(m.portStep!)})`).join(', ')}` };
  }
  if ((na === 'eim' && nb === 'edm') || (na === 'edm' && nb === 'eim')) {
    const [eim, edm] = na === 'eim' ? [a, b] : [b, a];
    return { kind: 'try', why: `${eim.name} is endpoint-independent, ${edm.name} endpoint-dependent` };
  }
  const unknown = [a, b].filter((m) => known(m.nat) === undefined);
  const what = (m: { name: string; nat?: NatType }) => (m.nat === undefined ? `${m.name}'s NAT is not known yet` : `${m.name} ${NAT_WORDS[m.nat]}`);
  // An endpoint-dependent side with a NAT not known: the path may well be impossible, so the
  // relay carries traffic while direct is tried (a punch), rather than a direct route
  // black-holing it. Not before the other side has classified at all: a punch needs its
  // nat-probe to answer, and its NAT decides how to punch.
  const edm = na === 'edm' ? a : nb === 'edm' ? b : undefined;
  if (edm && unknown.some((m) => m.nat === undefined)) return { kind: 'relay', why: `${edm.name} is endpoint-dependent, ${unknown.map(what).join(', ')}` };
  if (edm) return { kind: 'try', why: `${edm.name} is endpoint-dependent, ${unknown.map(what).join(', ')}` };
  return { kind: 'sure', why: unknown.map(what).join(', ') };
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

type Phase =
  /** `awaitingPunch`: direct on a handshake before the attempt's punch reported (since: the attempt's). */
  | { kind: 'direct'; since: number; confirmed: boolean; reason: string; punch?: PunchOutcome; awaitingPunch?: number }
  | { kind: 'attempt'; since: number; failures: number; reason: string; handshakeBefore: number; punch?: PunchOutcome }
  | { kind: 'relayed'; since: number; failures: number; retryAt: number | null; reason: string };

interface PairState {
  rule: Rule;
  phase: Phase;
}

export type TechniqueCounts = Record<Technique, TechniqueCount>;

export interface PlanResult {
  decisions: PathDecision[];
  /** Per technique, over the pairs this side leads (cumulative). */
  techniques: TechniqueCounts;
  /** True when any decision differs from the previous plan (publish it). */
  changed: boolean;
  /** The next time something is due (a deadline or a retry), null when nothing is. */
  nextWakeAt: number | null;
}

/** Keeps each pair's phase between calls; `plan` is the only entry point. */
export class PathPlanner {
  private readonly pairs = new Map<string, PairState>();
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
      state!.phase = { ...p, punch: outcome, awaitingPunch: undefined, reason: `direct: handshake on a direct attempt (${state!.rule.why}; ${outcome.detail})` };
      return true;
    }
    if (!p || p.kind !== 'attempt' || p.since !== since || p.punch) return false;
    p.punch = outcome;
    p.reason = `${p.reason.replace(/ \(deadline \d+s\)$/, '')}; ${outcome.detail}${/\(deadline \d+s\)$/.test(p.reason) ? ` (deadline ${Math.round(this.opts.deadlineMs / 1000)}s)` : ''}`;
    this.counts[outcome.technique].attempts++;
    return true;
  }

  /** Counters per technique so far (a copy). */
  techniques(): TechniqueCounts {
    return structuredClone(this.counts);
  }

  plan(input: PlannerInput): PlanResult {
    const { now } = input;
    const decisions: PathDecision[] = [];
    const seen = new Set<string>();
    let nextWakeAt: number | null = null;
    const wake = (t: number | null) => {
      if (t !== null && (nextWakeAt === null || t < nextWakeAt)) nextWakeAt = t;
    };
    for (const peer of input.peers) {
      if (peer.publicKey === input.self.publicKey) continue;
      seen.add(peer.publicKey);
      const peerName = peer.name ?? shortName(peer.publicKey);
      if (input.selfPending) {
        // No decision yet: the device keeps what it has (a session from before a restart goes on).
        this.pairs.delete(peer.publicKey);
        continue;
      }
      // Only this side's port step is known here (the peer's shows in its answer to a punch).
      const rule = pairRule({ name: input.self.name, nat: input.self.nat, portStep: input.self.portStep }, { name: peerName, nat: peer.nat });
      let decision: PathDecision;
      const handshakeMs = input.handshakes.get(peer.publicKey) ?? 0;
      if (leads(input.self.publicKey, peer.publicKey)) {
        const state = this.lead(peer.publicKey, rule, handshakeMs, now);
        decision = toDecision(peer, state.phase);
        wake(this.dueAt(state.phase));
      } else {
        this.pairs.delete(peer.publicKey);
        const leader = input.leaderDecisions.get(peer.publicKey);
        // Behind an endpoint-dependent NAT, dialling the leader's registry-observed endpoint is of
        // no use (unless it is public) and opens a mapping a later punch cannot predict: a plain
        // direct decision (the leader has not seen this node's NAT yet) waits for the punch.
        const stale = leader?.path === 'direct' && !leader.technique && input.self.nat === 'edm' && peer.nat !== 'none';
        decision = leader && !stale ? follow(peer, leader, peerName) : toDecision(peer, startPhase(rule, now, this.opts, handshakeMs));
      }
      decisions.push(decision);
    }
    for (const key of [...this.pairs.keys()]) if (!seen.has(key)) this.pairs.delete(key);
    decisions.sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
    const next = new Map(decisions.map((d) => [d.peer, fingerprint(d)]));
    const changed = next.size !== this.last.size || [...next].some(([k, f]) => this.last.get(k) !== f);
    this.last = next;
    return { decisions, changed, nextWakeAt, techniques: this.techniques() };
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
    } else if (state.rule.why !== rule.why) {
      // The same kind of rule for another reason (a NAT got classified, "not known yet" → "eim"):
      // the phase goes on (its deadline is not restarted); only a first step's reason is reworded.
      const p = state.phase;
      const ruleWorded = p.reason === firstPhase(state.rule, p.since, this.opts).reason;
      state = { rule, phase: ruleWorded ? { ...p, reason: firstPhase(rule, p.since, this.opts).reason } : p };
      this.pairs.set(peer, state);
    }
    const o = this.opts;
    const p = state.phase;
    const secondsText = `${Math.round(o.deadlineMs / 1000)}s`;
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
        state.phase = relayAfterFailure(1, now, `no handshake in ${secondsText} on direct`, o);
      } else if (p.confirmed && !fresh) {
        state.phase = relayAfterFailure(1, now, `direct handshakes stopped (none for ${Math.round(o.staleHandshakeMs / 1000)}s)`, o);
      }
    } else if (p.kind === 'attempt') {
      const how = p.punch ? `${rule.why}; ${p.punch.detail}` : rule.why;
      if (fresh && handshakeMs > p.handshakeBefore) {
        this.ended(p, true);
        state.phase = { kind: 'direct', since: now, confirmed: true, reason: `direct: handshake on a direct attempt (${how})`, punch: p.punch ?? { technique: 'punch', detail: 'punched' }, ...(p.punch ? {} : { awaitingPunch: p.since }) };
      } else if (now >= p.since + o.deadlineMs) {
        this.ended(p, false);
        state.phase = relayAfterFailure(p.failures + 1, now, `no handshake in ${secondsText} on direct${p.punch ? ` (${p.punch.detail})` : ''}`, o);
      }
    } else if (p.retryAt !== null && now >= p.retryAt) {
      state.phase = { kind: 'attempt', since: now, failures: p.failures, reason: `relayed: trying direct again (after ${p.failures} failed attempt${p.failures === 1 ? '' : 's'})`, handshakeBefore: handshakeMs };
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
    return { kind: 'direct', since: now, confirmed: true, reason: `direct: a session was up already (${rule.why})`, punch: { technique: 'punch', detail: 'a session was up already' } };
  }
  return firstPhase(rule, now, o, handshakeMs);
}

function firstPhase(rule: Rule, now: number, o: PlannerOptions, handshakeMs = 0): Phase {
  if (rule.kind === 'sure') return { kind: 'direct', since: now, confirmed: false, reason: `direct: ${rule.why}` };
  if (rule.kind === 'try') return { kind: 'attempt', since: now, failures: 0, reason: `relayed while trying direct: ${rule.why} (deadline ${Math.round(o.deadlineMs / 1000)}s)`, handshakeBefore: handshakeMs };
  return { kind: 'relayed', since: now, failures: 0, retryAt: null, reason: `relayed: ${rule.why}` };
}

function relayAfterFailure(failures: number, now: number, what: string, o: PlannerOptions): Phase {
  const retryAt = now + Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** (failures - 1));
  return { kind: 'relayed', since: now, failures, retryAt, reason: `relayed: ${what}, retry at ${new Date(retryAt).toISOString()}` };
}

function toDecision(peer: PlannerPeer, p: Phase): PathDecision {
  const d: PathDecision = {
    peer: peer.publicKey,
    path: p.kind === 'direct' ? 'direct' : 'relayed',
    attempt: p.kind === 'attempt',
    reason: p.reason,
    retryAt: p.kind === 'relayed' ? p.retryAt : null,
    since: p.since,
  };
  if (peer.name !== undefined) d.peerName = peer.name;
  // Attempts are punched; a direct path a punch opened keeps the endpoints it learnt.
  if (p.kind === 'attempt') d.technique = p.punch?.technique ?? 'punch';
  else if (p.kind === 'direct' && p.punch) d.technique = p.punch.technique;
  return d;
}

/** The follower's copy of its leader's decision about the pair. */
function follow(peer: PlannerPeer, leader: PathDecision, leaderName: string): PathDecision {
  const d: PathDecision = {
    peer: peer.publicKey,
    path: leader.path,
    attempt: leader.attempt,
    reason: `${leader.reason} (decided by ${leaderName})`,
    retryAt: leader.retryAt,
    since: leader.since,
  };
  if (peer.name !== undefined) d.peerName = peer.name;
  if (leader.technique !== undefined) d.technique = leader.technique;
  return d;
}

function fingerprint(d: PathDecision): string {
  return `${d.path}|${d.attempt}|${d.reason}|${d.retryAt}|${d.since}|${d.technique}`;
}

export function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

/** A key's first 8 characters, for text when a peer has no name. */
function shortName(publicKey: string): string {
  return publicKey.slice(0, 8);
}
