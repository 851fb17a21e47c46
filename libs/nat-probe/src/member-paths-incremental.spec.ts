import type { NatType, PathDecision, PeerRecord, PunchTechnique } from '@wgmesh/contracts';
import { DEFAULT_PLANNER_OPTIONS, leads } from './decide';
import { DueTimes } from './due-times';
import { LeaderDecisions } from './leader-decisions';
import { FIRST_CLASSIFICATION_WAIT_MS, MemberPaths, MemberPlanStep } from './member-paths';
import { createLogger } from '@wgmesh/log';

const T0 = 1_700_000_000_000;
const o = DEFAULT_PLANNER_OPTIONS;
const key = (i: number) => `K${String(i).padStart(3, '0')}`.padEnd(43, 'x') + '=';

/** A small seeded generator (mulberry32): the same seed, the same sequence of changes. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}

const NATS: Array<NatType | undefined> = [undefined, 'eim', 'edm', 'none', 'unknown'];
const TECHNIQUES: PunchTechnique[] = ['punch', 'prediction'];

function summary(step: MemberPlanStep) {
  return {
    nextWakeAt: step.nextWakeAt,
    punch: step.punch.map((d) => [d.peer, d.since]),
    changed: step.changed === null ? null : step.changed.map((d) => [d.peer, d.path, d.attempt, d.reason]),
  };
}

describe('MemberPaths, incremental', () => {
  // After every random batch of changes, the member fed only the changes decides exactly what a
  // member deciding every pair (a full table reset and the whole device state at each step) does.
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('equals deciding every pair at every step (seed %i)', (seed) => {
    const r = rng(seed);
    const N = 14;
    const selfIndex = 3 + r.int(N - 6);
    const self = key(selfIndex);
    const registry = key(N);
    const opts = { self: { publicKey: self, name: 'self' }, registryKey: registry, startedAt: T0, planner: { ...o, retryBaseMs: 20_000, retryMaxMs: 80_000 } };
    const inc = new MemberPaths(opts);
    const ref = new MemberPaths(opts);
    const table = new Map<string, PeerRecord>();
    const handshakes = new Map<string, number>();
    let now = T0;
    const both = (f: (m: MemberPaths) => unknown) => {
      const a = f(inc);
      const b = f(ref);
      expect(a).toEqual(b);
    };
    const record = (i: number): PeerRecord => ({
      publicKey: key(i),
      ...(r.next() < 0.9 ? { name: r.pick([`m${i}`, `m${i}-renamed`]) } : {}),
      allowedIps: r.next() < 0.05 ? [] : [`10.0.0.${i}/32`],
      endpoint: r.next() < 0.1 ? null : `192.0.2.${i}:${r.pick([51820, 40000])}`,
      ...(() => {
        const nat = r.pick(NATS);
        return nat === undefined ? {} : { nat };
      })(),
    });
    const change = (c: Parameters<MemberPaths['table']>[0]) => {
      if (c.type === 'reset') {
        table.clear();
        for (const p of c.peers) table.set(p.publicKey, p);
      } else if (c.type === 'upsert') table.set(c.peer.publicKey, c.peer);
      else table.delete(c.publicKey);
      inc.table(c);
    };
    const state = () => ({ peers: [...handshakes].map(([publicKey, ms]) => ({ publicKey, latestHandshake: ms / 1000 })) as never });
    change({ type: 'reset', peers: Array.from({ length: N + 1 }, (_, i) => record(i)) });
    /** The device's handshakes as the incremental member last observed them. */
    let seen = new Map<string, number>();

    for (let step = 0; step < 400; step++) {
      for (let ops = 1 + r.int(3); ops > 0; ops--) {
        const x = r.next();
        const i = r.int(N + 1);
        if (x < 0.22) change({ type: 'upsert', peer: record(i) });
        else if (x < 0.27) change({ type: 'remove', publicKey: key(i) });
        else if (x < 0.3) change({ type: 'reset', peers: [...table.values()].filter(() => r.next() < 0.95) });
        else if (x < 0.34) {
          const nat = r.pick(NATS.filter((n): n is NatType => n !== undefined));
          const classification = { nat, ...(r.next() < 0.3 ? { portStep: r.pick([1, 2, -1]) } : {}) };
          both((m) => m.classified(classification));
        } else if (x < 0.55) {
          const y = r.next();
          if (y < 0.15) handshakes.delete(key(i));
          else if (y < 0.25) handshakes.set(key(i), 0);
          else handshakes.set(key(i), Math.floor((now - r.int(300_000)) / 1000) * 1000);
        } else if (x < 0.7) {
          const leader = key(r.int(selfIndex + 1));
          const d: PathDecision | undefined =
            r.next() < 0.2
              ? undefined
              : {
                  peer: self,
                  path: r.pick(['direct', 'relayed'] as const),
                  attempt: r.next() < 0.4,
                  reason: r.pick(['relayed: both endpoint-dependent', 'direct: both endpoint-independent', 'relayed while trying direct: …']),
                  retryAt: r.next() < 0.3 ? now + r.int(100_000) : null,
                  since: now - r.int(50_000),
                  ...(r.next() < 0.5 ? { technique: r.pick(TECHNIQUES) } : {}),
                };
          both((m) => m.leader(leader, d));
        } else if (x < 0.82) {
          const attempts = inc.decisions().filter((d) => d.attempt && leads(self, d.peer));
          const target = attempts.length > 0 && r.next() < 0.85 ? r.pick(attempts) : { peer: key(i), since: now - r.int(20_000) };
          const outcome = { technique: r.pick(TECHNIQUES), detail: `punched ${r.int(5)}`, ...(r.next() < 0.5 ? { aim: '192.0.2.1:1' } : {}) };
          both((m) => m.punched(target.peer, target.since, outcome));
        }
      }
      const dt = r.next();
      now += dt < 0.5 ? r.int(2000) : dt < 0.85 ? r.int(15_000) : dt < 0.97 ? r.int(120_000) : r.int(400_000);
      if (step === 0) now = T0 + r.int(FIRST_CLASSIFICATION_WAIT_MS);

      // The incremental member gets the device state as updates (what changed since the last
      // one), every other step; the reference walks the whole state.
      if (step % 2 === 0) inc.observe(state());
      else {
        const changed = [...handshakes].filter(([k, ms]) => seen.get(k) !== ms).map(([publicKey, ms]) => ({ publicKey, latestHandshake: ms / 1000 }));
        inc.observeChanges(changed, [...seen.keys()].filter((k) => !handshakes.has(k)));
      }
      seen = new Map(handshakes);
      const a = inc.plan({ now });
      // The reference: the whole table and device state again, every pair decided.
      ref.table({ type: 'reset', peers: [...table.values()] });
      ref.observe(state());
      const b = ref.plan({ now });

      expect(summary(a)).toEqual(summary(b));
      expect(inc.decisions()).toEqual(ref.decisions());
      expect(inc.pathCounts()).toEqual(ref.pathCounts());
      expect(inc.techniques()).toEqual(ref.techniques());
      // What is published: the update (of the decisions decided since the last one, compared
      // with what was sent) and the decisions addressed to followers, as from every pair.
      const unstamped = (m: MemberPaths) => {
        const out = m.outgoing(now);
        return { update: out.update && { ...out.update, at: 0 }, addressed: out.addressed.map((x) => ({ ...x, report: { ...x.report, at: 0 } })) };
      };
      expect(unstamped(inc)).toEqual(unstamped(ref));
      const resent = (m: MemberPaths) => m.resend(now).map((x) => ({ ...x, report: { ...x.report, at: 0 } }));
      expect(resent(inc)).toEqual(resent(ref));
      expect({ ...inc.current(now), at: 0 }).toEqual({ ...ref.current(now), at: 0 });
    }
  });

  describe('work per change', () => {
    const N = 1000;
    const self = key(500);
    const peers = Array.from({ length: N + 1 }, (_, i): PeerRecord => ({ publicKey: key(i), name: `m${i}`, allowedIps: [`10.0.${i >> 8}.${i & 255}/32`], endpoint: `192.0.2.1:${10000 + i}`, nat: i % 3 === 0 ? 'edm' : 'eim' }));
    function setup() {
      const decided: string[] = [];
      const m = new MemberPaths({ self: { publicKey: self, name: 'm500' }, registryKey: 'R'.repeat(43) + '=', startedAt: T0, onDecide: (k) => decided.push(k) });
      m.classified({ nat: 'eim' });
      m.table({ type: 'reset', peers });
      m.plan({ now: T0 + 100 });
      expect(decided).toHaveLength(N);
      expect(m.decisions()).toHaveLength(N);
      decided.length = 0;
      return { m, decided };
    }

    it('decides O(1) pairs for one peer record, one handshake, one leader decision or one punch', () => {
      const { m, decided } = setup();
      m.table({ type: 'upsert', peer: { ...peers[7], nat: 'edm' } });
      expect(m.plan({ now: T0 + 200 }).changed!.map((d) => d.peer)).toEqual([key(7)]);
      expect(decided).toEqual([key(7)]);
      decided.length = 0;

      m.table({ type: 'upsert', peer: { ...peers[8], endpoint: '192.0.2.9:1' } }); // what a pair does not rest on: nothing to decide
      m.plan({ now: T0 + 250 });
      expect(decided).toEqual([]);

      const device = peers.map((p) => ({ publicKey: p.publicKey, latestHandshake: 0 }));
      m.observe({ peers: device as never });
      m.plan({ now: T0 + 300 });
      decided.length = 0;
      device[900] = { publicKey: key(900), latestHandshake: (T0 + 290) / 1000 };
      expect(m.observe({ peers: device as never })).toEqual([key(900)]);
      expect(m.plan({ now: T0 + 400 }).changed!.map((d) => [d.peer, d.path])).toEqual([[key(900), 'direct']]);
      expect(decided).toEqual([key(900)]);
      decided.length = 0;

      m.leader(key(3), { peer: self, path: 'relayed', attempt: true, reason: 'relayed while trying direct', retryAt: null, since: T0, technique: 'punch' });
      m.plan({ now: T0 + 500 });
      expect(decided).toEqual([key(3)]);
      decided.length = 0;

      const attempt = m.decisions().find((d) => d.attempt && leads(self, d.peer))!;
      expect(m.punched(attempt.peer, attempt.since, { technique: 'prediction', detail: 'x' })).toBe(true);
      m.plan({ now: T0 + 600 });
      expect(decided).toEqual([attempt.peer]);
      decided.length = 0;

      m.table({ type: 'remove', publicKey: key(10) });
      expect(m.plan({ now: T0 + 700 }).changed).toEqual([]);
      expect(decided).toEqual([]);
      expect(m.decisions()).toHaveLength(N - 1);

      expect(m.plan({ now: T0 + 800 })).toMatchObject({ changed: null, punch: [] });
      expect(decided).toEqual([]);
    });

    it('decides every pair when this node’s NAT changes or the table is reloaded, and the due ones when their time comes', () => {
      const { m, decided } = setup();
      m.classified({ nat: 'edm' });
      m.plan({ now: T0 + 200 });
      expect(decided).toHaveLength(N);
      decided.length = 0;
      m.table({ type: 'reset', peers });
      m.plan({ now: T0 + 300 });
      expect(decided).toHaveLength(N);
      decided.length = 0;
      // Led attempts started at T0 + 200 (the NAT change: eim peers are "try" now): due at their deadline.
      const due = m.decisions().filter((d) => leads(self, d.peer) && d.attempt && d.since === T0 + 200).length;
      expect(due).toBeGreaterThan(0);
      const step = m.plan({ now: T0 + 200 + o.deadlineMs });
      expect(decided).toHaveLength(due);
      expect(step.nextWakeAt).toBe(T0 + 200 + o.deadlineMs + o.retryBaseMs);
    });
  });
});

describe('MemberPaths.observe', () => {
  it('reports the keys whose handshake changed, appeared or left the device (a key listed twice counts once)', () => {
    const m = new MemberPaths({ self: { publicKey: key(0), name: 's' }, registryKey: key(99), startedAt: T0 });
    const st = (...xs: Array<[number, number]>) => ({ peers: xs.map(([i, s]) => ({ publicKey: key(i), latestHandshake: s })) as never });
    expect(m.observe(st([1, 10], [2, 0]))).toEqual([key(1), key(2)]);
    expect(m.observe(st([1, 10], [2, 0], [1, 10]))).toEqual([]);
    expect(m.observe(st([1, 10], [1, 10]))).toEqual([key(2)]);
    expect(m.observe(st([1, 11], [3, 5]))).toEqual([key(1), key(3)]);
    expect(m.observe(st())).toEqual([key(1), key(3)]);
  });
});

describe('LeaderDecisions → MemberPaths', () => {
  it('names the leader whose decision changed, so that only its pair is decided again', () => {
    const self = key(5);
    const decided: string[] = [];
    const m = new MemberPaths({ self: { publicKey: self, name: 's' }, registryKey: key(99), startedAt: T0, onDecide: (k) => decided.push(k) });
    m.classified({ nat: 'eim' });
    m.table({ type: 'reset', peers: [1, 2, 5, 7].map((i) => ({ publicKey: key(i), name: `m${i}`, allowedIps: [`10.0.0.${i}/32`], endpoint: `192.0.2.${i}:1`, nat: 'eim' as const })) });
    m.plan({ now: T0 + 100 });
    decided.length = 0;
    const named: string[] = [];
    const leaders = new LeaderDecisions({ self, ask: async () => 'absent', changed: (leader) => {
      named.push(leader);
      m.leader(leader, leaders.map.get(leader));
    }, log: createLogger({ service: 'test', level: 'error' }) });
    const d: PathDecision = { peer: self, path: 'relayed', attempt: false, reason: 'relayed: both endpoint-dependent', retryAt: null, since: T0 };
    leaders.accept({ node: 'm2', publicKey: key(2), nat: 'edm', decisions: [d], at: 1 });
    expect(m.plan({ now: T0 + 200 }).changed!.map((x) => [x.peer, x.path])).toEqual([[key(2), 'relayed']]);
    leaders.forget(key(2));
    m.plan({ now: T0 + 300 });
    expect(named).toEqual([key(2), key(2)]);
    expect(decided).toEqual([key(2), key(2)]);
    expect(m.decisions().find((x) => x.peer === key(2))).toMatchObject({ path: 'direct' });
  });
});

describe('DueTimes', () => {
  it('hands out the keys due by now, earliest first, and only at their current time', () => {
    const d = new DueTimes();
    d.set('a', 30);
    d.set('b', 10);
    d.set('c', 20);
    d.set('b', 40); // moved: its entry at 10 no longer counts
    d.set('c', null);
    expect(d.next()).toBe(30);
    expect(d.takeDue(35)).toEqual(['a']);
    expect(d.next()).toBe(40);
    expect(d.takeDue(100)).toEqual(['b']);
    expect(d.next()).toBeNull();
    expect(d.size).toBe(0);
  });

  it('keeps its heap bounded when times keep moving', () => {
    const d = new DueTimes();
    for (let i = 0; i < 10_000; i++) d.set(`k${i % 10}`, 1_000_000 - i);
    expect(d.size).toBe(10);
    expect((d as unknown as { heap: unknown[] }).heap.length).toBeLessThanOrEqual(2 * 10 + 1025);
    expect(d.takeDue(1_000_000 - 9990)).toHaveLength(10);
  });
});
