import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { redactUrl } from '@wgmesh/log';
import { PeerStore } from '@wgmesh/peer-store';
import { freePort, Service, startService } from '@wgmesh/testing';
import { Redis } from 'ioredis';

// The shipped Redis ACL (deploy/security/redis-users.acl) on a redis-server of our own (free
// port, killed by PID): the registry's peer table (the cache members and the resolver read; the
// store of record is NATS JetStream) works through the ACL user, nothing else does.

const ACL = resolve(__dirname, '../../../deploy/security/redis-users.acl');
const KEY = (n: number) => Buffer.alloc(32, n).toString('base64');

/** Sends inline commands one by one; resolves with the first line of each reply. */
function rawRedis(port: number, commands: string[]): Promise<string[]> {
  return new Promise((res, rej) => {
    const sock = connect(port, '127.0.0.1');
    const replies: string[] = [];
    let buf = '';
    sock.on('error', rej);
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        replies.push(buf.slice(0, nl));
        buf = buf.slice(nl + 2);
        if (replies.length === commands.length) {
          sock.end();
          return res(replies);
        }
        sock.write(`${commands[replies.length]}\r\n`);
      }
    });
    sock.write(`${commands[0]}\r\n`);
  });
}

describe('Redis with the shipped ACL user', () => {
  let dir: string;
  let server: Service;
  let port: number;
  const password = randomBytes(24).toString('hex');
  const clients: Redis[] = [];
  const client = (url: string) => {
    const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    r.on('error', () => undefined);
    clients.push(r);
    return r;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wgmesh-redis-acl-'));
    const acl = readFileSync(ACL, 'utf8');
    expect(acl).toContain('>CHANGE-ME');
    writeFileSync(join(dir, 'users.acl'), acl.replace('>CHANGE-ME', `>${password}`), { mode: 0o600 });
    port = await freePort({ udp: false });
    server = startService('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--aclfile', join(dir, 'users.acl')]);
    await server.waitForLine(/Ready to accept connections/);
  });
  afterAll(async () => {
    clients.forEach((c) => c.disconnect());
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the peer table as the ACL user', async () => {
    const redis = client(`redis://wgmesh-registry:${password}@127.0.0.1:${port}`);
    await redis.connect();
    const peers = new PeerStore(redis, 'acl');
    expect((await peers.upsert({ publicKey: KEY(1), allowedIps: ['10.99.0.2/32'], endpoint: null })).changed).toBe(true);
    expect((await peers.snapshot()).peers).toHaveLength(1);
    expect(await redis.keys('*').catch((e: Error) => e.message)).toMatch(/NOPERM/);
  });

  it('refuses the default user, a wrong password, keys outside wgmesh:* and dangerous commands', async () => {
    // Plain RESP over a socket: what a client without the password gets.
    const replies = await rawRedis(port, ['GET wgmesh:x', 'AUTH default x', 'AUTH wgmesh-registry nope', `AUTH wgmesh-registry ${password}`, 'GET other:key']);
    expect(replies[0]).toMatch(/^-NOAUTH/);
    expect(replies[1]).toMatch(/^-WRONGPASS/);
    expect(replies[2]).toMatch(/^-WRONGPASS/);
    expect(replies[3]).toBe('+OK');
    expect(replies[4]).toMatch(/^-NOPERM/);
    const redis = client(`redis://wgmesh-registry:${password}@127.0.0.1:${port}`);
    await redis.connect();
    await expect(redis.set('other:key', '1')).rejects.toThrow(/NOPERM/);
    await expect(redis.flushall()).rejects.toThrow(/NOPERM/);
    await expect(redis.config('GET', 'requirepass')).rejects.toThrow(/NOPERM/);
    await expect(redis.publish('wgmesh:x', 'y')).rejects.toThrow(/NOPERM/);
  });

  it('keeps the password out of what is logged about the URL', () => {
    expect(redactUrl(`redis://wgmesh-registry:${password}@127.0.0.1:${port}`)).toBe(`redis://wgmesh-registry:***@127.0.0.1:${port}`);
  });
});
