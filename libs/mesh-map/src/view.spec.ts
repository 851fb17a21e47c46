import { MeshMap } from './mesh-map';
import { decision, hubState, keyOf, memberRecord, pathReport, REGISTRY, syntheticMesh } from './testing';
import { buildView, describeEvent, DRAW_LIMIT, natDetail, ONLINE_WINDOW_S, PAIR_LIMIT } from './view';

const NOW_S = 1_800_000_000;

describe('buildView', () => {
  it('shows every member with its paths, online while its hub handshake is younger than 3 minutes', () => {
    const map = syntheticMesh(3, { path: (i, j) => (i === 0 && j === 2 ? 'relayed' : 'direct') });
    map.dataplaneState('registry', hubState([[0, NOW_S - 10], [1, NOW_S - ONLINE_WINDOW_S + 1], [2, NOW_S - ONLINE_WINDOW_S - 1]]), 'registry');
    const view = buildView(map, { now: NOW_S * 1000 });
    expect(view.members.map((m) => [m.name, m.address, m.nat, m.online, m.paths])).toEqual([
      ['m0', '10.99.0.2', 'eim', true, { direct: 1, relayed: 1, trying: 0 }],
      ['m1', '10.99.0.3', 'eim', true, { direct: 2, relayed: 0, trying: 0 }],
      ['m2', '10.99.0.4', 'eim', false, { direct: 1, relayed: 1, trying: 0 }],
    ]);
    expect(view.pairCounts).toEqual({ total: 3, direct: 2, relayed: 1, trying: 0, undecided: 0 });
    expect(view.pairs.map((p) => [p.a, p.b, p.path, p.rttMs])).toEqual([
      [keyOf(0), keyOf(1), 'direct', null],
      [keyOf(0), keyOf(2), 'relayed', null],
      [keyOf(1), keyOf(2), 'direct', null],
    ]);
    expect(view).toMatchObject({ mesh: 'synthetic', draw: true, pairsSampled: false, status: { ready: true, detail: 'live' }, registry: { name: 'registry', address: '10.99.0.1', driver: 'uapi' } });
  });

  it('counts the pairs nobody decided yet', () => {
    const map = new MeshMap({ mesh: 'm', registry: REGISTRY });
    expect(buildView(map).status).toEqual({ ready: false, detail: 'loading the peer table' });
    map.peers({ type: 'reset', revision: 1, peers: [memberRecord(0), memberRecord(1), memberRecord(2)] });
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 1)]));
    expect(buildView(map).pairCounts).toEqual({ total: 3, direct: 1, relayed: 0, trying: 0, undecided: 2 });
  });

  it('carries no secret: only public keys, addresses, names, reasons and times', () => {
    const text = JSON.stringify(buildView(syntheticMesh(4)));
    expect(text).not.toMatch(/private|seed|token|password|wgm_|SU[A-Z2-7]{20}/i);
  });

  it('stays bounded at 1,000 members: every member, at most PAIR_LIMIT pairs (relayed and trying first), no drawing of pairs', () => {
    const path = (i: number, j: number) => (i % 50 === 0 && j % 50 === 7 ? 'relayed' : j === i + 1 && i % 10 === 0 ? 'trying' : 'direct');
    const map = syntheticMesh(1000, { path });
    const view = buildView(map);
    const json = JSON.stringify(view);
    const count = (kind: string) => Array.from({ length: 1000 }, (_, i) => Array.from({ length: 1000 - i - 1 }, (_, k) => path(i, i + 1 + k) === kind)).flat().filter(Boolean).length;
    expect(view.members).toHaveLength(1000);
    expect(view.pairCounts.total).toBe(499_500);
    expect(view.pairCounts).toMatchObject({ relayed: count('relayed'), trying: count('trying'), direct: count('direct'), undecided: 0 });
    expect(view.pairs).toHaveLength(PAIR_LIMIT);
    expect(view.pairsSampled).toBe(true);
    expect(view.draw).toBe(false);
    // Not direct first, then by last change, newest first.
    const firstDirect = view.pairs.findIndex((p) => p.path === 'direct');
    expect(firstDirect).toBe(count('relayed') + count('trying'));
    expect(view.pairs.slice(0, firstDirect).every((p) => p.path !== 'direct')).toBe(true);
    const sinceOfDirect = view.pairs.slice(firstDirect).map((p) => p.since);
    expect(sinceOfDirect).toEqual([...sinceOfDirect].sort((x, y) => y - x));
    expect(json.length).toBeLessThan(600_000);
    process.stderr.write(`mesh map view of 1,000 members: ${Math.round(json.length / 1024)} KiB\n`);
  });

  it(`draws pairs up to ${DRAW_LIMIT} members, not beyond`, () => {
    expect(buildView(syntheticMesh(DRAW_LIMIT)).draw).toBe(true);
    expect(buildView(syntheticMesh(DRAW_LIMIT + 1)).draw).toBe(false);
  });
});

describe('the words the page shows', () => {
  it('describes each kind of event', () => {
    expect(describeEvent({ kind: 'enrolled', at: 1, member: 'a', address: '10.99.0.2' }).text).toBe('a enrolled (10.99.0.2)');
    expect(describeEvent({ kind: 'removed', at: 1, member: 'a' }).text).toBe('a removed');
    expect(describeEvent({ kind: 'moved', at: 1, member: 'a', from: null, to: '198.51.100.1:1' }).text).toBe('a is at 198.51.100.1:1');
    expect(describeEvent({ kind: 'moved', at: 1, member: 'a', from: '198.51.100.1:1', to: '198.51.100.1:2' }).text).toBe('a moved 198.51.100.1:1 → 198.51.100.1:2');
    expect(describeEvent({ kind: 'nat', at: 1, member: 'a', from: 'eim', to: 'edm' }).text).toBe("a's NAT: eim → edm");
    expect(describeEvent({ kind: 'path', at: 1, a: 'a', b: 'b', from: 'trying', to: 'relayed', reason: 'relayed: no handshake in 10s' })).toEqual({
      at: 1,
      kind: 'path',
      text: 'a – b: trying direct → relayed',
      detail: 'relayed: no handshake in 10s',
    });
  });

  it('says how a NAT behaves', () => {
    expect(natDetail({ mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', portStep: 1 })).toBe(
      'mapping address-and-port-dependent, filtering address-and-port-dependent, new ports in sequence (step +1)',
    );
  });
});
