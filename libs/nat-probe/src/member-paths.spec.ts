import type { PathDecision, PeerRecord } from '@wgmesh/contracts';
import { DEFAULT_PLANNER_OPTIONS } from './decide';
import { FIRST_CLASSIFICATION_WAIT_MS, MemberPaths, PATH_RESEND_MS } from './member-paths';

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
    const first = m.outgoing(T0 + 300).update!.at;
    const second = m.current(T0 + 300).at;
    expect(second).toBeGreaterThan(first);
  });

  it('has nothing to publish before its first plan', () => {
    expect(member().outgoing(T0)).toEqual({ update: null, addressed: [] });
  });

  it('publishes what changed, numbered, and sends each follower of a led pair only its decision', () => {
    const m = member(); // a leads both its pairs (with b and c)
    m.classified({ nat: 'eim' });
    m.plan({ now: T0 + 100 });
    const first = m.outgoing(T0 + 100);
    expect(first.update).toMatchObject({ node: 'a', publicKey: A, nat: 'eim', epoch: T0, seq: 1, removed: [] });
    expect(first.update!.changed.map((d) => d.peer).sort()).toEqual([B, C]);
    expect(first.addressed.map((x) => x.to).sort()).toEqual(['b', 'c']);
    for (const x of first.addressed) {
      expect(x.report).toMatchObject({ node: 'a', publicKey: A });
      expect(x.report.decisions).toHaveLength(1);
      expect(x.report.decisions[0]!.peerName).toBe(x.to);
    }
    // Nothing changed: nothing to send (no periodic republication).
    expect(m.outgoing(T0 + 200)).toEqual({ update: null, addressed: [] });
    expect(m.current(T0 + 200)).toMatchObject({ epoch: T0, seq: 1 });
    // c leaves: its decision is removed, and c is told it has none any more.
    m.table({ type: 'remove', publicKey: C });
    m.plan({ now: T0 + 300 });
    const second = m.outgoing(T0 + 300);
    expect(second.update).toMatchObject({ seq: 2, changed: [], removed: [C] });
    expect(second.addressed).toEqual([{ to: 'c', report: expect.objectContaining({ publicKey: A, decisions: [] }) }]);
    expect(m.current(T0 + 300)).toMatchObject({ seq: 2 });
    expect(m.current(T0 + 300).decisions.map((d) => d.peer)).toEqual([B]);
  });

  it('sends a follower its decision once more PATH_RESEND_MS after it changed, then no more', () => {
    const m = member();
    m.classified({ nat: 'eim' });
    m.plan({ now: T0 + 100 });
    const sent = m.outgoing(T0 + 100).addressed;
    expect(m.resend(T0 + 100 + PATH_RESEND_MS - 1)).toEqual([]);
    const again = m.resend(T0 + 100 + PATH_RESEND_MS);
    expect(again.map((x) => x.to).sort()).toEqual(['b', 'c']);
    for (const x of again) {
      const before = sent.find((y) => y.to === x.to)!;
      expect(x.report.decisions).toEqual(before.report.decisions);
      expect(x.report.at).toBeGreaterThan(before.report.at); // newer: the follower takes it (the same decision changes nothing)
    }
    expect(m.resend(T0 + 100 + 10 * PATH_RESEND_MS)).toEqual([]);
  });

  it('answers paths.get in pages by key, each one naming the key to go on after', () => {
    const m = member();
    m.classified({ nat: 'eim' });
    m.plan({ now: T0 + 100 });
    const first = m.current(T0 + 100, undefined, { limit: 1 });
    expect(first.decisions.map((d) => d.peer)).toEqual([B]);
    expect(first.next).toBe(B);
    const second = m.current(T0 + 100, undefined, { after: first.next, limit: 1 });
    expect(second.decisions.map((d) => d.peer)).toEqual([C]);
    expect(second.next).toBeUndefined();
    expect(m.current(T0 + 100).decisions.map((d) => d.peer)).toEqual([B, C]);
  });

  it('a follower of all its pairs publishes updates but addresses nothing', () => {
    const m = member(C, 'c');
    m.classified({ nat: 'eim' });
    m.plan({ now: T0 + 100 });
    const out = m.outgoing(T0 + 100);
    expect(out.update?.seq).toBe(1);
    expect(out.addressed).toEqual([]);
  });
});
