import { parseDataplaneApplyRequest, parseEnrollReply, parseMemberRemoveReply, parsePeerEvent, Patterns, PeerEvent } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { openRegistryState, TokenStore } from '@wgmesh/registry';
import { waitFor } from '@wgmesh/testing';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { parsePeerDiscoveryArgs } from './main';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { enrolRequest, FakeDriver, keyPair, memoryLogger, removeTestMesh } from '@wgmesh/peer-discovery/testing';

// Two registries of one mesh (high availability) against the real NATS (one server here: the
// store of record is shared as a cluster would share it) and Redis, each with an in-memory hub
// device and a stand-in for its hub's dataplane-programmer (nodes "registry" and "registry-b").
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const HUB_A = keyPair();
const HUB_B = keyPair();

describe('peer-discovery, two registries of one mesh (NATS JetStream + Redis, fake hub devices)', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  const hubs = {
    registry: { key: HUB_A, driver: new FakeDriver('wgtesta', HUB_A.publicKey), address: '10.99.0.1', endpoint: '203.0.113.1:51820' },
    'registry-b': { key: HUB_B, driver: new FakeDriver('wgtestb', HUB_B.publicKey), address: '10.99.0.254', endpoint: '203.0.113.3:51820' },
  };
  type Id = keyof typeof hubs;
  const running = new Map<Id, RunningPeerDiscovery>();
  const logs = new Map<Id, ReturnType<typeof memoryLogger>>();
  const events: PeerEvent[] = [];
  const subs: Subscription[] = [];
  let bus: MeshBus;
  let tokens: TokenStore;

  const start = async (id: Id) => {
    const h = hubs[id];
    const config = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', h.driver.device, '--watch-interval', '50',
      '--mesh-cidr', '10.99.0.0/24', '--public-endpoint', h.endpoint, '--registry-node', id, '--address', h.address, '--hub-keepalive', '1', '--lease-ttl', '3000',
    ])!;
    const l = memoryLogger();
    logs.set(id, l);
    running.set(id, await startPeerDiscovery(config, l.log, { driver: h.driver, hubKey: h.key }));
  };
  const took = (id: Id) => logs.get(id)!.lines.filter((l) => l.includes('took the peer-table lease')).length;
  const member = keyPair();

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'registries-int-test' });
    subs.push(bus.subscribe(Patterns.peerEvents, (v) => void events.push(parsePeerEvent(v))));
    for (const id of Object.keys(hubs) as Id[]) {
      subs.push(
        bus.subscribe(
          Patterns.dataplaneApply,
          async (v) => {
            const req = parseDataplaneApplyRequest(v);
            await hubs[id].driver.apply({ upsert: req.peers, remove: req.remove ?? [] });
            return { added: req.peers.length, updated: 0, removed: req.remove?.length ?? 0, unchanged: 0, durationMs: 1 };
          },
          { node: id },
        ),
      );
    }
    await bus.flush();
    tokens = new TokenStore((await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 })).kv);
    await start('registry');
    await start('registry-b');
  });

  afterAll(async () => {
    await Promise.all([...running.values()].map((r) => r.close()));
    subs.forEach((s) => s.unsubscribe());
    await removeTestMesh(bus.raw, redis, mesh);
    await bus?.close();
    redis.disconnect();
  });

  it('one registry holds the peer-table lease', async () => {
    await waitFor('a lease holder', () => took('registry') + took('registry-b') === 1, 5000, 20);
    expect(took('registry')).toBe(1); // started first
  });

  it('an enrolment addressed to the second registry is answered by it, with both registries; the first programs its hub too', async () => {
    const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    const reply = await bus.request(Patterns.enroll, enrolRequest({ mesh, name: 'm1', token, member, registryKey: hubs['registry-b'].key.publicKey }), parseEnrollReply);
    expect(reply.registry).toEqual({ publicKey: hubs['registry-b'].key.publicKey, endpoint: hubs['registry-b'].endpoint, address: '10.99.0.254' });
    expect(reply.registries).toEqual([
      { id: 'registry', publicKey: hubs.registry.key.publicKey, endpoint: hubs.registry.endpoint, address: '10.99.0.1' },
      { id: 'registry-b', publicKey: hubs['registry-b'].key.publicKey, endpoint: hubs['registry-b'].endpoint, address: '10.99.0.254' },
    ]);
    expect(reply.address).not.toMatch(/^10\.99\.0\.(1|254)\//); // never a registry's address
    expect(hubs['registry-b'].driver.peers.get(member.publicKey)?.persistentKeepalive).toBe(1);
    await waitFor('the first registry\'s hub to have the member', () => hubs.registry.driver.peers.has(member.publicKey), 10_000, 50);
    expect(hubs.registry.driver.peers.get(member.publicKey)).toMatchObject({ allowedIps: [reply.address], persistentKeepalive: 1 });
    // The writer (the first registry) publishes it; the peer table has it.
    await waitFor('the member in the peer table', async () => (await store.snapshot()).peers.some((p) => p.publicKey === member.publicKey), 5000, 50);
  });

  it('a member removed at one registry leaves both hubs', async () => {
    const reply = await bus.request(Patterns.memberRemove, { member: 'm1' }, parseMemberRemoveReply);
    expect(reply).toMatchObject({ publicKey: member.publicKey, name: 'm1' });
    await waitFor('both hubs without the member', () => !hubs.registry.driver.peers.has(member.publicKey) && !hubs['registry-b'].driver.peers.has(member.publicKey), 10_000, 50);
    await waitFor('the peer table without it', async () => !(await store.snapshot()).peers.some((p) => p.publicKey === member.publicKey), 5000, 50);
  });

  it('the writer stops: the other takes the lease and publishes from then on', async () => {
    await running.get('registry')!.close();
    running.delete('registry');
    await waitFor('registry-b to take the lease', () => took('registry-b') === 1, 10_000, 50);
    const before = events.length;
    const other = keyPair();
    const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    await bus.request(Patterns.enroll, enrolRequest({ mesh, name: 'm2', token, member: other, registryKey: hubs['registry-b'].key.publicKey }), parseEnrollReply);
    await waitFor('an event for the new member', () => events.slice(before).some((e) => e.type === 'upsert' && e.peer.publicKey === other.publicKey), 5000, 50);
  });
});
