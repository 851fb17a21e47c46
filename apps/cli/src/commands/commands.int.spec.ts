import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseSnapshotRequest, Patterns } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { buildEnrollRequest, destroyRegistryState, enrollFields, openRegistryState, readPrefix, TokenStore } from '@wgmesh/registry';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import { Redis } from 'ioredis';
import { connect, NatsConnection } from 'nats';

// The operator interface as scripts use it: real `wgmesh` processes against the real NATS and
// Redis, checked on stdout, stderr and exit codes.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const BIN = resolve(__dirname, '../../../../bin/wgmesh.js');

function wgmesh(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, WGMESH_REDIS_URL: REDIS, WGMESH_NATS_URL: NATS, WGMESH_STATE_DIR: '/nonexistent' } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('wgmesh registry / peers / connect (processes)', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis(REDIS);
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connect({ servers: NATS });
  });
  afterAll(async () => {
    await destroyRegistryState(nc, mesh);
    await nc.close();
    await new PeerStore(redis, mesh).clear();
    redis.disconnect();
  });

  /** Uses a token as an enrolment would (its proof), in the store of record. */
  async function useToken(token: string) {
    const priv = generatePrivateKey();
    const req = buildEnrollRequest({ mesh, name: 'a', token, privateKey: new SecretKey(priv), publicKey: keyToBase64(publicKeyFromPrivate(priv)), registryKey: keyToBase64(publicKeyFromPrivate(generatePrivateKey())) });
    return new TokenStore((await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 })).kv).consumeProof(req.proof, enrollFields(mesh, req));
  }

  it('creates tokens for scripts, lists them without the token, and inits only with --yes', async () => {
    expect(await wgmesh('registry', 'init', '--mesh', mesh)).toMatchObject({ code: 0, stdout: expect.stringContaining('new and empty') });
    const created = await wgmesh('registry', 'token', 'create', '--mesh', mesh, '--ttl', '15m', '--name', 'site-b');
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^wgm_[A-Za-z0-9_-]{43}$/); // alone on stdout: TOKEN=$(wgmesh registry token create)
    expect(created.stderr).toMatch(/single use, expires/);
    expect((await useToken(token)).ok).toBe(true);
    const json = JSON.parse((await wgmesh('registry', 'token', 'create', '--mesh', mesh, '--reusable', '--json')).stdout);
    expect(json).toMatchObject({ token: expect.stringMatching(/^wgm_/), reusable: true, state: 'valid' });
    const list = await wgmesh('registry', 'token', 'list', '--mesh', mesh, '--json');
    expect(JSON.parse(list.stdout).map((t: { state: string }) => t.state).sort()).toEqual(['used', 'valid']);
    expect(list.stdout).not.toContain(token.slice(4));
    expect(list.stdout).not.toContain(json.token.slice(4));
    const refused = await wgmesh('registry', 'init', '--mesh', mesh);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining('run again with --yes') });
    expect(await wgmesh('registry', 'init', '--mesh', mesh, '--yes')).toMatchObject({ code: 0, stdout: expect.stringContaining('cleared') });
    expect((await readPrefix((await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 })).kv, 'tokens')).size).toBe(0);
  }, 60_000);

  it('exits 2 on usage errors and 1 on failures, with a clear message', async () => {
    expect(await wgmesh('registry', 'token', 'create', '--ttl', 'soon')).toMatchObject({ code: 2, stderr: expect.stringContaining('invalid --ttl') });
    expect(await wgmesh('registry', 'token', 'revoke', 'nope', '--mesh', mesh)).toMatchObject({ code: 1, stderr: expect.stringContaining('no token with id "nope"') });
    expect(await wgmesh('connect', '--mesh', mesh)).toMatchObject({ code: 2 });
    expect(await wgmesh('member', 'up', '--device', 'x')).toMatchObject({ code: 2, stderr: expect.stringContaining('missing --registry-key') });
    expect(await wgmesh('peers', '--mesh', mesh, '--timeout', '300')).toMatchObject({ code: 1, stderr: expect.stringContaining('no responders') });
  }, 60_000);

  it('prints the peer table from peers.snapshot, as a table or JSON', async () => {
    const store = new PeerStore(redis, mesh);
    const key = Buffer.alloc(32, 7).toString('base64');
    await store.upsert({ publicKey: key, allowedIps: ['10.99.0.7/32'], endpoint: '198.51.100.7:51820', name: 'site-g', latestHandshake: Math.floor(Date.now() / 1000) - 30 });
    const bus = await MeshBus.connect({ servers: NATS, mesh, name: 'cli-test' });
    const sub = bus.subscribe(Patterns.peerSnapshot, (v) => {
      const req = parseSnapshotRequest(v);
      return store.snapshotPage(req.cursor ?? 0, req.limit ?? 500);
    });
    await bus.flush();
    try {
      const table = await wgmesh('peers', '--mesh', mesh);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^NAME\s+ADDRESSES\s+ENDPOINT\s+HANDSHAKE/);
      expect(table.stdout).toMatch(/site-g\s+10\.99\.0\.7\/32\s+198\.51\.100\.7:51820\s+3\ds ago/);
      const json = JSON.parse((await wgmesh('peers', '--mesh', mesh, '--json')).stdout);
      expect(json).toEqual({ revision: 1, peers: [expect.objectContaining({ publicKey: key, name: 'site-g' })] });
    } finally {
      sub.unsubscribe();
      await bus.close();
    }
  }, 60_000);
});
