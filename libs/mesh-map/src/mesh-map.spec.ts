import { MapInputError, MeshMap } from './mesh-map';
import { decision, HUB_KEY, hubState, keyOf, memberRecord, pathReport, REGISTRY } from './testing';

const natReport = (i: number, nat: 'eim' | 'edm', extra: { portStep?: number } = {}) => ({
  node: `m${i}`,
  publicKey: keyOf(i),
  nat,
  mapping: nat === 'eim' ? ('endpoint-independent' as const) : ('address-and-port-dependent' as const),
  filtering: 'address-and-port-dependent' as const,
  mappedAddress: '198.51.100.1:1',
  server: '203.0.113.1:3478',
  method: 'test',
  at: 5,
  ...extra,
});

/** The pairs of two members that have a decision, as [leader key, follower key]. */
function pairsOf(map: MeshMap): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  map.forEachPair((a, b) => out.push([a, b]));
  return out;
}

function mapOf(n: number, now = () => 1000): MeshMap {
  const map = new MeshMap({ mesh: 'm', registry: REGISTRY, now });
  map.peers({ type: 'reset', revision: 1, peers: Array.from({ length: n }, (_, i) => memberRecord(i)) });
  return map;
}

describe('MeshMap', () => {
  it('takes the members from the peer table: name, tunnel address, endpoint, NAT', () => {
    const map = mapOf(2);
    expect(map.ready).toBe(true);
    expect(map.member(keyOf(1))).toMatchObject({ name: 'm1', addresses: ['10.99.0.3'], endpoint: '198.51.100.2:20001', nat: 'eim', driver: null, hubHandshake: 0 });
    expect(map.keyOf('m0')).toBe(keyOf(0));
  });

  it('keeps one decision per pair: the leader’s (smaller key) over the follower’s, whatever arrives first', () => {
    const map = mapOf(2);
    map.pathReport('m1', pathReport(1, [decision(0, 'relayed', 10)]));
    expect(map.pair(keyOf(0), keyOf(1))).toMatchObject({ path: 'relayed', fromLeader: false });
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 20)]));
    expect(map.pair(keyOf(1), keyOf(0))).toMatchObject({ path: 'direct', technique: 'plain', since: 20, fromLeader: true });
    map.pathReport('m1', pathReport(1, [decision(0, 'trying', 30)]));
    expect(map.pair(keyOf(0), keyOf(1))?.path).toBe('direct');
    expect(pairsOf(map)).toHaveLength(1);
  });

  it('tells relayed, trying direct and direct apart, with the technique that got a pair direct', () => {
    const map = mapOf(4);
    map.pathReport('m0', pathReport(0, [decision(1, 'trying', 1, { technique: 'prediction' }), decision(2, 'direct', 2, { technique: 'punch' }), decision(3, 'relayed', 3)]));
    expect(map.pair(keyOf(0), keyOf(1))).toMatchObject({ path: 'trying', technique: 'prediction' });
    expect(map.pair(keyOf(0), keyOf(2))).toMatchObject({ path: 'direct', technique: 'punch' });
    expect(map.pair(keyOf(0), keyOf(3))).toMatchObject({ path: 'relayed', technique: null, reason: 'relayed: both endpoint-dependent' });
  });

  it('forgets a pair its reporter no longer reports, unless the other end reported it', () => {
    const map = mapOf(3);
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 1), decision(2, 'direct', 1)]));
    map.pathReport('m2', pathReport(2, [decision(1, 'relayed', 1)]));
    map.pathReport('m0', pathReport(0, [decision(2, 'direct', 1)]));
    expect(map.pair(keyOf(0), keyOf(1))).toBeUndefined();
    map.pathReport('m1', pathReport(1, []));
    expect(map.pair(keyOf(1), keyOf(2))).toMatchObject({ path: 'relayed', fromLeader: false });
  });

  it('refuses reports of a node that is not the member it claims to be, and decisions about keys that are not members', () => {
    const map = mapOf(3);
    expect(() => map.pathReport('m1', pathReport(0, [decision(1, 'direct', 1)]))).toThrow(MapInputError); // on m1's subject, says m0
    expect(() => map.pathReport('m0', { ...pathReport(0, []), publicKey: keyOf(2) })).toThrow(/enrolled with/);
    expect(() => map.pathReport('m9', { ...pathReport(9, []) })).toThrow(/not a member/);
    const kind = (f: () => void) => {
      try {
        f();
      } catch (err) {
        return (err as MapInputError).kind;
      }
    };
    expect([kind(() => map.pathReport('m1', pathReport(0, []))), kind(() => map.pathReport('m9', pathReport(9, [])))]).toEqual(['forged', 'unknown']);
    const before = map.version;
    map.pathReport('m0', pathReport(0, [decision(77, 'direct', 1), decision(1, 'direct', 1)]));
    expect(pairsOf(map)).toEqual([[keyOf(0), keyOf(1)]]);
    expect(map.pair(keyOf(0), keyOf(77))).toBeUndefined();
    expect(map.version).toBeGreaterThan(before);
  });

  it('drops a removed member with its pairs, and takes its key back only as a new member', () => {
    const map = mapOf(3);
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 1), decision(2, 'direct', 1)]));
    map.peers({ type: 'remove', revision: 2, publicKey: keyOf(1) });
    expect(map.member(keyOf(1))).toBeUndefined();
    expect(map.keyOf('m1')).toBeUndefined();
    expect(pairsOf(map)).toHaveLength(1);
    map.peers({ type: 'upsert', revision: 3, peer: memberRecord(1) });
    expect(map.pair(keyOf(0), keyOf(1))).toBeUndefined();
  });

  it('takes handshakes with the hub from the hub’s state, and dataplane kinds from the members’ states', () => {
    const map = mapOf(2);
    map.dataplaneState('registry', hubState([[0, 1700], [1, 0]]), 'registry');
    expect(map.member(keyOf(0))?.hubHandshake).toBe(1700);
    map.peers({ type: 'upsert', revision: 2, peer: memberRecord(0, { latestHandshake: 1500 }) });
    expect(map.member(keyOf(0))?.hubHandshake).toBe(1700); // an older handshake from the table does not win
    map.dataplaneState('m1', { ...hubState([]), node: 'm1', publicKey: keyOf(1), driver: 'vpp' }, 'registry');
    expect(map.member(keyOf(1))?.driver).toBe('vpp');
    expect(() => map.dataplaneState('registry', { ...hubState([]), publicKey: keyOf(0) }, 'registry')).toThrow(/not the hub/);
    expect(() => map.dataplaneState('m0', { ...hubState([]), node: 'm0', publicKey: keyOf(1) }, 'registry')).toThrow(/enrolled with/);
    expect(HUB_KEY).not.toBe(keyOf(0));
  });

  it('takes NAT reports (the type, and how the NAT maps and filters)', () => {
    const map = mapOf(1);
    map.natReport('m0', natReport(0, 'edm', { portStep: 1 }));
    expect(map.member(keyOf(0))).toMatchObject({ nat: 'edm', natReport: { mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', portStep: 1 } });
  });

  it('records nothing before it is live: what was there at the start is state, not news', () => {
    const map = mapOf(2);
    map.pathReport('m0', pathReport(0, [decision(1, 'relayed', 1)]));
    map.peers({ type: 'upsert', revision: 2, peer: memberRecord(2) });
    expect(map.eventList()).toEqual([]);
  });

  it('once live, records enrolments, endpoint moves, NAT changes, path changes and removals, newest first', () => {
    let now = 1000;
    const map = mapOf(2, () => now);
    map.pathReport('m0', pathReport(0, [decision(1, 'relayed', 900)]));
    map.live();
    now = 2000;
    map.peers({ type: 'upsert', revision: 2, peer: memberRecord(2) });
    map.peers({ type: 'upsert', revision: 3, peer: memberRecord(1, { endpoint: '198.51.100.2:30001' }) });
    map.natReport('m1', natReport(1, 'edm'));
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 2500, { reason: 'direct: handshake on a direct attempt' })]));
    map.pathReport('m0', pathReport(0, [decision(1, 'direct', 2500, { reason: 'direct: handshake on a direct attempt' }), decision(2, 'trying', 2600)]));
    map.peers({ type: 'remove', revision: 4, publicKey: keyOf(2) });
    expect(map.eventList()).toEqual([
      { kind: 'removed', at: 2000, member: 'm2' },
      { kind: 'path', at: 2600, a: 'm0', b: 'm2', from: null, to: 'trying', reason: 'relayed while trying direct: port prediction (deadline 10s)' },
      { kind: 'path', at: 2500, a: 'm0', b: 'm1', from: 'relayed', to: 'direct', reason: 'direct: handshake on a direct attempt' },
      { kind: 'nat', at: 5, member: 'm1', from: 'eim', to: 'edm' },
      { kind: 'moved', at: 2000, member: 'm1', from: '198.51.100.2:20001', to: '198.51.100.2:30001' },
      { kind: 'enrolled', at: 2000, member: 'm2', address: '10.99.0.4' },
    ]);
  });

  it('keeps the newest events only', () => {
    const map = new MeshMap({ mesh: 'm', registry: REGISTRY, maxEvents: 3 });
    map.peers({ type: 'reset', revision: 0, peers: [] });
    map.live();
    for (let i = 0; i < 10; i++) map.peers({ type: 'upsert', revision: i + 1, peer: memberRecord(i) });
    expect(map.eventList().map((e) => (e as { member: string }).member)).toEqual(['m9', 'm8', 'm7']);
  });

  it('compares a reloaded table with what it had: members gone are removed, new ones enrolled', () => {
    const map = mapOf(3);
    map.live();
    map.peers({ type: 'reset', revision: 9, peers: [memberRecord(0), memberRecord(2), memberRecord(3)] });
    expect(map.eventList().map((e) => `${e.kind} ${(e as { member: string }).member}`)).toEqual(['enrolled m3', 'removed m1']);
  });
});
