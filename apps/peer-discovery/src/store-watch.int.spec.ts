import { join } from 'node:path';
import { parseDataplaneApplyRequest, parseRegistriesMessage, Patterns, RegistriesMessage, type RegistryInfo } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { AddressPlan, Membership, openRegistryState, RegistryBook } from '@wgmesh/registry';
import { Enrollment, readEnrollment, writeEnrollment } from '@wgmesh/peer-discovery';
import { OwnServer, tempDir, waitFor } from '@wgmesh/testing';
import { Redis } from 'ioredis';
import { parsePeerDiscoveryArgs } from './main';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { FakeDriver, keyPair, memoryLogger } from '@wgmesh/peer-discovery/testing';

// Also: a registry added to the mesh after a member enrolled reaches the member (registries.get
// at its start, registries.events after), which writes it to its enrollment.json and hands it to
// `member up` in the same process.
//
// The registry follows the store of record by a JetStream KV watch: a member another registry
// claims or removes (here: this test, writing the store directly) reaches the hub at once, with
// no periodic read of the membership; and the watch comes back after the NATS connection drops.
// The NATS is a nats-server of this test's own (JetStream, its store in a temporary directory;
// killed and started again by its PID); Redis is the machine's.
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const HUB = keyPair();

describe('registry: the membership followed by a KV watch (own nats-server)', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const driver = new FakeDriver('wgwatch0', HUB.publicKey);
  const { log } = memoryLogger();
  const dir = tempDir('wgmesh-store-watch-');
  let nats: OwnServer;
  let bus: MeshBus;
  let membership: Membership;
  let running: RunningPeerDiscovery;
  let book: RegistryBook;

  const startNats = () => nats.start();
  const killNats = () => nats.stop('SIGKILL');
  const onHub = (publicKey: string) => driver.peers.has(publicKey);

  beforeAll(async () => {
    nats = await OwnServer.nats({ jetstream: join(dir.path, 'js') });
    await startNats();
    const url = nats.url;
    bus = await MeshBus.connect({ servers: url, mesh, name: 'store-watch-test', connection: { maxReconnectAttempts: -1, reconnectTimeWait: 100 } });
    // The hub's dataplane-programmer, as a stand-in on NATS.
    bus.subscribe(
      Patterns.dataplaneApply,
      async (v) => {
        const req = parseDataplaneApplyRequest(v);
        await driver.apply({ upsert: req.peers, remove: req.remove ?? [] });
        return { added: req.peers.length, updated: 0, removed: req.remove?.length ?? 0, unchanged: 0, durationMs: 1 };
      },
      { node: 'registry' },
    );
    await bus.flush();
    const config = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', url, '--redis', REDIS, '--device', driver.device, '--watch-interval', '50',
      '--mesh-cidr', '10.99.0.0/24', '--public-endpoint', '203.0.113.1:51820',
    ])!;
    running = await startPeerDiscovery(config, log, { driver, hubKey: HUB });
    // "Another registry": the same store of record, written from another connection.
    const { kv } = await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 });
    membership = new Membership(kv, new AddressPlan('10.99.0.0/24', ['10.99.0.1']));
    book = new RegistryBook(kv);
  }, 30_000);

  afterAll(async () => {
    await running?.close();
    await bus?.close();
    await nats?.stop();
    await new PeerStore(redis, mesh).clear();
    redis.disconnect();
    dir.remove();
  });

  it('a member claimed in the store elsewhere is programmed on the hub and published with its name', async () => {
    const m = keyPair();
    const claim = await membership.claim({ name: 'elsewhere', publicKey: m.publicKey });
    expect(claim.ok).toBe(true);
    await waitFor('the member on the hub', () => onHub(m.publicKey), 3000);
    const store = new PeerStore(redis, mesh);
    await waitFor('the member in the peer table', async () => (await store.snapshot()).peers.find((p) => p.publicKey === m.publicKey && p.name === 'elsewhere'), 3000);
  });

  it('a member removed from the store elsewhere leaves the hub and the table', async () => {
    const m = keyPair();
    expect((await membership.claim({ name: 'leaving', publicKey: m.publicKey })).ok).toBe(true);
    await waitFor('the member on the hub', () => onHub(m.publicKey), 3000);
    await membership.remove('leaving');
    await waitFor('the member off the hub', () => !onHub(m.publicKey), 3000);
    const store = new PeerStore(redis, mesh);
    await waitFor('the member out of the table', async () => !(await store.snapshot()).peers.some((p) => p.publicKey === m.publicKey), 3000);
  });

  it('a registry added after a member enrolled: the member learns it, writes it to its enrollment.json and hands it to member up', async () => {
    const first = await bus.request(Patterns.registriesGet, {}, parseRegistriesMessage);
    expect(first.registries).toEqual([{ id: 'registry', publicKey: HUB.publicKey, endpoint: '203.0.113.1:51820', address: '10.99.0.1' }]);
    // A member that enrolled when there was one registry (its state directory as enrolment wrote it).
    const enrolled: Enrollment = { version: 1, name: 'site-m', publicKey: keyPair().publicKey, enrolledAt: new Date().toISOString(), address: '10.99.0.50/32', meshCidr: '10.99.0.0/24', registry: { publicKey: HUB.publicKey, endpoint: '203.0.113.1:51820', address: '10.99.0.1' } };
    writeEnrollment(join(dir.path, 'member'), enrolled);
    bus.subscribe(Patterns.dataplaneApply, () => ({ added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0 }), { node: 'site-m' });
    const told: RegistriesMessage[] = [];
    bus.subscribe(Patterns.registries, (v) => void told.push(parseRegistriesMessage(v)));
    await bus.flush();
    const memberConfig = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', nats.url, '--state-dir', join(dir.path, 'member'), '--dns-pull-interval', '3600'])!;
    const handed: RegistryInfo[][] = [];
    const member = await startPeerDiscovery(memberConfig, memoryLogger().log, { enrollment: enrolled, registriesChanged: (list) => void handed.push(list) });
    try {
      // A second registry joins the mesh (it registers itself in the store of record as it starts).
      const b = { id: 'registry-b', publicKey: keyPair().publicKey, endpoint: '203.0.113.3:51820', address: '10.99.0.254' };
      await book.register(b);
      await waitFor('the registries told to members', () => told.find((m) => m.registries.length === 2), 5000);
      expect(told.at(-1)!.registries.map((r) => r.id)).toEqual(['registry', 'registry-b']);
      await waitFor("the member's enrollment.json with both", () => readEnrollment(join(dir.path, 'member'))?.registries?.length === 2, 5000);
      const written = readEnrollment(join(dir.path, 'member'))!;
      expect(written.registries).toEqual([{ id: 'registry', publicKey: HUB.publicKey, endpoint: '203.0.113.1:51820', address: '10.99.0.1' }, b]);
      expect({ ...written, registries: undefined }).toEqual({ ...enrolled, registries: undefined }); // nothing else changed
      // In-process, to member up (which peers with it at once): the list, once.
      expect(handed).toEqual([written.registries]);
      // Enrolment replies list both from now on, as registries.get does.
      expect((await bus.request(Patterns.registriesGet, {}, parseRegistriesMessage)).registries.map((r) => r.id)).toEqual(['registry', 'registry-b']);
    } finally {
      await member.close();
      await book.remove('registry-b');
    }
  });

  it('after NATS restarts, the watch is back: members claimed and removed then reach the hub', async () => {
    const before = keyPair();
    expect((await membership.claim({ name: 'before', publicKey: before.publicKey })).ok).toBe(true);
    await waitFor('the member on the hub', () => onHub(before.publicKey), 3000);
    await killNats();
    await waitFor('the connection to drop', () => !bus.connected, 5000);
    await startNats();
    await waitFor('the connection back', () => bus.connected, 10_000, 50);
    const after = keyPair();
    // The store's stream is back once NATS has recovered it from its directory.
    await waitFor('the store to take writes', async () => (await membership.claim({ name: 'after', publicKey: after.publicKey }).catch(() => null))?.ok, 10_000, 200);
    await waitFor('the member claimed after the restart on the hub', () => onHub(after.publicKey), 10_000);
    await membership.remove('before');
    await waitFor('the member removed after the restart off the hub', () => !onHub(before.publicKey), 10_000);
  }, 40_000);
});
