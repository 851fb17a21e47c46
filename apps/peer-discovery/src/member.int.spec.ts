import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataplaneApplyRequest, parseConnectReply, parseDataplaneApplyRequest, parseSnapshotRequest, Patterns, PeerRecord } from '@wgmesh/contracts';
import { DnsResponder, PeerIndex } from '@wgmesh/dns-sd';
import { DnsServer, startDnsServer } from '@wgmesh/dns-transport';
import { MeshBus } from '@wgmesh/nats-transport';
import { coalesceRequests } from '@wgmesh/dataplane';
import { Enrollment, readEnrollment } from '@wgmesh/peer-discovery';
import { PeerStore } from '@wgmesh/peer-store';
import { openRegistryState, PeerPublisher, TokenStore } from '@wgmesh/registry';
import { waitFor } from '@wgmesh/testing';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { parsePeerDiscoveryArgs } from './main';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { FakeDriver, key, keyPair, memoryLogger, removeTestMesh } from '@wgmesh/peer-discovery/testing';

// Member mode against the real NATS: the registry side is played by the test (a peer store with
// a publisher, a `peers.snapshot` responder), the member's dataplane-programmer by a stub that
// records apply requests.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const REGISTRY = key(500);
const SELF = key(501);
const member = (n: number, extra: Partial<PeerRecord> = {}): PeerRecord => ({ publicKey: key(n), allowedIps: [`10.99.0.${n}/32`], endpoint: `198.51.100.${n}:${40000 + n}`, name: `site-${n}`, ...extra });
const enrollment = (name: string): Enrollment => ({
  version: 1,
  name,
  publicKey: SELF,
  enrolledAt: new Date().toISOString(),
  address: '10.99.0.50/32',
  meshCidr: '10.99.0.0/24',
  registry: { publicKey: REGISTRY, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
});

describe('peer-discovery, member mode (NATS, stub registry and programmer)', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  const index = new PeerIndex();
  const applies: { at: number; req: DataplaneApplyRequest }[] = [];
  const subs: Subscription[] = [];
  let bus: MeshBus;
  let publisher: PeerPublisher;
  let dns: DnsServer;
  let running: RunningPeerDiscovery;
  const { log, lines } = memoryLogger();
  const lastApply = () => applies.at(-1)?.req;
  /** The programmer's peers after every apply so far (a whole set, then deltas on top). */
  const lastKeys = () => (applies.length ? coalesceRequests(applies.map((a) => a.req)).peers.map((p) => p.publicKey) : []);

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'member-int-test' });
    publisher = new PeerPublisher(store, (e) => bus.publish(Patterns.peerEvents, e));
    subs.push(bus.subscribe(Patterns.peerSnapshot, async (v) => {
      const req = parseSnapshotRequest(v);
      return store.snapshotPage(req.cursor ?? 0, req.limit ?? 500);
    }));
    subs.push(bus.subscribe(Patterns.dataplaneApply, (v) => {
      applies.push({ at: performance.now(), req: parseDataplaneApplyRequest(v) });
      return { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0 };
    }, { node: 'site-m' }));
    await bus.flush();
    await publisher.upsert(member(2));
    await publisher.upsert(member(3, { endpoint: null }));
    await publisher.upsert({ publicKey: SELF, allowedIps: ['10.99.0.50/32'], endpoint: '198.51.100.50:51820' });
    dns = await startDnsServer({
      host: '127.0.0.1',
      port: 0,
      respond: (q, t) => responder.respond(q, t),
    });
    const config = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', NATS, '--zone', 'mesh.example', '--dns-server', `127.0.0.1:${dns.port}`, '--dns-pull-interval', '3600'])!;
    running = await startPeerDiscovery(config, log, { enrollment: enrollment('site-m') });
  });
  const responder = new DnsResponder({ zones: [{ origin: 'mesh.example.', ttl: 0, self: { publicKey: REGISTRY, endpoint: '203.0.113.1:51820', allowedIps: ['10.99.0.1/32'] } }], index });

  afterAll(async () => {
    await running?.close();
    await dns?.close();
    subs.forEach((s) => s.unsubscribe());
    await bus?.close();
    await store.clear();
    redis.disconnect();
  });

  it('applies the table once loaded: other members with endpoints, keepalive 25, replace', async () => {
    await waitFor('the first apply', () => applies.length > 0);
    expect(lastApply()).toEqual({ replace: true, revision: 3, peers: [{ publicKey: key(2), endpoint: '198.51.100.2:40002', allowedIps: ['10.99.0.2/32'], persistentKeepalive: 25 }] });
  });

  it('applies a new member within milliseconds of its event, and a burst as one apply', async () => {
    const count = applies.length;
    const sent = performance.now();
    await publisher.upsert(member(4));
    await waitFor('the apply with the new member', () => lastKeys().includes(key(4)), 2000, 1);
    const ms = applies.at(-1)!.at - sent;
    expect(ms).toBeLessThan(200);
    expect(applies.length).toBe(count + 1);
    // Only what changed goes out: the new member, on top of what the device has.
    expect(lastApply()).toEqual({ replace: false, revision: expect.any(Number), peers: [{ publicKey: key(4), endpoint: '198.51.100.4:40004', allowedIps: ['10.99.0.4/32'], persistentKeepalive: 25 }] });
    const before = applies.length;
    await Promise.all([5, 6, 7, 8, 9].map((n) => publisher.upsert(member(n))));
    await waitFor('the burst applied', () => [5, 6, 7, 8, 9].every((n) => lastKeys().includes(key(n))));
    await running.member!.idle();
    expect(applies.length - before).toBeLessThanOrEqual(2);
    process.stdout.write(`member: event → apply request in ${ms.toFixed(1)} ms\n`);
  });

  it("refuses a peer that claims another member's address, the registry's or this node's, or lies outside the mesh: not on the device, logged, counted", async () => {
    const refused = () => lines.filter((l) => l.includes('"msg":"refused a peer of the table: not configured on this device"'));
    const before = refused().length;
    const counted = running.member!.counters.refusedPeers;
    await publisher.upsert({ ...member(60), allowedIps: ['10.99.0.2/32'] }); // site-2's address
    await publisher.upsert({ ...member(61), allowedIps: ['10.99.0.1/32'] }); // the registry's
    await publisher.upsert({ ...member(62), allowedIps: ['10.99.0.50/32'] }); // ours
    await publisher.upsert({ ...member(63), allowedIps: ['192.0.2.0/24'] }); // outside the mesh
    await waitFor('five refusals', () => refused().length === before + 5); // site-2 and the impostor are both refused: which one is right cannot be told here
    await running.member!.idle();
    for (const n of [60, 61, 62, 63, 2]) expect(lastKeys()).not.toContain(key(n));
    const reasons = Object.fromEntries(refused().slice(before).map((l) => JSON.parse(l) as { name: string; reason: string }).map((r) => [r.name, r.reason]));
    expect(reasons).toEqual({
      'site-60': 'its allowed IPs 10.99.0.2 overlap those of "site-2"',
      'site-2': 'its allowed IPs 10.99.0.2 overlap those of "site-60"',
      'site-61': "its allowed IPs 10.99.0.1/32 cover the registry's address",
      'site-62': "its allowed IPs 10.99.0.50/32 cover this node's address",
      'site-63': 'its allowed IPs 192.0.2.0/24 lie outside the mesh 10.99.0.0/24',
    });
    expect(running.member!.counters.refusedPeers).toBe(counted + 5);
    for (const n of [60, 61, 62, 63]) await publisher.remove(key(n));
    await waitFor('site-2 back on the device once the claim is gone', () => lastKeys().includes(key(2)));
  });

  it('sends nothing for a change it does not act on (a handshake time)', async () => {
    const count = applies.length;
    await publisher.upsert({ ...member(4), latestHandshake: 1_700_000_000 });
    await waitFor('the mirror at the store revision', async () => running.member!.mirror.revision === (await store.revision()));
    await running.member!.idle();
    expect(applies.length).toBe(count);
  });

  it('heals a lost event with a reload on the revision gap', async () => {
    await store.upsert(member(20)); // stored, event lost
    await publisher.upsert(member(21));
    await waitFor('both in the applied set', () => lastKeys().includes(key(20)) && lastKeys().includes(key(21)));
    expect(lines.some((l) => l.includes('revision gap'))).toBe(true);
    await publisher.remove(key(20));
    await waitFor('the removal applied', () => !lastKeys().includes(key(20)));
  });

  it('keeps only on-demand peers, changed at run time through node.<id>.connect', async () => {
    // A full-mesh member already wants everyone: a connect request changes nothing.
    const full = await bus.request(Patterns.connect, { targets: ['site-5'] }, parseConnectReply, { node: 'site-m' });
    expect(full.mode).toBe('full');
    expect(full.peers.length).toBeGreaterThan(2);
    // An on-demand member (--connect) wants only the peers named, by address, name or key.
    const applied: DataplaneApplyRequest[] = [];
    const sub = bus.subscribe(Patterns.dataplaneApply, (v) => {
      applied.push(parseDataplaneApplyRequest(v));
      return { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0 };
    }, { node: 'site-o' });
    await bus.flush();
    const config = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', NATS, '--connect', '10.99.0.4'])!;
    const onDemand = await startPeerDiscovery(config, memoryLogger().log, { enrollment: enrollment('site-o') });
    try {
      // The device as the applies left it (a whole set, deltas on top).
      const keysOf = () => (applied.length ? coalesceRequests(applied).peers.map((p) => p.publicKey).sort().join() : '');
      await waitFor('the on-demand set applied', () => keysOf() === key(4));
      const reply = await bus.request(Patterns.connect, { targets: ['site-5', key(6)] }, parseConnectReply, { node: 'site-o' });
      expect(reply).toEqual({ mode: 'on-demand', targets: ['10.99.0.4', 'site-5', key(6)], peers: [key(4), key(5), key(6)].sort() });
      await waitFor('the added peers applied', () => keysOf() === [key(4), key(5), key(6)].sort().join());
      expect((await bus.request(Patterns.connect, { targets: ['site-5'], remove: true }, parseConnectReply, { node: 'site-o' })).peers).toEqual([key(4), key(6)].sort());
      expect((await bus.request(Patterns.connect, { targets: [], all: true }, parseConnectReply, { node: 'site-o' })).mode).toBe('full');
      await waitFor('full mesh again', () => (applied.length ? coalesceRequests(applied).peers.length : 0) > 3);
      await expect(bus.request(Patterns.connect, { targets: [] }, parseConnectReply, { node: 'site-o' })).rejects.toMatchObject({ code: 'invalid_request' });
    } finally {
      await onDemand.close();
      sub.unsubscribe();
    }
  });

  it('with a nat-probe answering paths.get: only the peers it decided go on the device, the others are kept as they are until it decides', async () => {
    // A second member (site-p) whose nat-probe (a stub answering node.site-p.paths.get) has decided
    // about key(2) only; its report about key(4) is "lost" (never published): the member asks again.
    const applied: DataplaneApplyRequest[] = [];
    const decided = new Set([key(2)]);
    const relayed = new Set<string>();
    let seq = 0;
    let asked = 0;
    const decision = (peer: string) => ({ peer, path: relayed.has(peer) ? 'relayed' : 'direct', attempt: false, reason: relayed.has(peer) ? 'relayed: both endpoint-dependent' : 'direct: both endpoint-independent', retryAt: null, since: 1 });
    const report = () => ({ node: 'site-p', publicKey: SELF, nat: 'eim', at: Date.now(), epoch: 1, seq, decisions: [...decided].map(decision) });
    const update = (changed: string[]) => ({ node: 'site-p', publicKey: SELF, nat: 'eim', at: Date.now(), epoch: 1, seq, changed: changed.map(decision), removed: [] });
    const stubs = [
      bus.subscribe(Patterns.dataplaneApply, (v) => {
        applied.push(parseDataplaneApplyRequest(v));
        return { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0 };
      }, { node: 'site-p' }),
      bus.subscribe(Patterns.pathsGet, () => {
        asked++;
        return report();
      }, { node: 'site-p' }),
    ];
    await bus.flush();
    const config = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', NATS])!;
    const withProbe = await startPeerDiscovery(config, memoryLogger().log, { enrollment: enrollment('site-p') });
    try {
      const first = await waitFor('the first apply', () => applied[0]);
      expect(first.peers.map((p) => p.publicKey)).toEqual([key(2)]);
      // Every other member with an endpoint waits, neither added nor removed; key(3) has none.
      const waiting = (await store.snapshot()).peers.filter((p) => p.endpoint !== null && ![SELF, key(2)].includes(p.publicKey)).map((p) => p.publicKey).sort();
      expect(first.keep).toEqual(waiting);
      decided.add(key(4));
      await waitFor('key(4) decided on the next ask', () => applied.at(-1)?.peers.some((p) => p.publicKey === key(4)), 5000);
      expect(applied.at(-1)?.keep).not.toContain(key(4));
      // An update in sequence is applied without asking: key(2) relayed (left out of the device).
      await waitFor('no more asks pending', async () => {
        const before = asked;
        await new Promise((r) => setTimeout(r, 300));
        return asked === before;
      });
      const asks = asked;
      relayed.add(key(2));
      seq++;
      bus.publish(Patterns.paths, update([key(2)]), { node: 'site-p' });
      await waitFor('key(2) relayed', () => applied.length > 0 && !coalesceRequests(applied).peers.some((p) => p.publicKey === key(2)), 5000);
      expect(asked).toBe(asks);
      // A gap (an update lost): the report is asked for, and what the lost update said is applied.
      relayed.add(key(4));
      seq += 2; // seq - 1 never arrives
      bus.publish(Patterns.paths, update([]), { node: 'site-p' });
      await waitFor('key(4) relayed, from the report', () => !coalesceRequests(applied).peers.some((p) => p.publicKey === key(4)), 5000);
      expect(asked).toBeGreaterThan(asks);
    } finally {
      await withProbe.close();
      stubs.forEach((sub) => sub.unsubscribe());
    }
  });

  it('reloads when the DNS-SD view disagrees, and stays quiet when it agrees', async () => {
    const snap = await store.snapshot();
    index.replaceAll(snap.peers);
    const m = running.member!;
    await m.dnsPull();
    expect(m.counters.dnsDisagreements).toBe(0);
    index.upsert(member(30)); // the resolver knows a member the mirror does not
    await store.upsert(member(30)); // (stored without an event: the DNS pull is what finds it)
    await m.dnsPull();
    expect(m.counters.dnsDisagreements).toBe(1);
    await waitFor('the reloaded table applied', () => lastKeys().includes(key(30)));
  });

  it('a registry added while it runs is never a member peer, even when the table lists its key', async () => {
    // (member up hands the list over in-process; the registry peers are its own, not the desired set's)
    running.member!.registriesChanged([{ id: 'registry', ...enrollment('site-m').registry }, { id: 'registry-b', publicKey: key(70), endpoint: '203.0.113.3:51820', address: '10.99.0.70' }]);
    await publisher.upsert(member(70)); // the new registry's key, as a member record
    await publisher.upsert(member(71));
    await waitFor('the member after it applied', () => lastKeys().includes(key(71)));
    expect(lastKeys()).not.toContain(key(70));
  });
});

describe('peer-discovery, member enrolment against registry mode', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const hubKey = keyPair();
  const hub = new FakeDriver('wgtest1', hubKey.publicKey);
  const subs: Subscription[] = [];
  const applies: DataplaneApplyRequest[] = [];
  let bus: MeshBus;
  let registry: RunningPeerDiscovery;
  let memberRun: RunningPeerDiscovery | undefined;
  const cleanup: string[] = [];

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'enrol-int-test' });
    subs.push(bus.subscribe(Patterns.dataplaneApply, async (v) => {
      const req = parseDataplaneApplyRequest(v);
      await hub.apply({ upsert: req.peers, remove: req.remove ?? [] });
      return { added: 1, updated: 0, removed: 0, unchanged: 0, durationMs: 0 };
    }, { node: 'registry' }));
    subs.push(bus.subscribe(Patterns.dataplaneApply, (v) => {
      applies.push(parseDataplaneApplyRequest(v));
      return { added: 0, updated: 0, removed: 0, unchanged: 0, durationMs: 0 };
    }, { node: 'site-e' }));
    await bus.flush();
    hub.set({ publicKey: key(7), allowedIps: ['10.98.0.7/32'], endpoint: '198.51.100.7:51820' });
    const config = parsePeerDiscoveryArgs(['--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgtest1', '--watch-interval', '50', '--mesh-cidr', '10.98.0.0/24', '--public-endpoint', '203.0.113.9:51820'])!;
    registry = await startPeerDiscovery(config, memoryLogger().log, { driver: hub, hubKey });
  });

  afterAll(async () => {
    await memberRun?.close();
    await registry?.close();
    subs.forEach((s) => s.unsubscribe());
    await removeTestMesh(bus.raw, redis, mesh);
    await bus?.close();
    redis.disconnect();
    for (const dir of cleanup) rmSync(dir, { recursive: true, force: true }); // a member's keys
  });

  it('enrols with a token file (removed once enrolled), writes the state, then follows the table', async () => {
    const { token } = await new TokenStore((await openRegistryState(bus.raw, mesh, { nonceTtlMs: 60_000 })).kv).create({ reusable: false, ttlSeconds: 60 });
    const root = mkdtempSync(join(tmpdir(), 'wgmesh-member-'));
    cleanup.push(root);
    const stateDir = join(root, 'state');
    const tokenFile = join(root, 'token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const { log, lines } = memoryLogger();
    const config = parsePeerDiscoveryArgs([
      '--mode', 'member', '--mesh', mesh, '--nats', NATS, '--enroll-nats', NATS, '--state-dir', stateDir, '--token-file', tokenFile, '--name', 'site-e',
      '--registry-key', hubKey.publicKey, '--mesh-cidr', '10.98.0.0/24',
    ])!;
    memberRun = await startPeerDiscovery(config, log);
    expect(existsSync(tokenFile)).toBe(false);
    const state = readEnrollment(stateDir)!;
    expect(state).toMatchObject({ name: 'site-e', address: '10.98.0.2/32', registry: { publicKey: hubKey.publicKey, endpoint: '203.0.113.9:51820', address: '10.98.0.1' } });
    expect(hub.peers.get(state.publicKey)?.allowedIps).toEqual(['10.98.0.2/32']);
    await waitFor('the member applies the registry table', () => applies.some((a) => a.peers.some((p) => p.publicKey === key(7))));
    expect(JSON.stringify([lines, state])).not.toContain(token.slice(4));
    // Restarting with the state needs no token; a wrong registry key is refused.
    await memberRun.close();
    memberRun = undefined;
    const again = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--nats', NATS, '--state-dir', stateDir, '--registry-key', key(1)])!;
    await expect(startPeerDiscovery(again, log)).rejects.toThrow(/not --registry-key/);
  });
});
