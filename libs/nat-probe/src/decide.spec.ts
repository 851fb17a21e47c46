import type { NatType, PathDecision } from '@wgmesh/contracts';
import { DEFAULT_PLANNER_OPTIONS, leads, pairRule, PathBasis, PathPlanner, PlannerInput, RuleKind, RuleWhy } from './decide';
import { pathSentence, ruleSentence } from './path-words';

// Keys chosen so that A < B < C (A leads both its pairs, C follows both).
const A = 'A'.repeat(43) + '=';
const B = 'B'.repeat(43) + '=';
const C = 'C'.repeat(43) + '=';
const T0 = 1_700_000_000_000;
const o = DEFAULT_PLANNER_OPTIONS;

function input(self: { key: string; name: string; nat?: NatType }, peers: Array<{ key: string; name: string; nat?: NatType }>, now: number, extra: Partial<PlannerInput> = {}): PlannerInput {
  return {
    self: { publicKey: self.key, name: self.name, nat: self.nat },
    peers: peers.map((p) => ({ publicKey: p.key, name: p.name, nat: p.nat })),
    handshakes: new Map(),
    leaderDecisions: new Map(),
    now,
    ...extra,
  };
}

describe('pairRule', () => {
  type Side = { name: string; nat?: NatType; portStep?: number };
  const m = (name: string, nat?: NatType): Side => ({ name, nat });
  it.each([
    [m('a', 'eim'), m('b', 'eim'), 'sure', { kind: 'both-eim' }],
    [m('a', 'edm'), m('b', 'edm'), 'relay', { kind: 'both-edm' }],
    [m('a', 'eim'), m('b', 'edm'), 'try', { kind: 'eim-edm', eim: 'a', edm: 'b' }],
    [m('a', 'edm'), m('b', 'eim'), 'try', { kind: 'eim-edm', eim: 'b', edm: 'a' }],
    [m('a', 'edm'), m('b', 'none'), 'sure', { kind: 'public', side: 'b' }],
    [m('a', 'none'), m('b', 'edm'), 'sure', { kind: 'public', side: 'a' }],
    [m('a', 'eim'), m('b'), 'sure', { kind: 'unknown', unknown: [{ name: 'b' }] }],
    [m('a', 'edm'), m('b', 'unknown'), 'try', { kind: 'edm-unknown', edm: 'a', unknown: [{ name: 'b', nat: 'unknown' }] }],
    [m('a'), m('b', 'edm'), 'relay', { kind: 'edm-unknown', edm: 'b', unknown: [{ name: 'a' }] }],
    [m('a', 'eim'), m('b', 'unknown'), 'sure', { kind: 'unknown', unknown: [{ name: 'b', nat: 'unknown' }] }],
    [{ ...m('a', 'edm'), portStep: 1 }, m('b', 'edm'), 'try', { kind: 'sequential', sequential: [{ name: 'a', step: 1 }] }],
    [{ ...m('a', 'edm'), portStep: 2 }, { ...m('b', 'edm'), portStep: -1 }, 'try', { kind: 'sequential', sequential: [{ name: 'a', step: 2 }, { name: 'b', step: -1 }] }],
  ] as Array<[Side, Side, RuleKind, RuleWhy]>)('%o + %o → %s %o', (a, b, kind, why) => {
    expect(pairRule(a, b)).toEqual({ kind, why });
  });

  it('picks the smaller key as the leader, on both sides', () => {
    expect(leads(A, B)).toBe(true);
    expect(leads(B, A)).toBe(false);
  });
});

describe('PathPlanner, leading a pair', () => {
  const self = { key: A, name: 'a', nat: 'eim' as NatType };

  it('goes direct at once when both are endpoint-independent, and stays there once a handshake shows', () => {
    const p = new PathPlanner();
    const r1 = p.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0));
    expect(r1.decisions).toEqual([{ peer: B, peerName: 'b', path: 'direct', attempt: false, reason: expect.any(String), retryAt: null, since: T0, cause: 'rule', why: 'both-eim' }]);
    expect(r1.decisions[0].reason).toBe(pathSentence(r1.bases.get(B)!));
    expect(r1.changed).toBe(true);
    expect(r1.nextWakeAt).toBe(T0 + o.deadlineMs);
    const r2 = p.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0 + 500, { handshakes: new Map([[B, T0 + 300]]) }));
    expect(r2.decisions[0].path).toBe('direct');
    expect(r2.changed).toBe(false);
    expect(r2.nextWakeAt).toBeNull();
    const r3 = p.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0 + o.deadlineMs + 1, { handshakes: new Map([[B, T0 + 300]]) }));
    expect(r3.decisions[0].path).toBe('direct');
  });

  it('falls back to the relay when a direct path shows no handshake within the deadline, then retries with backoff as an attempt', () => {
    const p = new PathPlanner();
    const peers = [{ key: B, name: 'b', nat: 'eim' as NatType }];
    p.plan(input(self, peers, T0));
    expect(p.plan(input(self, peers, T0 + o.deadlineMs - 1)).decisions[0].path).toBe('direct');
    const failed = p.plan(input(self, peers, T0 + o.deadlineMs));
    const retryAt = T0 + o.deadlineMs + o.retryBaseMs;
    expect(failed.decisions[0]).toMatchObject({ path: 'relayed', attempt: false, retryAt, cause: 'no-handshake', why: 'both-eim' });
    expect(failed.bases.get(B)).toEqual({ cause: 'no-handshake', path: 'relayed', attempt: false, why: { kind: 'both-eim' }, deadlineMs: o.deadlineMs, retryAt });
    expect(failed.changed).toBe(true);
    expect(failed.nextWakeAt).toBe(retryAt);

    const attempt = p.plan(input(self, peers, retryAt));
    expect(attempt.decisions[0]).toMatchObject({ path: 'relayed', attempt: true, retryAt: null, cause: 'retry' });
    expect(attempt.bases.get(B)).toMatchObject({ cause: 'retry', failures: 1 });
    expect(attempt.nextWakeAt).toBe(retryAt + o.deadlineMs);

    const second = p.plan(input(self, peers, retryAt + o.deadlineMs));
    expect(second.decisions[0]).toMatchObject({ path: 'relayed', attempt: false, retryAt: retryAt + o.deadlineMs + 2 * o.retryBaseMs });

    const t = retryAt + o.deadlineMs + 2 * o.retryBaseMs;
    p.plan(input(self, peers, t));
    const ok = p.plan(input(self, peers, t + 2000, { handshakes: new Map([[B, t + 1500]]) }));
    expect(ok.decisions[0]).toMatchObject({ path: 'direct', attempt: false, cause: 'handshake', why: 'both-eim', since: t + 2000 });
  });

  it('caps the backoff', () => {
    const p = new PathPlanner({ ...o, retryBaseMs: 1000, retryMaxMs: 4000 });
    const peers = [{ key: B, name: 'b', nat: 'edm' as NatType }];
    let now = T0;
    const waits: number[] = [];
    p.plan(input(self, peers, now));
    for (let i = 0; i < 5; i++) {
      now += o.deadlineMs;
      const failed = p.plan(input(self, peers, now)).decisions[0];
      waits.push(failed.retryAt! - now);
      now = failed.retryAt!;
      p.plan(input(self, peers, now));
    }
    expect(waits).toEqual([1000, 2000, 4000, 4000, 4000]);
  });

  it('relays while it tries direct when one side is endpoint-dependent, and goes direct on a handshake', () => {
    const p = new PathPlanner();
    const peers = [{ key: B, name: 'b', nat: 'edm' as NatType }];
    const first = p.plan(input(self, peers, T0)).decisions[0];
    expect(first).toMatchObject({ path: 'relayed', attempt: true, cause: 'rule', why: 'eim-edm' });
    const ok = p.plan(input(self, peers, T0 + 800, { handshakes: new Map([[B, T0 + 700]]) })).decisions[0];
    expect(ok).toMatchObject({ path: 'direct', attempt: false });
  });

  it('does not take the session from before a NAT change for a successful attempt', () => {
    // a-b direct with a live session; then b's NAT turns endpoint-dependent: the old session
    // (still fresh by time) may be dead, so the attempt waits for a new handshake.
    const p = new PathPlanner();
    p.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0, { handshakes: new Map([[B, T0 + 100]]) }));
    const changed = p.plan(input(self, [{ key: B, name: 'b', nat: 'edm' }], T0 + 60_000, { handshakes: new Map([[B, T0 + 100]]) }));
    expect(changed.decisions[0]).toMatchObject({ path: 'relayed', attempt: true });
    const failed = p.plan(input(self, [{ key: B, name: 'b', nat: 'edm' }], T0 + 60_000 + o.deadlineMs, { handshakes: new Map([[B, T0 + 100]]) }));
    expect(failed.decisions[0]).toMatchObject({ path: 'relayed', attempt: false, cause: 'no-handshake' });
    // A handshake after the change is a path, as before.
    const p2 = new PathPlanner();
    p2.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0, { handshakes: new Map([[B, T0 + 100]]) }));
    p2.plan(input(self, [{ key: B, name: 'b', nat: 'edm' }], T0 + 60_000, { handshakes: new Map([[B, T0 + 100]]) }));
    expect(p2.plan(input(self, [{ key: B, name: 'b', nat: 'edm' }], T0 + 61_000, { handshakes: new Map([[B, T0 + 60_000]]) })).decisions[0]).toMatchObject({ path: 'direct', attempt: false });
  });

  it('waits, relayed, for the NAT of a peer that has not classified yet when its own is endpoint-dependent', () => {
    const p = new PathPlanner();
    const waiting = p.plan(input({ key: A, name: 'a', nat: 'edm' }, [{ key: B, name: 'b' }], T0)).decisions[0];
    expect(waiting).toMatchObject({ path: 'relayed', attempt: false, retryAt: null, cause: 'rule', why: 'edm-unknown' });
    expect(p.plan(input({ key: A, name: 'a', nat: 'edm' }, [{ key: B, name: 'b', nat: 'eim' }], T0 + 100)).decisions[0]).toMatchObject({ attempt: true, since: T0 + 100 });
  });

  it('relays both endpoint-dependent pairs without retrying, until a NAT changes', () => {
    const p = new PathPlanner();
    const edm = { key: A, name: 'a', nat: 'edm' as NatType };
    const r = p.plan(input(edm, [{ key: B, name: 'b', nat: 'edm' }], T0));
    expect(r.decisions[0]).toMatchObject({ path: 'relayed', attempt: false, retryAt: null, cause: 'rule', why: 'both-edm' });
    expect(r.nextWakeAt).toBeNull();
    expect(p.plan(input(edm, [{ key: B, name: 'b', nat: 'edm' }], T0 + 3_600_000)).decisions[0].path).toBe('relayed');
    const changed = p.plan(input({ ...edm, nat: 'eim' }, [{ key: B, name: 'b', nat: 'eim' }], T0 + 3_600_001));
    expect(changed.decisions[0]).toMatchObject({ path: 'direct', cause: 'rule', why: 'both-eim', since: T0 + 3_600_001 });
    expect(changed.changed).toBe(true);
  });

  it('keeps a working direct pair direct when a NAT gets classified, and relays when its handshakes stop', () => {
    const p = new PathPlanner();
    p.plan(input(self, [{ key: B, name: 'b' }], T0, { handshakes: new Map([[B, T0 + 100]]) }));
    const classified = p.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0 + 5000, { handshakes: new Map([[B, T0 + 100]]) }));
    expect(classified.decisions[0]).toMatchObject({ path: 'direct', cause: 'rule', why: 'both-eim' });
    expect(classified.nextWakeAt).toBeNull();
    const stale = p.plan(input(self, [{ key: B, name: 'b', nat: 'eim' }], T0 + 100 + o.staleHandshakeMs + 1, { handshakes: new Map([[B, T0 + 100]]) }));
    expect(stale.decisions[0]).toMatchObject({ path: 'relayed', attempt: false, cause: 'handshakes-stopped' });
    expect(stale.bases.get(B)).toMatchObject({ silentMs: o.staleHandshakeMs });
  });

  it('keeps the deadline running when a NAT gets classified into the same kind of rule, rewording the reason', () => {
    const p = new PathPlanner();
    const edmSelf = { key: A, name: 'a', nat: 'edm' as NatType };
    const first = p.plan(input(edmSelf, [{ key: B, name: 'b', nat: 'unknown' }], T0)).decisions[0];
    expect(first).toMatchObject({ path: 'relayed', attempt: true, since: T0, cause: 'rule', why: 'edm-unknown' });
    const classified = p.plan(input(edmSelf, [{ key: B, name: 'b', nat: 'eim' }], T0 + 1500));
    expect(classified.decisions[0]).toMatchObject({ attempt: true, since: T0, cause: 'rule', why: 'eim-edm' });
    expect(classified.bases.get(B)).toMatchObject({ why: { kind: 'eim-edm', eim: 'b', edm: 'a' }, deadlineMs: o.deadlineMs });
    expect(classified.nextWakeAt).toBe(T0 + o.deadlineMs);
    expect(p.plan(input(edmSelf, [{ key: B, name: 'b', nat: 'eim' }], T0 + o.deadlineMs)).decisions[0]).toMatchObject({ path: 'relayed', attempt: false, retryAt: T0 + o.deadlineMs + o.retryBaseMs });
  });

  it('forgets pairs whose peer left, and starts them over when they come back', () => {
    const p = new PathPlanner();
    const peers = [{ key: B, name: 'b', nat: 'eim' as NatType }];
    p.plan(input(self, peers, T0));
    p.plan(input(self, peers, T0 + o.deadlineMs)); // relayed now
    const gone = p.plan(input(self, [], T0 + o.deadlineMs + 1));
    expect(gone).toMatchObject({ decisions: [], changed: true, nextWakeAt: null });
    const back = p.plan(input(self, peers, T0 + o.deadlineMs + 2)).decisions[0];
    expect(back).toMatchObject({ path: 'direct', since: T0 + o.deadlineMs + 2 });
  });
});

describe('PathPlanner, following a pair', () => {
  const self = { key: C, name: 'c', nat: 'eim' as NatType };

  it("uses the rule's first step until the leader's decision arrives, then copies it", () => {
    const p = new PathPlanner();
    const peers = [{ key: A, name: 'a', nat: 'edm' as NatType }];
    const before = p.plan(input(self, peers, T0)).decisions[0];
    expect(before).toMatchObject({ peer: A, path: 'relayed', attempt: true });
    const leader: PathDecision = { peer: C, path: 'relayed', attempt: false, reason: 'relayed: no handshake in 10s on direct, retry at X', retryAt: T0 + 40_000, since: T0 + 10_000 };
    const after = p.plan(input(self, peers, T0 + 10_100, { leaderDecisions: new Map([[A, leader]]) }));
    expect(after.decisions[0]).toEqual({ peer: A, peerName: 'a', path: 'relayed', attempt: false, reason: expect.any(String), retryAt: T0 + 40_000, since: T0 + 10_000 });
    expect(after.bases.get(A)).toEqual({ cause: 'leader', leaderName: 'a', leaderReason: leader.reason });
    expect(after.changed).toBe(true);
    // The follower runs no clock of its own for the pair: the leader moves it.
    expect(after.nextWakeAt).toBeNull();
    expect(p.plan(input(self, peers, T0 + 60_000, { leaderDecisions: new Map([[A, leader]]) })).changed).toBe(false);
  });

  it("keeps the first step's since until the leader's decision arrives (nothing changed, nothing to publish)", () => {
    const p = new PathPlanner();
    const peers = [{ key: A, name: 'a', nat: 'edm' as NatType }];
    expect(p.plan(input(self, peers, T0)).decisions[0]).toMatchObject({ attempt: true, since: T0 });
    const later = p.plan(input(self, peers, T0 + 60_000));
    expect(later.decisions[0]).toMatchObject({ attempt: true, since: T0 });
    expect(later.changed).toBe(false);
    expect(p.plan(input(self, [{ key: A, name: 'a', nat: 'eim' }], T0 + 61_000)).decisions[0]).toMatchObject({ path: 'direct', since: T0 + 61_000 });
  });

  it('decides the same first step on both ends of a pair', () => {
    for (const [na, nb] of [['eim', 'eim'], ['eim', 'edm'], ['edm', 'edm'], ['none', 'edm'], [undefined, 'edm']] as Array<[NatType | undefined, NatType | undefined]>) {
      const leader = new PathPlanner().plan(input({ key: A, name: 'a', nat: na }, [{ key: C, name: 'c', nat: nb }], T0)).decisions[0];
      const follower = new PathPlanner().plan(input({ key: C, name: 'c', nat: nb }, [{ key: A, name: 'a', nat: na }], T0)).decisions[0];
      expect([follower.path, follower.attempt]).toEqual([leader.path, leader.attempt]);
    }
  });
});

describe('PathPlanner: punches, techniques and their counters', () => {
  const eim = { key: A, name: 'a', nat: 'eim' as NatType };
  const edmPeer = [{ key: B, name: 'b', nat: 'edm' as NatType }];
  const prediction = { technique: 'prediction' as const, detail: 'punched at predicted ports (b allocates sequentially, step +1)' };

  it('every attempt is a punch; the outcome goes into the reason, the technique into the decision, and a handshake makes it direct', () => {
    const p = new PathPlanner();
    const first = p.plan(input(eim, edmPeer, T0)).decisions[0];
    expect(first).toMatchObject({ path: 'relayed', attempt: true, technique: 'punch', cause: 'rule', why: 'eim-edm' });
    expect(p.punched(B, T0, prediction)).toBe(true);
    expect(p.punched(B, T0, prediction)).toBe(false); // once per attempt
    const punched = p.plan(input(eim, edmPeer, T0 + 100));
    expect(punched.changed).toBe(true);
    expect(punched.decisions[0]).toMatchObject({ attempt: true, technique: 'prediction', cause: 'rule' });
    expect(punched.bases.get(B)).toMatchObject({ cause: 'rule', punch: prediction });
    expect(punched.techniques.prediction).toEqual({ attempts: 1, successes: 0, failures: 0 });
    const direct = p.plan(input(eim, edmPeer, T0 + 300, { handshakes: new Map([[B, T0 + 200]]) }));
    expect(direct.decisions[0]).toMatchObject({ path: 'direct', attempt: false, technique: 'prediction', cause: 'handshake' });
    expect(direct.bases.get(B)).toMatchObject({ why: { kind: 'eim-edm' }, punch: prediction });
    expect(direct.techniques).toEqual({ direct: { attempts: 0, successes: 0, failures: 0 }, punch: { attempts: 0, successes: 0, failures: 0 }, prediction: { attempts: 1, successes: 1, failures: 0 } });
  });

  it('a handshake before the punch reported: direct at once, the punch’s outcome recorded when it comes', () => {
    const p = new PathPlanner();
    p.plan(input(eim, edmPeer, T0));
    const early = p.plan(input(eim, edmPeer, T0 + 50, { handshakes: new Map([[B, T0 + 40]]) }));
    expect(early.decisions[0]).toMatchObject({ path: 'direct', technique: 'punch', cause: 'handshake' });
    expect(early.bases.get(B)).not.toHaveProperty('punch'); // not reported yet
    expect(early.techniques.punch).toEqual({ attempts: 1, successes: 1, failures: 0 });
    expect(p.punched(B, T0, prediction)).toBe(true);
    const late = p.plan(input(eim, edmPeer, T0 + 60, { handshakes: new Map([[B, T0 + 40]]) }));
    expect(late.changed).toBe(true);
    expect(late.decisions[0]).toMatchObject({ path: 'direct', technique: 'prediction', cause: 'handshake' });
    expect(late.bases.get(B)).toMatchObject({ punch: prediction });
    expect(late.techniques).toMatchObject({ punch: { attempts: 0, successes: 0, failures: 0 }, prediction: { attempts: 1, successes: 1, failures: 0 } });
    expect(p.punched(B, T0, prediction)).toBe(false); // once
  });

  it('a punched attempt without a handshake fails with its detail and is counted; the retry is a new attempt to punch', () => {
    const p = new PathPlanner();
    p.plan(input(eim, edmPeer, T0));
    const random = { technique: 'punch' as const, detail: 'punched at the registry-observed endpoint (b allocates ports randomly)' };
    p.punched(B, T0, random);
    const failed = p.plan(input(eim, edmPeer, T0 + o.deadlineMs));
    expect(failed.decisions[0]).toMatchObject({ path: 'relayed', attempt: false, cause: 'no-handshake' });
    expect(failed.bases.get(B)).toMatchObject({ cause: 'no-handshake', punch: random });
    expect(failed.decisions[0]).not.toHaveProperty('technique');
    expect(failed.techniques.punch).toEqual({ attempts: 1, successes: 0, failures: 1 });
    expect(p.punched(B, T0, prediction)).toBe(false); // that attempt is over
    const retry = p.plan(input(eim, edmPeer, T0 + o.deadlineMs + o.retryBaseMs)).decisions[0];
    expect(retry).toMatchObject({ attempt: true, technique: 'punch', since: T0 + o.deadlineMs + o.retryBaseMs });
    // An attempt that ends before its punch was reported still counts, as a punch.
    expect(p.plan(input(eim, edmPeer, retry.since + o.deadlineMs)).techniques.punch).toEqual({ attempts: 2, successes: 0, failures: 2 });
  });

  it('counts direct pairs by their first handshake or their deadline, once', () => {
    const p = new PathPlanner();
    const peers = [{ key: B, name: 'b', nat: 'eim' as NatType }, { key: C, name: 'c', nat: 'eim' as NatType }];
    expect(p.plan(input(eim, peers, T0)).techniques.direct).toEqual({ attempts: 2, successes: 0, failures: 0 });
    p.plan(input(eim, peers, T0 + 100, { handshakes: new Map([[B, T0 + 50]]) }));
    const later = p.plan(input(eim, peers, T0 + o.deadlineMs, { handshakes: new Map([[B, T0 + 50]]) }));
    expect(later.decisions.map((d) => d.path)).toEqual(['direct', 'relayed']);
    expect(later.techniques.direct).toEqual({ attempts: 2, successes: 1, failures: 1 });
    expect(later.decisions[0]).not.toHaveProperty('technique'); // registry-observed endpoints
  });

  it('with a sequential NAT of its own, a leader tries a pair that is endpoint-dependent on both sides', () => {
    const p = new PathPlanner();
    const d = p.plan(input({ ...eim, nat: 'edm' }, edmPeer, T0, { self: { publicKey: A, name: 'a', nat: 'edm', portStep: 1 } })).decisions[0];
    expect(d).toMatchObject({ attempt: true, technique: 'punch', cause: 'rule', why: 'sequential' });
  });

  it('a follower copies the technique of the leader’s decision', () => {
    const p = new PathPlanner();
    const leader: PathDecision = { peer: C, path: 'direct', attempt: false, reason: 'direct: handshake on a direct attempt (…)', retryAt: null, since: T0, technique: 'prediction' };
    const r = p.plan(input({ key: C, name: 'c', nat: 'eim' }, [{ key: A, name: 'a', nat: 'edm' }], T0 + 1, { leaderDecisions: new Map([[A, { ...leader, cause: 'handshake', why: 'eim-edm' }]]) }));
    expect(r.decisions[0]).toMatchObject({ path: 'direct', technique: 'prediction', cause: 'handshake', why: 'eim-edm' });
    expect(r.bases.get(A)).toEqual({ cause: 'leader', leaderName: 'a', leaderReason: leader.reason });
  });
});

describe('PathPlanner: never dialling before the NAT is known', () => {
  it('decides nothing while this node’s NAT is first classified (the device keeps what it has), then decides', () => {
    const p = new PathPlanner();
    const peers = [{ key: B, name: 'b', nat: 'eim' as NatType }, { key: C, name: 'c', nat: 'edm' as NatType }];
    const waiting = p.plan(input({ key: A, name: 'a' }, peers, T0, { selfPending: true }));
    expect(waiting.decisions).toEqual([]);
    expect(waiting.nextWakeAt).toBeNull();
    expect(waiting.techniques.direct.attempts).toBe(0);
    const known = p.plan(input({ key: A, name: 'a', nat: 'eim' }, peers, T0 + 80));
    expect(known.decisions.map((d) => [d.path, d.attempt])).toEqual([['direct', false], ['relayed', true]]);
  });

  it('behind an endpoint-dependent NAT, does not copy a plain direct decision of a leader that is not public', () => {
    const p = new PathPlanner();
    const plain: PathDecision = { peer: C, path: 'direct', attempt: false, reason: "direct: c's NAT is not known yet", retryAt: null, since: T0 };
    const self = { key: C, name: 'c', nat: 'edm' as NatType };
    const fromEim = p.plan(input(self, [{ key: A, name: 'a', nat: 'eim' }], T0 + 1, { leaderDecisions: new Map([[A, plain]]) })).decisions[0];
    expect(fromEim).toMatchObject({ path: 'relayed', attempt: true, technique: 'punch', cause: 'rule', why: 'eim-edm' });
    const fromPublic = p.plan(input(self, [{ key: A, name: 'a', nat: 'none' }], T0 + 2, { leaderDecisions: new Map([[A, plain]]) }));
    expect(fromPublic.decisions[0]).toMatchObject({ path: 'direct' });
    expect(fromPublic.bases.get(A)).toMatchObject({ cause: 'leader', leaderReason: plain.reason });
    const punched = p.plan(input(self, [{ key: A, name: 'a', nat: 'eim' }], T0 + 3, { leaderDecisions: new Map([[A, { ...plain, technique: 'prediction' }]]) })).decisions[0];
    expect(punched).toMatchObject({ path: 'direct', technique: 'prediction' });
  });
});

describe('PathPlanner: a restart keeps the sessions that are up', () => {
  const live = new Map([[B, T0 - 30_000]]);

  it('a pair a punch had opened (not plainly direct) stays direct, its endpoint left to the device', () => {
    const p = new PathPlanner();
    const d = p.plan(input({ key: A, name: 'a', nat: 'eim' }, [{ key: B, name: 'b', nat: 'edm' }], T0, { handshakes: live })).decisions[0];
    expect(d).toMatchObject({ path: 'direct', attempt: false, technique: 'punch', cause: 'session-up', why: 'eim-edm' });
    // … and follows the handshakes from there: when they stop, relayed and retried.
    const stale = p.plan(input({ key: A, name: 'a', nat: 'eim' }, [{ key: B, name: 'b', nat: 'edm' }], T0 + o.staleHandshakeMs, { handshakes: live })).decisions[0];
    expect(stale).toMatchObject({ path: 'relayed', cause: 'handshakes-stopped' });
  });

  it('a follower does the same until its leader’s decision arrives', () => {
    const p = new PathPlanner();
    const d = p.plan(input({ key: C, name: 'c', nat: 'edm' }, [{ key: B, name: 'b', nat: 'eim' }], T0, { handshakes: new Map([[B, T0 - 1000]]) })).decisions[0];
    expect(d).toMatchObject({ path: 'direct', technique: 'punch', cause: 'session-up', why: 'eim-edm' });
  });

  it('a plainly direct pair is direct as usual, registry-observed endpoints and all', () => {
    const p = new PathPlanner();
    const d = p.plan(input({ key: A, name: 'a', nat: 'eim' }, [{ key: B, name: 'b', nat: 'eim' }], T0, { handshakes: live }));
    expect(d.decisions[0]).toMatchObject({ path: 'direct', cause: 'rule', why: 'both-eim' });
    expect(d.decisions[0]).not.toHaveProperty('technique');
    expect(d.techniques.direct).toEqual({ attempts: 1, successes: 1, failures: 0 });
  });
});

describe('pathSentence (the decisions in words, as shown)', () => {
  const eimEdm: RuleWhy = { kind: 'eim-edm', eim: 'a', edm: 'b' };
  const punch = { technique: 'prediction' as const, detail: 'port prediction: a at predicted ports 40001-40005 (step +1), b at its registry-observed endpoint' };
  const retryAt = Date.UTC(2026, 0, 2, 3, 4, 5);
  it.each([
    [{ kind: 'both-eim' }, 'both endpoint-independent'],
    [{ kind: 'both-edm' }, 'both endpoint-dependent'],
    [{ kind: 'public', side: 'b' }, 'b has a public address'],
    [{ kind: 'sequential', sequential: [{ name: 'a', step: 2 }, { name: 'b', step: -1 }] }, 'both endpoint-dependent, a allocates ports sequentially (step +2), b allocates ports sequentially (step -1)'],
    [eimEdm, 'a is endpoint-independent, b endpoint-dependent'],
    [{ kind: 'edm-unknown', edm: 'b', unknown: [{ name: 'a' }] }, "b is endpoint-dependent, a's NAT is not known yet"],
    [{ kind: 'unknown', unknown: [{ name: 'a', nat: 'unknown' }, { name: 'b' }] }, "a has a NAT that could not be classified, b's NAT is not known yet"],
  ] as Array<[RuleWhy, string]>)('rule %o: %s', (why, text) => {
    expect(ruleSentence(why)).toBe(text);
  });
  it.each([
    [{ cause: 'rule', path: 'direct', attempt: false, why: eimEdm, deadlineMs: 10_000 }, 'direct: a is endpoint-independent, b endpoint-dependent'],
    [{ cause: 'rule', path: 'relayed', attempt: false, why: { kind: 'both-edm' }, deadlineMs: 10_000 }, 'relayed: both endpoint-dependent'],
    [{ cause: 'rule', path: 'relayed', attempt: true, why: eimEdm, deadlineMs: 10_000 }, 'relayed while trying direct: a is endpoint-independent, b endpoint-dependent (deadline 10s)'],
    [{ cause: 'rule', path: 'relayed', attempt: true, why: eimEdm, deadlineMs: 10_000, punch }, `relayed while trying direct: a is endpoint-independent, b endpoint-dependent; ${punch.detail} (deadline 10s)`],
    [{ cause: 'session-up', path: 'direct', attempt: false, why: eimEdm }, 'direct: a session was up already (a is endpoint-independent, b endpoint-dependent)'],
    [{ cause: 'handshake', path: 'direct', attempt: false, why: eimEdm }, 'direct: handshake on a direct attempt (a is endpoint-independent, b endpoint-dependent)'],
    [{ cause: 'handshake', path: 'direct', attempt: false, why: eimEdm, punch }, `direct: handshake on a direct attempt (a is endpoint-independent, b endpoint-dependent; ${punch.detail})`],
    [{ cause: 'retry', path: 'relayed', attempt: true, why: eimEdm, failures: 1 }, 'relayed: trying direct again (after 1 failed attempt)'],
    [{ cause: 'retry', path: 'relayed', attempt: true, why: eimEdm, failures: 3, punch }, `relayed: trying direct again (after 3 failed attempts); ${punch.detail}`],
    [{ cause: 'no-handshake', path: 'relayed', attempt: false, why: eimEdm, deadlineMs: 10_000, retryAt }, 'relayed: no handshake in 10s on direct, retry at 2026-01-02T03:04:05.000Z'],
    [{ cause: 'no-handshake', path: 'relayed', attempt: false, why: eimEdm, deadlineMs: 10_000, retryAt, punch }, `relayed: no handshake in 10s on direct (${punch.detail}), retry at 2026-01-02T03:04:05.000Z`],
    [{ cause: 'handshakes-stopped', path: 'relayed', attempt: false, why: eimEdm, silentMs: 205_000, retryAt }, 'relayed: direct handshakes stopped (none for 205s), retry at 2026-01-02T03:04:05.000Z'],
    [{ cause: 'leader', leaderName: 'a', leaderReason: 'relayed: both endpoint-dependent' }, 'relayed: both endpoint-dependent (decided by a)'],
  ] as Array<[PathBasis, string]>)('decision %o: %s', (basis, text) => {
    expect(pathSentence(basis)).toBe(text);
  });
});
