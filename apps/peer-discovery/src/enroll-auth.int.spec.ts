import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDataplaneApplyRequest, parseEnrollReply, Patterns } from '@wgmesh/contracts';
import { createKey, initAuthority, joinEnrollToken, keyFromSeed, loadIssuer, memberPermissions, parseCreds, verifyJwt } from '@wgmesh/nats-auth';
import { MeshBus } from '@wgmesh/nats-transport';
import { NATS_CREDS_FILE, NATS_SEED_FILE, readEnrollment } from '@wgmesh/peer-discovery';
import { enrollProof, registryKeys, TokenStore } from '@wgmesh/registry';
import { Redis } from 'ioredis';
import type { Subscription } from 'nats';
import { parsePeerDiscoveryArgs } from './main';
import { ensureEnrolled } from './member/enroll-client';
import { RunningPeerDiscovery, startPeerDiscovery } from './run';
import { FakeDriver, key, memoryLogger } from './testing';

// Enrolment when the registry runs NATS with authentication (--nats-auth): proofs instead of
// tokens on the wire, and a member credential issued to the member's own NATS key.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';

describe('enrolment with NATS authentication (registry mode, fake hub device)', () => {
  const mesh = `e${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  const tokens = new TokenStore(redis, mesh);
  const driver = new FakeDriver('wgtest1', key(1000));
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
    const config = parsePeerDiscoveryArgs([
      '--mode', 'registry', '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--device', 'wgtest1', '--watch-interval', '50',
      '--mesh-cidr', '10.98.0.0/24', '--public-endpoint', '203.0.113.1:51820', '--nats-auth', auth.dir,
    ])!;
    running = await startPeerDiscovery(config, log, { driver });
  });

  afterAll(async () => {
    await running?.close();
    subs.forEach((s) => s.unsubscribe());
    await bus?.close();
    const k = registryKeys(mesh);
    await redis.del(k.tokens, k.addressByKey, k.keyByAddress, k.addressMeta, k.members, `wgmesh:${mesh}:peers`, `wgmesh:${mesh}:revision`);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a request without a NATS key (the token stays unused), and a proof replayed for another key', async () => {
    const { token } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    const fields = { mesh, publicKey: key(10), name: 'site-a' };
    await expect(enroll({ ...fields, mesh: undefined, proof: enrollProof(token, fields) })).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/NATS key/) });
    const natsKey = createKey('user').getPublicKey();
    const proof = enrollProof(token, { ...fields, natsKey });
    await expect(enroll({ publicKey: key(11), name: 'site-x', natsKey, proof })).rejects.toMatchObject({ code: 'enrollment_refused', message: expect.stringMatching(/proof/) });
    const reply = await enroll({ publicKey: key(10), name: 'site-a', natsKey, proof });
    // The member credential: issued to the member's key, its node's subjects, only from its tunnel address.
    const claims = verifyJwt(reply.natsJwt!);
    expect(claims).toMatchObject({ sub: natsKey, iss: auth.info.signingKey, nats: { issuer_account: auth.info.account, src: [reply.address] } });
    expect(claims.nats.pub).toEqual(memberPermissions(mesh, 'site-a', natsKey).pub);
    expect(claims.nats.sub).toEqual(memberPermissions(mesh, 'site-a', natsKey).sub);
  });

  it('enrols a member end to end: its NATS seed stays home (0600), it stores the issued credential, and the token never crosses NATS', async () => {
    const { token, info } = await tokens.create({ reusable: false, ttlSeconds: 600 });
    const stateDir = join(dir, 'member-b');
    const config = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', mesh, '--state-dir', stateDir, '--name', 'site-b', '--enroll-nats', NATS, '--token', joinEnrollToken(token, loadIssuer(auth.dir).enrollJwt(info.expiresAt))])!;
    const from = wire.length;
    const enrollment = await ensureEnrolled(config, key(12), log);
    expect(enrollment.natsJwt).toBeDefined();
    expect(readEnrollment(stateDir)?.natsJwt).toBe(enrollment.natsJwt);
    for (const f of [NATS_SEED_FILE, NATS_CREDS_FILE]) expect(statSync(join(stateDir, f)).mode & 0o777).toBe(0o600);
    const creds = parseCreds(readFileSync(join(stateDir, NATS_CREDS_FILE), 'utf8'));
    expect(creds.jwt).toBe(enrollment.natsJwt);
    expect(verifyJwt(creds.jwt).sub).toBe(keyFromSeed(creds.seed!, 'user').getPublicKey());
    const sent = wire.slice(from);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0])).toEqual({ publicKey: key(12), proof: { id: expect.stringMatching(/^[0-9a-f]{64}$/), sig: expect.any(String) }, name: 'site-b', natsKey: verifyJwt(creds.jwt).sub });
    expect(sent[0]).not.toContain(token.slice(4));
    expect(JSON.stringify(enrollment)).not.toContain(token.slice(4));
  });
});
