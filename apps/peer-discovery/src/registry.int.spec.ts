import { DataplaneApplyRequest, EnrollRequest, NatReport, parseDataplaneApplyRequest, parseEnrollReply, parseMemberRemoveReply, parsePeerSnapshot, Patterns, PeerEvent, parsePeerEvent } from '@wgmesh/contracts';
import { MeshBus, RemoteError } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { HUB_KEEPALIVE, Membership, openRegistryState, AddressPlan, readPrefix, TokenStore } from '@wgmesh/registry';
import { waitFor } from '@wgmesh/testing';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { parsePeerDiscoveryArgs } from './main';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { enrolRequest, FakeDriver, key, keyPair, memoryLogger, removeTestMesh } from '@wgmesh/peer-discovery/testing';

// Registry mode against the real NATS (its JetStream holds the store of record) and Redis, with
// an in-memory hub device and a stand-in for the hub's dataplane-programmer (node "registry")
// answering on NATS. Members are real key pairs: enrolment proves possession of the private key.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const HUB = keyPair();

describe('peer-discovery, registry mode (NATS JetStream + Redis, fake hub device)', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  const driver = new FakeDriver('wgtest0', HUB.publicKey);
  const events: PeerEvent[] = [];
  const applies: DataplaneApplyRequest[] = [];
  const members = new Map<number, ReturnType<typeof keyPair>>();
  const member = (n: number) => members.get(n) ?? (members.set(n, keyPair()), members.get(n)!);
  let programmerUp = true;
  let bus: MeshBus;
  let tokens: TokenStore;
  let subs: Subscription[] = [];
  let running: RunningPeerDiscovery;
  let config: NonNullable<ReturnType<typeof parsePeerDiscoveryArgs>>;
  const { log, lines } = memoryLogger();
  const start = () => startPeerDiscovery(config, log, { driver, hubKey: HUB });

  beforeAll(async () => {
    // A stale record (a peer the device no longer has) and a device with two peers of the operator's own.
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
    tokens = new TokenStore((await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 })).kv);
    config = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgtest0', '--watch-interval', '50',
      '--mesh-cidr', '10.99.0.0/24', '--public-endpoint', '203.0.113.1:51820',
    ])!;
    running = await start();
  });

  afterAll(async () => {
    await running?.close();
    subs.forEach((s) => s.unsubscribe());
    await removeTestMesh(bus.raw, redis, mesh);
    await bus?.close();
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

  it('publishes a new endpoint, a new peer and a removal of device peers that are no members within a few reads', async () => {
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
    const send = (req: unknown) => bus.request(Patterns.enroll, req, parseEnrollReply);
    const enroll = (n: number, name: string, token: string, extra: Partial<Parameters<typeof enrolRequest>[0]> = {}) =>
      send(enrolRequest({ mesh, name, token, member: member(n), registryKey: HUB.publicKey, ...extra }));
    const unchanged = async <T>(body: () => Promise<T>): Promise<T> => {
      await running.hub!.poke(); // what an earlier enrolment left to publish is published before the snapshot
      const revision = await store.revision();
      const applied = applies.length;
      const device = JSON.stringify([...driver.peers.keys()].sort());
      const held = JSON.stringify([...(await readPrefix(membershipKv(), 'members')).keys()]);
      const result = await body();
      expect(applies.length).toBe(applied);
      expect(JSON.stringify([...driver.peers.keys()].sort())).toBe(device);
      expect(await store.revision()).toBe(revision);
      expect(JSON.stringify([...(await readPrefix(membershipKv(), 'members')).keys()])).toBe(held);
      return result;
    };
    let kv: Awaited<ReturnType<typeof openRegistryState>>['kv'];
    const membershipKv = () => kv;

    beforeAll(async () => {
      kv = (await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 })).kv;
    });

    it('enrols a member end to end: proofs, claim, hub peer, name, reply', async () => {
      const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
      const reply = await enroll(10, 'site-a', token);
      expect(reply).toEqual({ address: '10.99.0.2/32', meshCidr: '10.99.0.0/24', registry: { publicKey: HUB.publicKey, endpoint: '203.0.113.1:51820', address: '10.99.0.1' } });
      expect(applies.at(-1)).toEqual({ replace: false, peers: [{ publicKey: member(10).publicKey, endpoint: null, allowedIps: ['10.99.0.2/32'], persistentKeepalive: HUB_KEEPALIVE }] });
      expect(driver.peers.get(member(10).publicKey)?.allowedIps).toEqual(['10.99.0.2/32']);
      await waitFor('the new member in the table, with its name', async () => (await store.snapshot()).peers.find((p) => p.publicKey === member(10).publicKey)?.name === 'site-a');
      expect(await new Membership(kv, new AddressPlan('10.99.0.0/24')).get('site-a')).toMatchObject({ publicKey: member(10).publicKey, address: '10.99.0.2' });
      // A retry with the same key (lost reply) gets the same address; another key is refused.
      expect((await enroll(10, 'site-a', token)).address).toBe('10.99.0.2/32');
      await expect(enroll(11, 'site-b', token)).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/already been used/) });
      // The token never reaches the store, Redis, a log line or an event.
      const dump = JSON.stringify([[...(await readPrefix(kv, 'tokens')).values()].map((e) => e.string()), await redis.hgetall(`wgmesh:${mesh}:peers`), lines, events]);
      expect(dump).not.toContain(token.slice(4));
    });

    it('refuses the registry’s name, another member’s key without its private key, the raw token, a replay, a stale request: each naming why, changing nothing', async () => {
      const { token } = await tokens.create({ reusable: true, ttlSeconds: 600 });
      await unchanged(async () => {
        await expect(enroll(20, 'registry', token)).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/name: "registry" is reserved: it is the registry's own node id/) });
        // The attacker holds key 21; it claims site-a's public key (key 10) under a new name.
        const forged = enrolRequest({ mesh, name: 'evil', token, member: { publicKey: member(10).publicKey, privateKey: member(21).privateKey }, registryKey: HUB.publicKey });
        await expect(send(forged)).rejects.toMatchObject({ code: 'not_key_holder', message: expect.stringContaining(`not signed by the holder of the private key of ${member(10).publicKey}`) });
        await expect(send({ publicKey: member(20).publicKey, name: 'raw', token })).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/token: the raw token is never accepted/) });
        await expect(enroll(20, 'stale', token, { now: Date.now() - 10 * 60_000 })).rejects.toMatchObject({ code: 'stale_request', message: expect.stringMatching(/check the member's clock/) });
        await expect(enroll(20, 'site-x', 'wgm_nope')).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/not known/) });
        await expect(enroll(20, 'site-a', token)).rejects.toMatchObject({ code: 'name_taken', message: expect.stringContaining('belongs to another member') });
        await expect(enroll(10, 'site-a2', token)).rejects.toMatchObject({ code: 'key_taken', message: expect.stringContaining('already a member, named "site-a"') });
        await expect(send(enrolRequest({ mesh, name: 'hub', token, member: HUB, registryKey: HUB.publicKey }))).rejects.toMatchObject({ code: 'enrollment_refused' });
      });
      // A captured valid request, sent again, is refused: its nonce was seen.
      const req = enrolRequest({ mesh, name: 'site-c', token, member: member(12), registryKey: HUB.publicKey });
      expect((await send(req)).address).toMatch(/^10\.99\.0\.\d+\/32$/);
      await unchanged(() => expect(send(req)).rejects.toMatchObject({ code: 'replayed' }));
    });

    it('gives concurrent enrolments of one name, and of one key, exactly one winner', async () => {
      const { token } = await tokens.create({ reusable: true, ttlSeconds: 600 });
      const sameName = await Promise.allSettled([30, 31, 32, 33].map((n) => enroll(n, 'contested', token)));
      expect(sameName.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of sameName.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'name_taken' });
      const sameKey = await Promise.allSettled(['k1', 'k2', 'k3', 'k4'].map((name) => enroll(40, name, token)));
      expect(sameKey.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of sameKey.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'key_taken' });
      const held = await new Membership(kv, new AddressPlan('10.99.0.0/24')).list();
      expect(held.filter((m) => m.name === 'contested' || m.publicKey === member(40).publicKey)).toHaveLength(2);
    });

    it('gives 20 parallel enrolments 20 distinct addresses', async () => {
      const { token } = await tokens.create({ reusable: true, ttlSeconds: 600 });
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => enroll(100 + i, `bulk-${i}`, token)));
      const addresses = replies.map((r) => r.address);
      expect(new Set(addresses).size).toBe(20);
      expect(addresses).not.toContain('10.99.0.1/32');
      for (const r of replies) expect(r.address).toMatch(/^10\.99\.0\.(\d+)\/32$/);
    });

    it('changes nothing when the hub programmer fails, and gives the token back', async () => {
      const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
      programmerUp = false;
      await expect(enroll(13, 'site-d', token)).rejects.toMatchObject({ code: 'dataplane_unavailable' });
      programmerUp = true;
      expect(driver.peers.has(member(13).publicKey)).toBe(false);
      expect(await new Membership(kv, new AddressPlan('10.99.0.0/24')).get('site-d')).toBeNull();
      expect((await enroll(13, 'site-d', token)).address).toMatch(/\/32$/);
    });

    it("publishes a member's NAT report in its peer record, and refuses reports on another node's subject or for another key", async () => {
      const a = member(10).publicKey;
      const c = member(12).publicKey;
      const report = (node: string, publicKey: string, nat: NatReport['nat']): NatReport => ({
        node, publicKey, nat, mapping: nat === 'edm' ? 'address-and-port-dependent' : 'endpoint-independent', filtering: 'address-and-port-dependent',
        mappedAddress: '198.51.100.7:40000', server: '203.0.113.1:3478', method: 'test', at: Date.now(),
      });
      const natOf = async (k: string) => (await store.snapshot()).peers.find((p) => p.publicKey === k)?.nat;
      const rejections = () => lines.filter((l) => l.includes('"msg":"rejected a NAT report"')).length;
      const rejected = rejections();
      // site-c forges reports: as site-a on its own subject, for site-a's key, and on site-a's subject.
      bus.publish(Patterns.nat, report('site-a', a, 'edm'), { node: 'site-c' });
      bus.publish(Patterns.nat, report('site-c', a, 'edm'), { node: 'site-c' });
      bus.publish(Patterns.nat, report('site-c', c, 'edm'), { node: 'site-a' });
      await waitFor('three rejections', () => rejections() === rejected + 3);
      expect(await natOf(a)).toBeUndefined();
      expect(await natOf(c)).toBeUndefined();

      const revision = await store.revision();
      bus.publish(Patterns.nat, report('site-a', a, 'edm'), { node: 'site-a' });
      await waitFor('nat=edm in the peer record', async () => (await natOf(a)) === 'edm');
      // The table is written before the event is published: wait for the event too.
      const lastUpsert = () => events.filter((e) => e.type === 'upsert' && e.peer.publicKey === a).at(-1);
      await waitFor('the upsert with nat=edm', () => { const u = lastUpsert(); return u?.type === 'upsert' && u.peer.nat === 'edm'; });
      expect(await new Membership(kv, new AddressPlan('10.99.0.0/24')).get('site-a')).toMatchObject({ nat: 'edm' });
      // The same report again changes nothing; a new classification does.
      const after = await store.revision();
      expect(after).toBeGreaterThan(revision);
      bus.publish(Patterns.nat, report('site-a', a, 'edm'), { node: 'site-a' });
      bus.publish(Patterns.nat, report('site-a', a, 'eim'), { node: 'site-a' });
      await waitFor('nat=eim in the peer record', async () => (await natOf(a)) === 'eim');
      expect(await store.revision()).toBe(after + 1);
    });

    it('keeps members the device lost, programs them back with their last endpoint, and survives a restart and an empty Redis', async () => {
      const a = member(10).publicKey;
      driver.set({ publicKey: a, endpoint: '198.51.100.10:41000', latestHandshake: 1_700_000_300 });
      await waitFor("site-a's endpoint in its record", async () => (await new Membership(kv, new AddressPlan('10.99.0.0/24')).get('site-a'))?.endpoint === '198.51.100.10:41000');
      // A lost hub: the registry process and the device start again from nothing, and Redis comes back empty.
      await running.close();
      driver.peers.clear();
      await store.clear();
      const removedBefore = events.filter((e) => e.type === 'remove').length;
      running = await start();
      await waitFor('every member back on the hub, site-a with its endpoint', () => driver.peers.get(a)?.endpoint === '198.51.100.10:41000' && driver.peers.has(member(12).publicKey));
      expect(driver.peers.get(a)).toMatchObject({ allowedIps: ['10.99.0.2/32'], persistentKeepalive: HUB_KEEPALIVE });
      const table = (await store.snapshot()).peers;
      expect(table.find((p) => p.publicKey === a)).toMatchObject({ name: 'site-a', endpoint: '198.51.100.10:41000', nat: 'eim' });
      expect(events.slice(0).filter((e) => e.type === 'remove').length).toBe(removedBefore);
      // A NAT report is taken (the membership did not live in Redis).
      const rejected = lines.filter((l) => l.includes('"msg":"rejected a NAT report"')).length;
      bus.publish(Patterns.nat, { node: 'site-a', publicKey: a, nat: 'edm', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent', mappedAddress: '198.51.100.7:40000', server: '203.0.113.1:3478', method: 'test', at: Date.now() }, { node: 'site-a' });
      await waitFor('nat=edm', async () => (await store.snapshot()).peers.find((p) => p.publicKey === a)?.nat === 'edm');
      expect(lines.filter((l) => l.includes('"msg":"rejected a NAT report"')).length).toBe(rejected);
    });

    it('removes a member by name: hub peer, membership; the watcher publishes the removal; the name is free again', async () => {
      const a = member(10).publicKey;
      const reply = await bus.request(Patterns.memberRemove, { member: 'site-a' }, parseMemberRemoveReply);
      expect(reply).toEqual({ publicKey: a, name: 'site-a', address: '10.99.0.2' });
      expect(driver.peers.has(a)).toBe(false);
      await waitFor('the removal event', () => events.some((e) => e.type === 'remove' && e.peer.publicKey === a));
      expect(await new Membership(kv, new AddressPlan('10.99.0.0/24')).get('site-a')).toBeNull();
      await expect(bus.request(Patterns.memberRemove, { member: 'site-a' }, parseMemberRemoveReply)).rejects.toBeInstanceOf(RemoteError);
      const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
      expect((await enroll(50, 'site-a', token)).address).toMatch(/\/32$/);
    });
  });
});
