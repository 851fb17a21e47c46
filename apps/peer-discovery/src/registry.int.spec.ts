import { DataplaneApplyRequest, EnrollRequest, NatReport, parseDataplaneApplyRequest, parseEnrollReply, parseMemberRemoveReply, parsePeerSnapshot, Patterns, PeerEvent, parsePeerEvent } from '@wgmesh/contracts';
import { MeshBus, RemoteError } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { MemberDirectory, registryKeys, TokenStore } from '@wgmesh/registry';
import { waitFor } from '@wgmesh/testing';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { parsePeerDiscoveryArgs } from './main';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { FakeDriver, key, memoryLogger } from './testing';

// Registry mode against the real NATS and Redis, with an in-memory hub device and a stub
// dataplane-programmer for the hub (node "registry") answering on NATS.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const HUB = key(1000);

describe('peer-discovery, registry mode (NATS + Redis, fake hub device)', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  const tokens = new TokenStore(redis, mesh);
  const driver = new FakeDriver('wgtest0', HUB);
  const events: PeerEvent[] = [];
  const applies: DataplaneApplyRequest[] = [];
  let programmerUp = true;
  let bus: MeshBus;
  let subs: Subscription[] = [];
  let running: RunningPeerDiscovery;
  const { log, lines } = memoryLogger();

  beforeAll(async () => {
    // A stale record (a peer the device no longer has) and a device with two peers.
    await store.upsert({ publicKey: key(99), allowedIps: ['10.99.0.99/32'], endpoint: '192.0.2.99:51820' });
    driver.set({ publicKey: key(1), allowedIps: ['10.99.0.10/32'], endpoint: '198.51.100.1:40001', latestHandshake: 1_700_000_000 });
    driver.set({ publicKey: key(2), allowedIps: ['10.99.0.11/32'], endpoint: null });
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'registry-int-test' });
    subs.push(bus.subscribe(Patterns.peerEvents, (v) => void events.push(parsePeerEvent(v))));
    subs.push(
      bus.subscribe(
        Patterns.dataplaneApply,
        async (v) => {
          if (!programmerUp) throw new Error('device busy');
          const req = parseDataplaneApplyRequest(v);
          applies.push(req);
          await driver.apply({ upsert: req.peers, remove: req.remove ?? [] });
          return { added: req.peers.length, updated: 0, removed: req.remove?.length ?? 0, unchanged: 0, durationMs: 1 };
        },
        { node: 'registry' },
      ),
    );
    await bus.flush();
    const config = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgtest0', '--watch-interval', '50',
      '--mesh-cidr', '10.99.0.0/24', '--public-endpoint', '203.0.113.1:51820',
    ])!;
    running = await startPeerDiscovery(config, log, { driver });
  });

  afterAll(async () => {
    await running?.close();
    subs.forEach((s) => s.unsubscribe());
    await bus?.close();
    const k = registryKeys(mesh);
    await redis.del(k.tokens, k.addressByKey, k.keyByAddress, k.addressMeta, k.members);
    await store.clear();
    redis.disconnect();
  });

  it('reconciles on start: device peers stored and published, stale ones removed', async () => {
    const snap = await store.snapshot();
    expect(snap.peers.map((p) => p.publicKey).sort()).toEqual([key(1), key(2)].sort());
    expect(snap.peers.find((p) => p.publicKey === key(1))).toEqual({ publicKey: key(1), allowedIps: ['10.99.0.10/32'], endpoint: '198.51.100.1:40001', latestHandshake: 1_700_000_000 });
    await waitFor('the start events', () => events.length >= 3);
    expect(events.map((e) => [e.type, e.peer.publicKey])).toEqual(expect.arrayContaining([['remove', key(99)], ['upsert', key(1)], ['upsert', key(2)]]));
    expect(events.map((e) => e.revision)).toEqual([...events.map((e) => e.revision)].sort((a, b) => a - b));
  });

  it('publishes a new endpoint, a new peer and a removal within a few reads', async () => {
    const from = events.length;
    const started = Date.now();
    driver.set({ publicKey: key(2), endpoint: '198.51.100.2:40002', latestHandshake: 1_700_000_100 });
    await waitFor('the endpoint event', () => events.slice(from).some((e) => e.type === 'upsert' && e.peer.endpoint === '198.51.100.2:40002'));
    expect(Date.now() - started).toBeLessThan(1000);
    driver.set({ publicKey: key(3), allowedIps: ['10.99.0.12/32'], endpoint: '198.51.100.3:40003' });
    driver.peers.delete(key(1));
    await waitFor('add and remove', () => events.some((e) => e.peer.publicKey === key(3)) && events.slice(from).some((e) => e.type === 'remove' && e.peer.publicKey === key(1)));
    expect((await store.snapshot()).peers.map((p) => p.publicKey).sort()).toEqual([key(2), key(3)].sort());
    // Re-handshakes alone are held back (default 300 s between publications).
    const before = events.length;
    const reads = driver.reads;
    driver.set({ publicKey: key(2), latestHandshake: 1_700_000_220 });
    await waitFor('a few more reads', () => driver.reads >= reads + 3);
    expect(events.length).toBe(before);
  });

  it('keeps the table when the device cannot be read', async () => {
    const revision = await store.revision();
    driver.failReads = true;
    const reads = driver.reads;
    await waitFor('failed reads', () => driver.reads >= reads + 3);
    expect(lines.some((l) => l.includes('cannot read the hub device'))).toBe(true);
    expect(await store.revision()).toBe(revision);
    driver.failReads = false;
  });

  it('serves the table in pages over peers.snapshot', async () => {
    const first = await bus.request(Patterns.peerSnapshot, { limit: 1 }, parsePeerSnapshot);
    const second = await bus.request(Patterns.peerSnapshot, { cursor: first.nextCursor, limit: 1 }, parsePeerSnapshot);
    expect(first.peers).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect([...first.peers, ...second.peers].map((p) => p.publicKey)).toEqual([key(2), key(3)].sort());
    await expect(bus.request(Patterns.peerSnapshot, { limit: 0 }, parsePeerSnapshot)).rejects.toMatchObject({ code: 'invalid_request' });
  });

  describe('enrolment', () => {
    const enroll = (req: EnrollRequest) => bus.request(Patterns.enroll, req, parseEnrollReply);

    it('enrols a member end to end: token, address, hub peer, name, reply', async () => {
      const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
      const reply = await enroll({ publicKey: key(10), token, name: 'site-a' });
      expect(reply).toEqual({ address: '10.99.0.2/32', meshCidr: '10.99.0.0/24', registry: { publicKey: HUB, endpoint: '203.0.113.1:51820', address: '10.99.0.1' } });
      expect(applies.at(-1)).toEqual({ replace: false, peers: [{ publicKey: key(10), endpoint: null, allowedIps: ['10.99.0.2/32'] }] });
      expect(driver.peers.get(key(10))?.allowedIps).toEqual(['10.99.0.2/32']);
      await waitFor('the new member in the table, with its name', async () => (await store.snapshot()).peers.find((p) => p.publicKey === key(10))?.name === 'site-a');
      expect(await new MemberDirectory(redis, mesh).get(key(10))).toMatchObject({ name: 'site-a', address: '10.99.0.2' });
      // A retry with the same key (lost reply) gets the same address; another key is refused.
      expect((await enroll({ publicKey: key(10), token, name: 'site-a' })).address).toBe('10.99.0.2/32');
      await expect(enroll({ publicKey: key(11), token, name: 'site-b' })).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/already been used/) });
      // The token never reaches Redis, a log line or an event.
      const dump = JSON.stringify([await redis.hgetall(registryKeys(mesh).tokens), await redis.hgetall(registryKeys(mesh).members), lines, events]);
      expect(dump).not.toContain(token.slice(4));
    });

    it('refuses unknown tokens, taken names and the hub key, changing nothing', async () => {
      const revision = await store.revision();
      const applied = applies.length;
      await expect(enroll({ publicKey: key(12), token: 'wgm_nope', name: 'site-x' })).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/not known/) });
      const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
      await expect(enroll({ publicKey: key(12), token, name: 'site-a' })).rejects.toMatchObject({ code: 'name_taken' });
      await expect(enroll({ publicKey: HUB, token, name: 'hub' })).rejects.toMatchObject({ code: 'enrollment_refused' });
      await expect(bus.request(Patterns.enroll, { publicKey: 'x', token, name: 'a' }, parseEnrollReply)).rejects.toMatchObject({ code: 'invalid_request' });
      expect(applies.length).toBe(applied);
      expect(await store.revision()).toBe(revision);
      // The token was given back after the name clash: it still works once.
      expect((await enroll({ publicKey: key(12), token, name: 'site-c' })).address).toMatch(/^10\.99\.0\.\d+\/32$/);
    });

    it('gives 20 parallel enrolments 20 distinct addresses', async () => {
      const { token } = await tokens.create({ reusable: true, ttlSeconds: 600 });
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => enroll({ publicKey: key(100 + i), token, name: `bulk-${i}` })));
      const addresses = replies.map((r) => r.address);
      expect(new Set(addresses).size).toBe(20);
      expect(addresses).not.toContain('10.99.0.1/32');
      for (const r of replies) expect(r.address).toMatch(/^10\.99\.0\.(\d+)\/32$/);
    });

    it('changes nothing when the hub programmer fails, and gives the token back', async () => {
      const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
      programmerUp = false;
      await expect(enroll({ publicKey: key(13), token, name: 'site-d' })).rejects.toMatchObject({ code: 'dataplane_unavailable' });
      programmerUp = true;
      expect(driver.peers.has(key(13))).toBe(false);
      expect((await enroll({ publicKey: key(13), token, name: 'site-d' })).address).toMatch(/\/32$/);
    });

    it("publishes a member's NAT report in its peer record, and refuses reports on another node's subject or for another key", async () => {
      const report = (node: string, publicKey: string, nat: NatReport['nat']): NatReport => ({
        node, publicKey, nat, mapping: nat === 'edm' ? 'address-and-port-dependent' : 'endpoint-independent', filtering: 'address-and-port-dependent',
        mappedAddress: '198.51.100.7:40000', server: '203.0.113.1:3478', method: 'test', at: Date.now(),
      });
      const natOf = async (k: string) => (await store.snapshot()).peers.find((p) => p.publicKey === k)?.nat;
      const rejections = () => lines.filter((l) => l.includes('"msg":"rejected a NAT report"')).length;
      const rejected = rejections();
      // site-c (key 12) forges reports: as site-a on its own subject, for site-a's key, and on site-a's subject.
      bus.publish(Patterns.nat, report('site-a', key(10), 'edm'), { node: 'site-c' });
      bus.publish(Patterns.nat, report('site-c', key(10), 'edm'), { node: 'site-c' });
      bus.publish(Patterns.nat, report('site-c', key(12), 'edm'), { node: 'site-a' });
      await waitFor('three rejections', () => rejections() === rejected + 3);
      expect(await natOf(key(10))).toBeUndefined();
      expect(await natOf(key(12))).toBeUndefined();

      const revision = await store.revision();
      bus.publish(Patterns.nat, report('site-a', key(10), 'edm'), { node: 'site-a' });
      await waitFor('nat=edm in the peer record', async () => (await natOf(key(10))) === 'edm');
      const upsert = events.filter((e) => e.type === 'upsert' && e.peer.publicKey === key(10)).at(-1);
      expect(upsert?.type === 'upsert' && upsert.peer.nat).toBe('edm');
      expect(await new MemberDirectory(redis, mesh).get(key(10))).toMatchObject({ nat: 'edm' });
      // The same report again changes nothing; a new classification does.
      const after = await store.revision();
      expect(after).toBeGreaterThan(revision);
      bus.publish(Patterns.nat, report('site-a', key(10), 'edm'), { node: 'site-a' });
      bus.publish(Patterns.nat, report('site-a', key(10), 'eim'), { node: 'site-a' });
      await waitFor('nat=eim in the peer record', async () => (await natOf(key(10))) === 'eim');
      expect(await store.revision()).toBe(after + 1);
    });

    it('removes a member by name: hub peer, address, record; the watcher publishes the removal', async () => {
      const reply = await bus.request(Patterns.memberRemove, { member: 'site-a' }, parseMemberRemoveReply);
      expect(reply).toEqual({ publicKey: key(10), name: 'site-a', address: '10.99.0.2' });
      expect(driver.peers.has(key(10))).toBe(false);
      await waitFor('the removal event', () => events.some((e) => e.type === 'remove' && e.peer.publicKey === key(10)));
      expect(await new MemberDirectory(redis, mesh).get(key(10))).toBeNull();
      await expect(bus.request(Patterns.memberRemove, { member: 'site-a' }, parseMemberRemoveReply)).rejects.toBeInstanceOf(RemoteError);
    });
  });
});
