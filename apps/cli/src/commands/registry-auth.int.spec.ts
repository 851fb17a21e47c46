import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FILES, NKEY_SEED_PATTERN, splitEnrollToken, verifyJwt } from '@wgmesh/nats-auth';
import { destroyRegistryState, openRegistryState, readPrefix, TokenStore } from '@wgmesh/registry';
import { connect } from 'nats';

// `registry init --nats-auth` and `token create` with the authority: real processes, the real
// NATS (its JetStream: the store of record) and Redis.
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const BIN = resolve(__dirname, '../../../../bin/wgmesh.js');

function wgmesh(stateDir: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, WGMESH_REDIS_URL: REDIS, WGMESH_NATS_URL: NATS, WGMESH_STATE_DIR: stateDir } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('wgmesh registry init --nats-auth, token create with NATS credentials', () => {
  const mesh = `a${Math.random().toString(36).slice(2, 10)}`;
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-cli-auth-'));

  afterAll(async () => {
    const nc = await connect({ servers: NATS });
    await destroyRegistryState(nc, mesh);
    await nc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the authority once (keys 0600, nothing secret printed), then keeps it', async () => {
    const first = await wgmesh(dir, 'registry', 'init', '--mesh', mesh, '--nats-auth');
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`NATS authority of mesh "${mesh}" created in ${join(dir, 'nats')}`);
    expect(first.stdout + first.stderr).not.toMatch(NKEY_SEED_PATTERN);
    expect(statSync(join(dir, 'nats', FILES.signingSeed)).mode & 0o777).toBe(0o600);
    const info = readFileSync(join(dir, 'nats', FILES.authority), 'utf8');
    const again = await wgmesh(dir, 'registry', 'init', '--mesh', mesh, '--nats-auth');
    expect(again.stderr).toContain('kept as it is');
    expect(readFileSync(join(dir, 'nats', FILES.authority), 'utf8')).toBe(info);
    expect((await wgmesh(dir, 'registry', 'init', '--mesh', 'othermesh', '--nats-auth')).code).not.toBe(0);
  });

  it("prints a token that carries its enrolment credential and its mesh, expiring with it; the store keeps only the token's hash", async () => {
    const created = await wgmesh(dir, 'registry', 'token', 'create', '--mesh', mesh, '--ttl', '15m');
    expect(created.code).toBe(0);
    const { token, enrollJwt, mesh: tokenMesh } = splitEnrollToken(created.stdout);
    expect(tokenMesh).toBe(mesh);
    expect(token).toMatch(/^wgm_[A-Za-z0-9_-]{43}$/);
    const claims = verifyJwt(enrollJwt!);
    const info = JSON.parse(readFileSync(join(dir, 'nats', FILES.authority), 'utf8')) as { signingKey: string; account: string };
    expect(claims).toMatchObject({ iss: info.signingKey, nats: { bearer_token: true, issuer_account: info.account, pub: { allow: [`wgmesh.v1.${mesh}.enroll`] } } });
    const nc = await connect({ servers: NATS });
    const { kv } = await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 });
    const [listed] = await new TokenStore(kv).list();
    expect(claims.exp).toBe(Math.ceil(listed.expiresAt / 1000));
    expect(claims.name).toBe(`enroll-${listed.id}`);
    expect([...(await readPrefix(kv, 'tokens')).values()].map((e) => e.string()).join()).not.toContain(token.slice(4));
    await nc.close();
  });
});
