import type { PathDecision, PathReport, PeerState } from '@wgmesh/contracts';
import { leads, pairRule, ruleSentence } from '@wgmesh/nat-probe';
import { labUpJson } from './command';
import type { PingResult } from './exec';
import { expectDirect, formatPairTable, observePair, pairDecision, PairProbe, PairRow, pairRow, pairsOf, pathTtl } from './mesh-pairs';

const K1 = 'hoc5FpH2FQkWNjxSkYJ0AnBOaZgkGHOAID0wqavFv38=';
const K2 = '8BewfO0mcITOxvJkI8/fH66A5oc/5mkRKiVJGKzgMBY=';

describe('pair decisions (from both ends\' nat-probe reports)', () => {
  // K2 < K1 as strings ('8' < 'h'): b (K2) leads the pair.
  const a = { name: 'a', publicKey: K1 };
  const b = { name: 'b', publicKey: K2 };
  const decision = (peer: string, o: Partial<PathDecision> = {}): PathDecision => ({ peer, path: 'direct', attempt: false, reason: 'direct: both endpoint-independent', retryAt: null, since: 1000, ...o });
  const report = (node: string, publicKey: string, decisions: PathDecision[]): PathReport => ({ node, publicKey, nat: 'eim', decisions, at: 2000 });
  const reports = (...rs: PathReport[]) => new Map(rs.map((r) => [r.node, r]));

  it('takes the leader\'s decision (smaller key, as nat-probe\'s leads), settled once the follower copied it', () => {
    expect(leads(K2, K1)).toBe(true);
    const leader = report('b', K2, [decision(K1)]);
    const follower = report('a', K1, [decision(K2, { reason: 'direct: both endpoint-independent (decided by b)' })]);
    expect(pairDecision(a, b, reports(leader, follower))).toEqual({ path: 'direct', attempt: false, reason: 'direct: both endpoint-independent (decided by b)', decidedBy: 'b', fingerprint: 'direct|false|1000', pending: null });
  });

  it('is pending while the follower applies another decision, or a NAT is not classified', () => {
    const attempt = decision(K1, { path: 'relayed', attempt: true, reason: 'relayed while trying direct: b is endpoint-independent, a endpoint-dependent (deadline 10s)', since: 3000 });
    const stale = report('a', K1, [decision(K2, { reason: 'direct: a\'s NAT is not known yet (decided by b)' })]);
    expect(pairDecision(a, b, reports(report('b', K2, [attempt]), stale))).toMatchObject({ path: 'relayed', attempt: true, pending: 'a still applies "direct: a\'s NAT is not known yet (decided by b)"' });
    expect(pairDecision(a, b, reports(report('b', K2, [attempt])))).toMatchObject({ pending: 'a has not published a decision about b' });
    const unknown = pairRule({ name: 'b', nat: 'eim' }, { name: 'a' });
    expect(pairDecision(a, b, reports(report('b', K2, [decision(K1, { reason: `direct: ${ruleSentence(unknown.why)}` })]), report('a', K1, [])))).toMatchObject({ pending: 'a NAT is not classified yet' });
  });

  it('says what is missing when the leader has not decided', () => {
    expect(pairDecision(a, b, reports())).toEqual({ pending: 'no decision yet: no path report from b, no path report from a' });
    expect(pairDecision(a, b, reports(report('b', K2, []), report('a', K1, [decision(K2)])))).toEqual({ pending: 'no decision yet: b has no decision about a' });
  });
});

describe('pair rows: the decision against the tunnel', () => {
  const now = 1_700_000_100;
  const a = { name: 'a', publicKey: K1 };
  const b = { name: 'b', publicKey: K2 };
  const P = 1028; // an echo of 1000 bytes, as an IP packet
  const entry = (tx: number, rx: number, latestHandshake = now - 5): PeerState => ({ publicKey: K1, endpoint: '198.51.100.11:51820', allowedIps: ['10.99.0.2/32'], latestHandshake, rxBytes: rx, txBytes: tx, persistentKeepalive: 25 });
  const ping = (received: number, ttl = 64): PingResult => ({ ok: received > 0, sent: 3, received, ...(received > 0 ? { rttMs: 0.61 } : {}), ttls: Array.from({ length: received }, () => ttl) });
  /** a → b ping: `direct` bytes carried by a's entry for b (tx requests, rx replies). */
  const probe = (received: number, txDirect: number, rxDirect: number, hs = now - 5): PairProbe => ({
    ping: ping(received),
    size: 1000,
    before: { aToB: entry(100, 200, hs), bToA: entry(300, 400, hs) },
    after: { aToB: entry(100 + txDirect, 200 + rxDirect, hs), bToA: entry(300 + rxDirect, 400 + txDirect, hs) },
    nowSeconds: now,
  });
  const decided = (path: 'direct' | 'relayed', attempt = false) => ({ path, attempt, reason: `${path}: why (decided by b)`, decidedBy: 'b', fingerprint: `${path}|${attempt}|1`, pending: null });

  it('tells direct, relayed, mixed and no reply apart from the direct entries\' counters', () => {
    expect(observePair(probe(3, 3 * P + 96, 3 * P + 96))).toBe('direct');
    expect(observePair(probe(3, 32, 0))).toBe('relayed'); // a keepalive is not the ping
    expect(observePair(probe(3, 3 * P, 0))).toBe('mixed'); // requests direct, replies through the registry
    expect(observePair(probe(0, 3 * P, 0))).toBeNull();
    expect(observePair({ ...probe(3, 0, 0), before: {}, after: {} })).toBe('relayed'); // no direct peer at all
  });

  it.each([
    ['direct, ping direct', decided('direct'), probe(3, 3 * P, 3 * P), { path: 'direct', reason: 'direct: why (decided by b)', observed: 'direct', settled: true, rttMs: 0.61 }],
    ['direct, but through the registry', decided('direct'), probe(3, 0, 0), { reason: 'direct: why (decided by b); but the ping went through the registry', settled: false }],
    ['direct, old handshakes', decided('direct'), probe(3, 3 * P, 3 * P, now - 200), { reason: "direct: why (decided by b); but no recent handshake on a and b's device", settled: false }],
    ['direct, no reply', decided('direct'), probe(0, 3 * P, 0), { reason: 'direct: why (decided by b); but no ping reply', settled: false, rttMs: null, observed: null }],
    ['relayed, through the registry', decided('relayed'), probe(2, 0, 0), { path: 'relayed', observed: 'relayed', settled: true }],
    ['attempt, through the registry', decided('relayed', true), probe(3, 0, 0), { path: 'relayed', attempt: true, settled: true }],
    ['relayed, but direct', decided('relayed'), probe(3, 3 * P, 3 * P), { reason: 'relayed: why (decided by b); but the ping did not go through the registry', settled: false }],
    ['relayed, partly direct', decided('relayed'), probe(3, 3 * P, 0), { reason: 'relayed: why (decided by b); but part of the ping went direct', settled: false }],
  ])('%s', (_what, d, p, expected) => {
    expect(pairRow(a, b, d, p)).toMatchObject({ a: 'a', b: 'b', decidedBy: 'b', ...expected });
  });

  it('is not settled while the decision is pending or the pair was not pinged', () => {
    expect(pairRow(a, b, { ...decided('direct'), pending: 'a still applies "x"' }, probe(3, 3 * P, 3 * P))).toMatchObject({ settled: false, reason: 'direct: why (decided by b); not settled: a still applies "x"' });
    expect(pairRow(a, b, decided('direct'))).toMatchObject({ settled: false, reason: 'direct: why (decided by b); not pinged yet', rttMs: null });
    expect(pairRow(a, b, { pending: 'no decision yet: no path report from b' })).toEqual({ a: 'a', b: 'b', path: 'relayed', reason: 'no decision yet: no path report from b', rttMs: null, attempt: false, decidedBy: null, observed: null, settled: false });
  });
});

describe('pair table', () => {
  it('expects direct tunnels except with an edm member, unless the other is public', () => {
    expect([expectDirect('eim', 'eim'), expectDirect('eim', 'public'), expectDirect('edm', 'public'), expectDirect('public', 'edm'), expectDirect('edm', 'eim'), expectDirect('edm', 'edm')]).toEqual([true, true, true, true, false, false]);
  });

  it('lists every unordered pair once, in order', () => {
    expect(pairsOf(['a', 'b', 'c'])).toEqual([['a', 'b'], ['a', 'c'], ['b', 'c']]);
  });

  const row = (o: Partial<PairRow>): PairRow => ({ a: 'a', b: 'b', path: 'direct', reason: 'direct: both endpoint-independent (decided by b)', rttMs: 0.412, attempt: false, decidedBy: 'b', observed: 'direct', settled: true, ...o });

  it('prints path, RTT and reason, marking attempts', () => {
    const rows = [row({}), row({ b: 'c', path: 'relayed', attempt: true, rttMs: 1.5, reason: 'relayed while trying direct: a is endpoint-independent, c endpoint-dependent (deadline 10s) (decided by a)' }), row({ a: 'c', b: 'd', path: 'relayed', rttMs: null, reason: 'why' })];
    expect(formatPairTable(rows)).toBe(
      [
        'A  B  PATH      RTT       REASON',
        'a  b  direct    0.41 ms   direct: both endpoint-independent (decided by b)',
        'a  c  relayed*  1.50 ms   relayed while trying direct: a is endpoint-independent, c endpoint-dependent (deadline 10s) (decided by a)',
        'c  d  relayed   no reply  why',
        '* relayed while a direct attempt runs (peer configured without routes)',
      ].join('\n'),
    );
  });

  it('lab up --json: each pair with path, reason and rttMs (null without a reply), the convergence time, the NATs, the map', () => {
    const json = JSON.parse(labUpJson({ lab: { id: 'x1' }, rows: [row({}), row({ b: 'c', path: 'relayed', rttMs: null, reason: 'relayed: both endpoint-dependent (decided by a)', observed: null, settled: false })], convergeMs: 1234, nat: { a: 'eim', b: 'eim', c: 'edm' }, map: 'http://127.0.0.1:41234/map' }));
    expect(json).toEqual({
      pairs: [
        { a: 'a', b: 'b', path: 'direct', reason: 'direct: both endpoint-independent (decided by b)', rttMs: 0.412, attempt: false, decidedBy: 'b', observed: 'direct' },
        { a: 'a', b: 'c', path: 'relayed', reason: 'relayed: both endpoint-dependent (decided by a)', rttMs: null, attempt: false, decidedBy: 'b', observed: null },
      ],
      convergeMs: 1234,
      lab: 'x1',
      nat: { a: 'eim', b: 'eim', c: 'edm' },
      map: 'http://127.0.0.1:41234/map',
    });
  });
});

describe('the path by TTL, for pairs with a VPP end (no per-peer counters)', () => {
  const ttlProbe = (there: number[], back: number[], direct = pathTtl(true, false)): PairProbe => ({
    ping: { ok: true, sent: 3, received: 3, rttMs: 1, ttls: back },
    size: 1000,
    before: {},
    after: {},
    nowSeconds: 0,
    ttl: { direct, there, back },
  });
  it('counts a router for each VPP on the way and one for the registry', () => {
    expect([pathTtl(false, false), pathTtl(true, false), pathTtl(true, true)]).toEqual([64, 63, 62]);
    expect(observePair(ttlProbe([63, 63, 63], [63, 63, 63]))).toBe('direct');
    expect(observePair(ttlProbe([62, 62, 62], [62, 62, 62]))).toBe('relayed');
    // One way direct, the other through the registry: what VPP's next-hop binding used to do.
    expect(observePair(ttlProbe([63, 63, 63], [62, 62, 62]))).toBe('mixed');
    expect(observePair(ttlProbe([], [63]))).toBe('mixed');
  });
});
