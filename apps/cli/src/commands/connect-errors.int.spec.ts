import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initAuthority } from '@wgmesh/nats-auth';
import { destroyRegistryState } from '@wgmesh/registry';
import { closedTcpPort, freePort, runWgmesh, Service, startService } from '@wgmesh/testing';
import { connect } from 'nats';

// What the client commands say when they cannot talk to NATS or Redis: a nats-server and a
// redis-server of our own (free ports, killed by PID), with authentication as the lab runs them.
const SHARED_NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const wgmesh = (...args: string[]) => runWgmesh(args, { WGMESH_STATE_DIR: '/nonexistent', WGMESH_NATS_URL: undefined, WGMESH_NATS_CREDS: undefined, WGMESH_REDIS_URL: undefined });

describe('client commands: connection failures name their cause and the way out', () => {
  const MESH = 'errmesh';
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-connect-errors-'));
  const password = `p${Math.random().toString(36).slice(2)}`;
  let nats: Service;
  let redis: Service;
  let natsUrl: string;
  let redisPort: number;
  let otherCreds: string;

  beforeAll(async () => {
    const auth = initAuthority(join(dir, 'registry', 'nats'), MESH);
    otherCreds = initAuthority(join(dir, 'other', 'nats'), MESH).registryCreds;
    nats = startService('nats-server', ['-c', auth.serverConfig, '-a', '127.0.0.1', '-p', '-1']);
    natsUrl = `nats://${/on (\S+:\d+)/.exec(await nats.waitForLine(/Listening for client connections on/))![1]}`;
    redisPort = await freePort({ udp: false });
    writeFileSync(join(dir, 'users.acl'), `user default off\nuser wgmesh-registry on >${password} ~wgmesh:* +@all\n`, { mode: 0o600 });
    redis = startService('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--aclfile', join(dir, 'users.acl')]);
    await redis.waitForLine(/Ready to accept connections/);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([nats?.stop(), redis?.stop()]);
    rmSync(dir, { recursive: true, force: true }); // keys and seeds first of all
  });

  it('NATS unreachable: says nothing answers there', async () => {
    const url = `nats://127.0.0.1:${await closedTcpPort()}`;
    const r = await wgmesh('peers', '--nats', url);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`wgmesh peers: nothing answers at ${url} (CONNECTION_REFUSED): is nats-server running there and reachable from here? Give --nats <url> for another server`);
  });

  it('NATS answered but wants a credential: says so, not "give --nats"', async () => {
    const r = await wgmesh('peers', '--nats', natsUrl, '--mesh', MESH);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`wgmesh peers: NATS at ${natsUrl} wants a credential and none was given (Authorization Violation): give --nats-creds <file>`);
    expect(r.stderr).not.toContain('give --nats ');
  });

  it('NATS refused the credential: names the file', async () => {
    const r = await wgmesh('status', '--nats', natsUrl, '--mesh', MESH, '--nats-creds', otherCreds, '--node', 'a');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`wgmesh status: NATS at ${natsUrl} refused the credential ${otherCreds} (Authorization Violation)`);
  });

  it('status on a host that is no member, with no member named: says which options name one', async () => {
    const r = await wgmesh('status', '--nats', natsUrl, '--mesh', MESH);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('this host is not an enrolled member (no enrolment in --state-dir), so which node to show is not known: give --state-dir of an enrolled member, --node <id>');
  });

  it('Redis: unreachable, password wanted, password refused, each said; the right one works', async () => {
    // registry init reads the peer table in Redis (and the store of record in NATS JetStream: here the tests' shared NATS).
    const mesh = `e${Math.random().toString(36).slice(2, 10)}`;
    const closed = await closedTcpPort();
    const unreachable = await wgmesh('registry', 'init', '--mesh', mesh, '--redis', `redis://127.0.0.1:${closed}`);
    expect(unreachable).toMatchObject({ code: 1, stderr: expect.stringContaining(`nothing answers at redis://127.0.0.1:${closed}`) });
    const noPassword = await wgmesh('registry', 'init', '--mesh', mesh, '--redis', `redis://127.0.0.1:${redisPort}`);
    expect(noPassword).toMatchObject({ code: 1, stderr: expect.stringContaining(`Redis at redis://127.0.0.1:${redisPort} wants a user and password (NOAUTH)`) });
    const wrong = await wgmesh('registry', 'init', '--mesh', mesh, '--redis', `redis://wgmesh-registry:wrong@127.0.0.1:${redisPort}`);
    expect(wrong).toMatchObject({ code: 1, stderr: expect.stringContaining(`Redis at redis://wgmesh-registry:***@127.0.0.1:${redisPort} refused the user or password (WRONGPASS)`) });
    expect(wrong.stderr).not.toContain('wrong');
    try {
      const right = await wgmesh('registry', 'init', '--mesh', mesh, '--json', '--redis', `redis://wgmesh-registry:${password}@127.0.0.1:${redisPort}`);
      expect(right).toMatchObject({ code: 0, stdout: expect.stringContaining('"cleared": false') });
    } finally {
      const nc = await connect({ servers: SHARED_NATS });
      await destroyRegistryState(nc, mesh);
      await nc.close();
    }
  }, 30_000);

  it('the store of record: NATS wants a credential, or refuses one, each said', async () => {
    const none = await wgmesh('registry', 'token', 'list', '--mesh', MESH, '--nats', natsUrl);
    expect(none).toMatchObject({ code: 1, stderr: expect.stringContaining(`wgmesh registry token list: NATS at ${natsUrl} wants a credential and none was given (Authorization Violation)`) });
    const refused = await wgmesh('registry', 'token', 'list', '--mesh', MESH, '--nats', natsUrl, '--nats-creds', otherCreds);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining(`NATS at ${natsUrl} refused the credential ${otherCreds}`) });
  });
});
