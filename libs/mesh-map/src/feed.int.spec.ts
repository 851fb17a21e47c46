import { PathReport, Patterns, PeerRecord } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { waitFor } from '@wgmesh/testing';
import { MapFeed } from './feed';
import { MeshMap } from './mesh-map';
import { decision, hubState, keyOf, memberRecord, pathReport, REGISTRY } from './testing';

/**
 * MapFeed against the real NATS (127.0.0.1:4222, a mesh name of its own): a stand-in registry
 * answers `peers.snapshot` and publishes `peers.events`, stand-in members answer `paths.get` and
 * publish their reports, as the real services do.
 */
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

describe('MapFeed on NATS', () => {
  const mesh = `map${Math.random().toString(36).slice(2, 9)}`;
  const lines: string[] = [];
  const log = createLogger({ service: 'map-test', level: 'debug', write: (l) => lines.push(l) });
  let others: MeshBus;
  let bus: MeshBus;
  let feed: MapFeed | undefined;
  let table: { revision: number; peers: PeerRecord[] };
  let m0Report: PathReport;
  let changes = 0;

  beforeAll(async () => {
    others = await MeshBus.connect({ servers: NATS_URL, mesh, name: 'map-test-others' });
    bus = await MeshBus.connect({ servers: NATS_URL, mesh, name: 'map-test-feed' });
    table = { revision: 1, peers: [memberRecord(0), memberRecord(1)] };
    // m0 decided about m1 before the map started: the map must still show it.
    m0Report = pathReport(0, [decision(1, 'relayed', 1000)]);
    others.subscribe(Patterns.peerSnapshot, () => ({ ...table, nextCursor: null }));
    others.subscribe(Patterns.pathsGet, () => m0Report, { node: 'm0' });
    await others.flush();
  });
  afterAll(async () => {
    feed?.close();
    await bus.close();
    await others.close();
  });

  const map = new MeshMap({ mesh, registry: REGISTRY });
  const publishPaths = (node: string, report: PathReport) => others.publish(Patterns.paths, report, { node });

  it('starts from the current state: the peer table, and decisions taken before it started', async () => {
    feed = await MapFeed.start({ map, bus, registryNode: 'registry', log, changed: () => changes++ });
    await feed.loaded;
    expect([...map.memberList()].map((m) => m.name).sort()).toEqual(['m0', 'm1']);
    expect(map.pair(keyOf(0), keyOf(1))).toMatchObject({ path: 'relayed', fromLeader: true });
    expect(feed.counters).toMatchObject({ pathsFetched: 1, pathsMissed: 1 }); // m1 runs no nat-probe here
    expect(changes).toBeGreaterThan(0);
  });

  it('follows peer events, path reports, NAT reports and dataplane states, and records the changes as events', async () => {
    others.publish(Patterns.peerEvents, { type: 'upsert', revision: 2, peer: memberRecord(2) });
    await waitFor('m2 on the map', () => map.keyOf('m2') !== undefined, 5000);
    publishPaths('m0', pathReport(0, [decision(1, 'direct', 2000), decision(2, 'trying', 2000)]));
    await waitFor('m0-m1 direct', () => map.pair(keyOf(0), keyOf(1))?.path === 'direct', 5000);
    others.publish(Patterns.dataplaneState, hubState([[2, 1234]]), { node: 'registry' });
    others.publish(Patterns.dataplaneState, { ...hubState([]), node: 'm2', publicKey: keyOf(2), driver: 'wg' }, { node: 'm2' });
    others.publish(Patterns.nat, { node: 'm1', publicKey: keyOf(1), nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.2:40000', server: '203.0.113.1:3478', method: 'test', at: 3000 }, { node: 'm1' });
    await waitFor('hub handshake, dataplane kind and NAT of the members', () => map.member(keyOf(2))?.hubHandshake === 1234 && map.member(keyOf(2))?.driver === 'wg' && map.member(keyOf(1))?.nat === 'edm', 5000);
    expect(map.eventList().map((e) => e.kind)).toEqual(['nat', 'path', 'path', 'enrolled']);
  });

  it('drops what a node says on another node’s subject, and counts it', async () => {
    const refused = feed!.counters.refused;
    publishPaths('m1', pathReport(0, [decision(1, 'relayed', 4000)])); // m0's report on m1's subject
    publishPaths('m2', { ...pathReport(2, []), publicKey: keyOf(1) }); // m2's subject, m1's key
    await waitFor('both refused', () => feed!.counters.refused === refused + 2, 5000);
    expect(map.pair(keyOf(0), keyOf(1))?.path).toBe('direct');
  });

  it('reloads the table on a revision gap (a lost event)', async () => {
    table = { revision: 4, peers: [memberRecord(0), memberRecord(1), memberRecord(2), memberRecord(3)] };
    others.publish(Patterns.peerEvents, { type: 'remove', revision: 5, peer: { publicKey: keyOf(1) } });
    await waitFor('the table reloaded, then the event applied', () => map.keyOf('m3') !== undefined && map.keyOf('m1') === undefined, 5000);
    expect(map.pair(keyOf(0), keyOf(1))).toBeUndefined();
  });
});
