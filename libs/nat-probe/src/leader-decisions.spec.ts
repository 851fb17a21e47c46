import type { PathDecision, PathReport } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { LeaderDecisions, LeaderDecisionsOptions, LeaderRef } from './leader-decisions';

// Keys sort B < D < M < U: this node (M) follows b and d, and leads u.
const k = (c: string) => c.repeat(43) + '=';
const SELF = k('M');
const b: LeaderRef = { name: 'b', publicKey: k('B') };
const d: LeaderRef = { name: 'd', publicKey: k('D') };
const u: LeaderRef = { name: 'u', publicKey: k('U') };
const log = createLogger({ service: 'test', level: 'error' });

const decision = (path: PathDecision['path'], since = 1): PathDecision => ({ peer: SELF, path, attempt: false, reason: `${path}: test`, retryAt: null, since });
const report = (from: LeaderRef, at: number, ...decisions: PathDecision[]): PathReport => ({ node: from.name, publicKey: from.publicKey, nat: 'eim', decisions, at });

function make(ask: LeaderDecisionsOptions['ask'], o: Partial<LeaderDecisionsOptions> = {}) {
  const changes: number[] = [];
  const leaders = new LeaderDecisions({ self: SELF, ask, changed: () => changes.push(changes.length), log, retryMs: [5, 5], ...o });
  return { leaders, changes };
}

describe('LeaderDecisions: what the leaders of this node’s pairs decided about it', () => {
  it('keeps the decision about this node from a leader’s report, newest `at` first', () => {
    const { leaders, changes } = make(async () => 'absent');
    expect(leaders.accept(report(b, 10, decision('direct')))).toBe(true);
    expect(leaders.map.get(b.publicKey)?.path).toBe('direct');
    // Repeated (the 30 s republication): no change, no re-plan.
    expect(leaders.accept(report(b, 11, decision('direct')))).toBe(false);
    // An older report (a reply that crossed a newer event) changes nothing.
    expect(leaders.accept(report(b, 9, decision('relayed')))).toBe(false);
    expect(leaders.map.get(b.publicKey)?.path).toBe('direct');
    // A newer report without a decision about this node takes it away.
    expect(leaders.accept(report(b, 12))).toBe(true);
    expect(leaders.map.has(b.publicKey)).toBe(false);
    expect(changes).toHaveLength(2);
  });

  it('ignores reports of members that do not lead the pair, and its own', () => {
    const { leaders, changes } = make(async () => 'absent');
    expect(leaders.accept(report(u, 10, decision('relayed')))).toBe(false);
    expect(leaders.accept(report({ name: 'm', publicKey: SELF }, 10, decision('relayed')))).toBe(false);
    expect(leaders.map.size).toBe(0);
    expect(changes).toHaveLength(0);
  });

  it('asks every leader (and only leaders) for its decision now, a few at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const many = Array.from({ length: 20 }, (_, i) => ({ name: `l${i}`, publicKey: k('A').replace(/A=$/, `${String.fromCharCode(65 + i)}=`) }));
    const { leaders } = make(async (leader) => {
      asked.push(leader.name);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return report(leader, 5, decision('direct'));
    }, { concurrency: 4 });
    const result = await leaders.sync([...many, u, { name: 'm', publicKey: SELF }]);
    expect(result).toEqual({ asked: 20, answered: 20, absent: 0, failed: 0, superseded: false });
    expect(asked.sort()).toEqual(many.map((m) => m.name).sort());
    expect(most).toBe(4);
    expect(leaders.map.size).toBe(20);
  });

  it('takes a decision taken before it subscribed from the reply, and a later one from the event', async () => {
    let answer: PathReport | 'absent' = report(b, 100, decision('direct', 1));
    const { leaders } = make(async () => answer);
    await leaders.sync([b]);
    expect(leaders.map.get(b.publicKey)?.since).toBe(1);
    leaders.accept(report(b, 200, decision('relayed', 2)));
    // A reply built before that event, arriving after it, does not undo it.
    answer = report(b, 150, decision('direct', 1));
    await leaders.sync([b]);
    expect(leaders.map.get(b.publicKey)).toMatchObject({ path: 'relayed', since: 2 });
  });

  it('counts leaders without a nat-probe as absent, and retries failures a few times', async () => {
    const calls = new Map<string, number>();
    const { leaders } = make(async (leader) => {
      calls.set(leader.name, (calls.get(leader.name) ?? 0) + 1);
      if (leader.name === 'b') return 'absent';
      if ((calls.get('d') ?? 0) < 3) throw new Error('timeout');
      return report(d, 5, decision('relayed'));
    });
    expect(await leaders.sync([b, d])).toEqual({ asked: 2, answered: 1, absent: 1, failed: 0, superseded: false });
    expect(calls.get('d')).toBe(3);
    expect(leaders.map.get(d.publicKey)?.path).toBe('relayed');
    // Always failing: given up after the retries (the leader's next report brings it).
    const failing = make(async () => {
      throw new Error('timeout');
    });
    expect(await failing.leaders.sync([b])).toMatchObject({ answered: 0, failed: 1 });
  });

  it("refuses a reply that is not from the leader's key", async () => {
    const { leaders } = make(async () => report({ name: 'b', publicKey: k('A') }, 5, decision('relayed')));
    expect(await leaders.sync([b])).toMatchObject({ answered: 0, failed: 1 });
    expect(leaders.map.size).toBe(0);
  });

  it('forgets members that left the table, and asks members new to it', async () => {
    const { leaders, changes } = make(async (leader) => report(leader, 5, decision('direct')));
    await leaders.sync([b, d]);
    expect(leaders.map.size).toBe(2);
    await leaders.sync([d]);
    expect([...leaders.map.keys()]).toEqual([d.publicKey]);
    leaders.forget(d.publicKey);
    expect(leaders.map.size).toBe(0);
    expect(await leaders.ask([b, u])).toMatchObject({ asked: 1, answered: 1 });
    expect(leaders.map.has(b.publicKey)).toBe(true);
    expect(changes.length).toBe(5);
  });

  it('stops a sync that a newer one (or stop) supersedes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { leaders } = make(async (leader) => {
      await gate;
      return report(leader, 5, decision('direct'));
    });
    const first = leaders.sync([b, d]);
    const second = leaders.sync([b, d]);
    release();
    expect((await first).superseded).toBe(true);
    expect(await second).toMatchObject({ answered: 2, superseded: false });
    const failing = make(async () => {
      throw new Error('timeout');
    }, { retryMs: [60_000] });
    const waiting = failing.leaders.sync([b]);
    await new Promise((r) => setTimeout(r, 10));
    failing.leaders.stop();
    expect((await waiting).superseded).toBe(true);
  });
});
