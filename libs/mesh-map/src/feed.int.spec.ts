import { DataplaneState, DataplaneStateUpdate, PathDecision, PathReport, PathUpdate, Patterns, PeerRecord } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { waitFor } from '@wgmesh/testing';
import { MapFeed } from './feed';
import { MeshMap } from './mesh-map';
import { decision, hubState, keyOf, memberRecord, pathReport, REGISTRY } from './testing';

/**
 * MapFeed against the real NATS (127.0.0.1:4222, a mesh name of its own): a stand-in registry
 * answers `peers.snapshot` and publishes `peers.events`, stand-in members answer `paths.get` and
 * publish updates of their reports (numbered), as the real services do.
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
  let hub: DataplaneState;
  let changes = 0;
  /** An update of the hub's device state: the handshakes that changed. */
  const hubUpdate = (seq: number, handshakes: Array<[number, number]>): DataplaneStateUpdate => {
    const { peers, ...head } = hubState(handshakes);
    return { ...head, epoch: 1, seq, changed: peers, removed: [] };
  };

  beforeAll(async () => {
    others = await MeshBus.connect({ servers: NATS_URL, mesh, name: 'map-test-others' });
    bus = await MeshBus.connect({ servers: NATS_URL, mesh, name: 'map-test-feed' });
    table = { revision: 1, peers: [memberRecord(0), memberRecord(1)] };
    // m0 decided about m1 before the map started: the map must still show it.
    m0Report = { ...pathReport(0, [decision(1, 'relayed', 1000)]), epoch: 1, seq: 0 };
    others.subscribe(Patterns.peerSnapshot, () => ({ ...table, nextCursor: null }));
    others.subscribe(Patterns.pathsGet, () => m0Report, { node: 'm0' });
    // The hub's device state: m0 shook hands with the hub before the map started.
    hub = { ...hubState([[0, 100]]), epoch: 1, seq: 1 };
    others.subscribe(Patterns.dataplaneStateGet, () => hub, { node: 'registry' });
    // Forgers, asked when their updates show a gap: m1 answers with m0's report, m2 with m1's key.
    others.subscribe(Patterns.pathsGet, () => ({ ...pathReport(0, [decision(1, 'relayed', 4000)]), epoch: 1, seq: 1 }), { node: 'm1' });
    others.subscribe(Patterns.pathsGet, () => ({ ...pathReport(2, []), publicKey: keyOf(1), epoch: 1, seq: 1 }), { node: 'm2' });
    await others.flush();
  });
  afterAll(async () => {
    feed?.close();
    await bus.close();
    await others.close();
  });

  const map = new MeshMap({ mesh, registry: REGISTRY });
  const update = (i: number, seq: number, changed: PathDecision[], removed: string[] = []): PathUpdate => ({ node: `m${i}`, publicKey: keyOf(i), nat: 'eim', epoch: 1, seq, changed, removed, at: 1000 + seq });
  const publishPaths = (node: string, u: PathUpdate) => others.publish(Patterns.paths, u, { node });

  it('starts from the current state: the peer table, and decisions taken before it started', async () => {
    feed = await MapFeed.start({ map, bus, registryNode: 'registry', log, changed: () => changes++ });
    await feed.loaded;
    expect([...map.memberList()].map((m) => m.name).sort()).toEqual(['m0', 'm1']);
    expect(map.pair(keyOf(0), keyOf(1))).toMatchObject({ path: 'relayed', fromLeader: true });
    expect(feed.counters).toMatchObject({ pathsFetched: 2, pathsMissed: 0, hubStatesFetched: 1 }); // (m1's reply is m0's report: refused)
    expect(map.member(keyOf(0))?.hubHandshake).toBe(100); // from the hub's state, asked for
    expect(feed.counters.refused).toBe(1);
    feed.counters.refused = 0;
    expect(changes).toBeGreaterThan(0);
  });

  it('follows peer events, path reports, NAT reports and dataplane states, and records the changes as events', async () => {
    others.publish(Patterns.peerEvents, { type: 'upsert', revision: 2, peer: memberRecord(2) });
    await waitFor('m2 on the map', () => map.keyOf('m2') !== undefined, 5000);
    publishPaths('m0', update(0, 1, [decision(1, 'direct', 2000), decision(2, 'trying', 2000)]));
    await waitFor('m0-m1 direct', () => map.pair(keyOf(0), keyOf(1))?.path === 'direct', 5000);
    others.publish(Patterns.dataplaneState, hubUpdate(2, [[2, 1234]]), { node: 'registry' }); // in sequence: applied
    others.publish(Patterns.dataplaneState, { ...hubUpdate(1, []), node: 'm2', publicKey: keyOf(2), driver: 'wg' }, { node: 'm2' });
    others.publish(Patterns.nat, { node: 'm1', publicKey: keyOf(1), nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.2:40000', server: '203.0.113.1:3478', method: 'test', at: 3000 }, { node: 'm1' });
    await waitFor('hub handshake, dataplane kind and NAT of the members', () => map.member(keyOf(2))?.hubHandshake === 1234 && map.member(keyOf(2))?.driver === 'wg' && map.member(keyOf(1))?.nat === 'edm', 5000);
    expect(map.eventList().map((e) => e.kind)).toEqual(['nat', 'path', 'path', 'enrolled']);
    expect(feed!.counters.hubStatesFetched).toBe(1);
  });

  it("fetches the hub's whole device state when one of its updates was missed", async () => {
    hub = { ...hubState([[0, 100], [1, 777], [2, 1234]]), epoch: 1, seq: 4 };
    others.publish(Patterns.dataplaneState, hubUpdate(4, [[1, 777]]), { node: 'registry' }); // 3 was lost
    await waitFor("m1's hub handshake, from the state", () => map.member(keyOf(1))?.hubHandshake === 777, 5000);
    expect(feed!.counters.hubStatesFetched).toBe(2);
    others.publish(Patterns.dataplaneState, hubUpdate(5, [[1, 888]]), { node: 'registry' });
    await waitFor('the next update applied', () => map.member(keyOf(1))?.hubHandshake === 888, 5000);
    expect(feed!.counters.hubStatesFetched).toBe(2);
  });

  it('fetches the whole report when an update was missed', async () => {
    const fetched = feed!.counters.pathsFetched;
    m0Report = { ...pathReport(0, [decision(1, 'relayed', 5000)]), epoch: 1, seq: 3, at: 5000 };
    publishPaths('m0', update(0, 3, [decision(1, 'relayed', 5000)])); // 2 was lost
    await waitFor('m0-m1 relayed, from the report', () => map.pair(keyOf(0), keyOf(1))?.path === 'relayed', 5000);
    expect(feed!.counters.pathsFetched).toBe(fetched + 1);
    m0Report = { ...pathReport(0, [decision(1, 'direct', 6000)]), epoch: 1, seq: 4, at: 6000 };
    publishPaths('m0', update(0, 4, [decision(1, 'direct', 6000)])); // in sequence: applied, not fetched
    await waitFor('m0-m1 direct', () => map.pair(keyOf(0), keyOf(1))?.path === 'direct', 5000);
    expect(feed!.counters.pathsFetched).toBe(fetched + 1);
  });

  it('drops what a node says on another node’s subject, and counts it', async () => {
    const refused = feed!.counters.refused;
    publishPaths('m1', update(0, 1, [decision(1, 'relayed', 7000)])); // m0's update on m1's subject: m1's report is fetched, and is m0's
    publishPaths('m2', { ...update(2, 1, []), publicKey: keyOf(1) }); // m2's subject, m1's key: fetched, m1's key again
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
