import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCredentialReply, parseDataplaneApplyRequest, parseEnrollReply, Patterns } from '@wgmesh/contracts';
import { createKey, initAuthority, joinEnrollToken, keyFromSeed, loadIssuer, memberPermissions, parseCreds, verifyJwt } from '@wgmesh/nats-auth';
import { MeshBus } from '@wgmesh/nats-transport';
import { NATS_CREDS_FILE, NATS_SEED_FILE, nodeKey, readEnrollment } from '@wgmesh/peer-discovery';
import { openRegistryState, TokenStore } from '@wgmesh/registry';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { parsePeerDiscoveryArgs } from './main';
import { ensureEnrolled } from './member/enroll-client';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { enrolRequest, FakeDriver, keyPair, memoryLogger, removeTestMesh } from '@wgmesh/peer-discovery/testing';

// Enrolment when the registry runs NATS with authentication (--nats-auth): proofs instead of
// tokens on the wire, and an expiring member credential issued to the member's own NATS key.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';

describe('enrolment with NATS authentication (registry mode, fake hub device)', () => {
  const mesh = `e${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const hub = keyPair();
  const driver = new FakeDriver('wgtest1', hub.publicKey);
  let tokens: TokenStore;
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-enroll-auth-'));
  const auth = initAuthority(join(dir, 'registry', 'nats'), mesh);
  const wire: string[] = [];
  let bus: MeshBus;
  let subs: Subscription[] = [];
  let running: RunningPeerDiscovery;
  const { log } = memoryLogger();
  const enroll = (req: object) => bus.request(Patterns.enroll, req, parseEnrollReply);

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'enroll-auth-test' });
    subs.push(bus.subscribe(Patterns.dataplaneApply, async (v) => {
      const req = parseDataplaneApplyRequest(v);
      await driver.apply({ upsert: req.peers, remove: req.remove ?? [] });
      return { added: req.peers.length, updated: 0, removed: 0, unchanged: 0, durationMs: 1 };
    }, { node: 'registry' }));
    subs.push(bus.raw.subscribe(bus.subject(Patterns.enroll), { callback: (_e, m) => wire.push(Buffer.from(m.data).toString('utf8')) }));
    await bus.flush();
    tokens = new TokenStore((await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 })).kv);
    const config = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgtest1', '--watch-interval', '50',
      '--mesh-cidr', '10.98.0.0/24', '--public-endpoint', '203.0.113.1:51820', '--nats-auth', auth.dir, '--member-credential-ttl', '2h',
    ])!;
    running = await startPeerDiscovery(config, log, { driver, hubKey: hub });
  });

  afterAll(async () => {
    await running?.close();
    subs.forEach((s) => s.unsubscribe());
    await removeTestMesh(bus.raw, redis, mesh);
    await bus?.close();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a request without a NATS key (the token stays unused), and a token proof replayed for another key', async () => {
    const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    const a = keyPair();
    await expect(enroll(enrolRequest({ mesh, name: 'site-a', token, member: a, registryKey: hub.publicKey }))).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/NATS key/) });
    const natsKey = createKey('user').getPublicKey();
    const good = enrolRequest({ mesh, name: 'site-a', token, member: a, registryKey: hub.publicKey, natsKey });
    // Someone who saw site-a's request, holding a key of its own but not the token, reuses its proof of the
    // token: both proofs cover the whole request (the token's id too), so its own proof of possession fails.
    const thief = enrolRequest({ mesh, name: 'site-x', token: 'wgm_not-the-token', member: keyPair(), registryKey: hub.publicKey, natsKey });
    await expect(enroll({ ...thief, proof: good.proof })).rejects.toMatchObject({ code: 'not_key_holder' });
    await expect(enroll(thief)).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/token is not known/) });
    const before = Date.now();
    const reply = await enroll(good);
    // The member credential: issued to the member's key, its node's subjects, only from its tunnel address, expiring.
    const claims = verifyJwt(reply.natsJwt!);
    expect(claims).toMatchObject({ sub: natsKey, iss: auth.info.signingKey, nats: { issuer_account: auth.info.account, src: [reply.address] } });
    expect(claims.nats.pub).toEqual(memberPermissions(mesh, 'site-a', natsKey).pub);
    expect(claims.nats.sub).toEqual(memberPermissions(mesh, 'site-a', natsKey).sub);
    expect(claims.exp! * 1000).toBeGreaterThanOrEqual(before + 2 * 3600_000 - 1000);
    expect(claims.exp! * 1000).toBeLessThanOrEqual(Date.now() + 2 * 3600_000);
  });

  it('enrols a member end to end: its NATS seed stays home (0600), it stores the issued credential, and neither the token nor the key crosses NATS', async () => {
    const { token, info } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    const stateDir = join(dir, 'member-b');
    const config = parsePeerDiscoveryArgs([
      '--mode', 'member', '--mesh', mesh, '--state-dir', stateDir, '--name', 'site-b', '--enroll-nats', NATS, '--registry-key', hub.publicKey,
      '--token', joinEnrollToken(token, loadIssuer(auth.dir).enrollJwt(info.expiresAt)),
    ])!;
    const from = wire.length;
    const publicKey = nodeKey(stateDir).publicKey;
    const enrollment = await ensureEnrolled(config, publicKey, log);
    expect(enrollment.natsJwt).toBeDefined();
    expect(readEnrollment(stateDir)?.natsJwt).toBe(enrollment.natsJwt);
    for (const f of [NATS_SEED_FILE, NATS_CREDS_FILE]) expect(statSync(join(stateDir, f)).mode & 0o777).toBe(0o600);
    const creds = parseCreds(readFileSync(join(stateDir, NATS_CREDS_FILE), 'utf8'));
    expect(creds.jwt).toBe(enrollment.natsJwt);
    expect(verifyJwt(creds.jwt).sub).toBe(keyFromSeed(creds.seed!, 'user').getPublicKey());
    const sent = wire.slice(from);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0])).toEqual({
      publicKey,
      proof: { id: expect.stringMatching(/^[0-9a-f]{64}$/), sig: expect.any(String) },
      possession: { at: expect.any(Number), nonce: expect.any(String), mac: expect.any(String) },
      name: 'site-b',
      natsKey: verifyJwt(creds.jwt).sub,
      registry: hub.publicKey, // the hub key the proof is for (public)
    });
    expect(sent[0]).not.toContain(token.slice(4));
    expect(sent[0]).not.toContain(readFileSync(join(stateDir, 'private.key'), 'utf8').trim());
    expect(JSON.stringify(enrollment)).not.toContain(token.slice(4));
  });

  it('renews a member credential on node.<id>.credential for the NATS key enrolled under that name only, and not once it is removed', async () => {
    const stateDir = join(dir, 'member-b');
    const state = readEnrollment(stateDir)!;
    const natsKey = verifyJwt(state.natsJwt!).sub;
    const renew = (node: string, key: string) => bus.request(Patterns.credential, { natsKey: key }, parseCredentialReply, { node });
    const before = Date.now();
    const renewed = verifyJwt((await renew('site-b', natsKey)).natsJwt);
    expect(renewed).toMatchObject({ sub: natsKey, iss: auth.info.signingKey, nats: { src: [state.address] } });
    expect(renewed.exp! * 1000).toBeGreaterThanOrEqual(before + 2 * 3600_000 - 1000);
    await expect(renew('site-b', createKey('user').getPublicKey())).rejects.toMatchObject({ code: 'not_member', message: expect.stringContaining('enrolled with another NATS key') });
    await expect(renew('nobody', natsKey)).rejects.toMatchObject({ code: 'not_member', message: expect.stringContaining('no member is named "nobody"') });
    await bus.request(Patterns.memberRemove, { member: 'site-b' }, (v) => v);
    await expect(renew('site-b', natsKey)).rejects.toMatchObject({ code: 'not_member' });
  });
});

describe('a token for another mesh', () => {
  it("stops member up at once, naming the token's mesh", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgmesh-token-mesh-'));
    try {
      const auth = initAuthority(join(dir, 'nats'), 'lab');
      const token = joinEnrollToken('wgm_x', loadIssuer(auth.dir).enrollJwt(Date.now() + 60_000));
      const config = parsePeerDiscoveryArgs(['--mode', 'member', '--state-dir', join(dir, 'm'), '--name', 'a', '--enroll-nats', NATS, '--registry-key', keyPair().publicKey, '--token', token])!;
      const started = Date.now();
      await expect(ensureEnrolled(config, nodeKey(join(dir, 'm')).publicKey, memoryLogger().log)).rejects.toThrow("this token is for mesh 'lab', not 'default': give --mesh lab");
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
