import type { PathDecision, PeerRecord } from '@wgmesh/contracts';
import { DEFAULT_PLANNER_OPTIONS } from './decide';
import { FIRST_CLASSIFICATION_WAIT_MS, MemberPaths } from './member-paths';

// A < B < C < R: A leads its pairs, C follows them. R is the registry.
const A = 'A'.repeat(43) + '=';
const B = 'B'.repeat(43) + '=';
const C = 'C'.repeat(43) + '=';
const R = 'R'.repeat(43) + '=';
const T0 = 1_700_000_000_000;
const o = DEFAULT_PLANNER_OPTIONS;

const peer = (publicKey: string, name: string, extra: Partial<PeerRecord> = {}): PeerRecord => ({ publicKey, name, allowedIps: [`10.99.0.${name.charCodeAt(0)}/32`], endpoint: `198.51.100.${name.charCodeAt(0) % 200}:51820`, ...extra });
const table = [peer(A, 'a'), peer(B, 'b', { nat: 'edm' }), peer(C, 'c', { nat: 'eim' }), peer(R, 'registry')];

function member(self = A, name = 'a', peers: PeerRecord[] = table): MemberPaths {
  const m = new MemberPaths({ self: { publicKey: self, name }, registryKey: R, startedAt: T0 });
  m.table({ type: 'reset', peers });
  return m;
}

describe('MemberPaths', () => {
  it('waits for the first classification (and its own endpoint), up to FIRST_CLASSIFICATION_WAIT_MS, then decides without it', () => {
    const m = member();
    const waiting = m.plan({ now: T0 + 100 });
    expect(waiting.changed).toEqual([]);
    expect(m.current(T0 + 100).decisions).toEqual([]);
    const late = m.plan({ now: T0 + FIRST_CLASSIFICATION_WAIT_MS });
    expect(late.changed!.map((d) => d.peer)).toEqual([B, C]);
    expect(m.current(T0 + FIRST_CLASSIFICATION_WAIT_MS).nat).toBe('unknown');
  });

  it('decides every pair but itself, the registry and members without an endpoint; reports with its NAT', () => {
    const m = member(A, 'a', [...table, peer('D'.repeat(43) + '=', 'd', { endpoint: null })]);
    m.classified({ nat: 'eim' });
    const step = m.plan({ now: T0 + 100 });
    expect(step.changed!.map((d) => [d.peer, d.path, d.attempt, d.cause, d.why])).toEqual([
      [B, 'relayed', true, 'rule', 'eim-edm'],
      [C, 'direct', false, 'rule', 'both-eim'],
    ]);
    expect(step.nextWakeAt).toBe(T0 + 100 + o.deadlineMs);
    expect(m.current(T0 + 100)).toMatchObject({ node: 'a', publicKey: A, nat: 'eim' });
    expect(m.current(T0 + 100, C).decisions.map((d) => d.peer)).toEqual([C]);
  });

  it('hands each led attempt out to punch once, and a retry again', () => {
    const m = member();
    m.classified({ nat: 'eim' });
    const first = m.plan({ now: T0 + 100 });
    expect(first.punch.map((d) => [d.peer, d.since])).toEqual([[B, T0 + 100]]);
    const again = m.plan({ now: T0 + 200 });
    expect(again).toMatchObject({ punch: [], changed: null });
    expect(m.attempting(B, T0 + 100)).toBe(true);
    const failed = m.plan({ now: T0 + 100 + o.deadlineMs });
    expect(m.attempting(B, T0 + 100)).toBe(false);
    const b = failed.changed!.find((d) => d.peer === B)!;
    expect(b).toMatchObject({ path: 'relayed', attempt: false, cause: 'no-handshake' });
    const retry = m.plan({ now: b.retryAt! });
    // c's direct path failed too (no handshake): both retries are attempts, punched.
    expect(retry.punch.map((d) => [d.peer, d.since])).toEqual([[B, b.retryAt], [C, b.retryAt]]);
  });

  it('a follower punches nothing and copies its leader', () => {
    const m = member(C, 'c');
    m.classified({ nat: 'eim' });
    const leader: PathDecision = { peer: C, path: 'relayed', attempt: true, reason: 'relayed while trying direct: …', retryAt: null, since: T0, technique: 'punch', cause: 'rule', why: 'eim-edm' };
    m.leader(A, leader);
    const step = m.plan({ now: T0 + 100 });
    expect(step.punch).toEqual([]);
    expect(step.changed!.find((d) => d.peer === A)).toMatchObject({ attempt: true, cause: 'rule', why: 'eim-edm', since: T0 });
  });

  it('takes handshakes from the device state: a change makes a led attempt direct', () => {
    const m = member();
    m.classified({ nat: 'eim' });
    m.plan({ now: T0 + 100 });
    const state = (b: number) => ({ peers: [{ publicKey: B, latestHandshake: b }] as never });
    expect(m.observe(state((T0 + 150) / 1000))).toEqual([B]);
    expect(m.observe(state((T0 + 150) / 1000))).toEqual([]);
    const step = m.plan({ now: T0 + 200 });
    expect(step.changed!.map((d) => [d.peer, d.path, d.cause])).toEqual([[B, 'direct', 'handshake']]);
    expect(m.observe({ peers: [] })).toEqual([B]); // the peer left the device
  });

  it('records the punch of the current attempt only, and stamps reports strictly increasing', () => {
    const m = member();
    m.classified({ nat: 'eim' });
    m.plan({ now: T0 + 100 });
    expect(m.punched(B, T0 + 99, { technique: 'prediction', detail: 'x' })).toBe(false);
    expect(m.punched(B, T0 + 100, { technique: 'prediction', detail: 'x' })).toBe(true);
    expect(m.techniques().prediction.attempts).toBe(1);
    const first = m.outgoing(T0 + 300)!.at;
    const second = m.current(T0 + 300).at;
    expect(second).toBeGreaterThan(first);
  });

  it('has nothing to publish before its first plan', () => {
    expect(member().outgoing(T0)).toBeNull();
  });
});
