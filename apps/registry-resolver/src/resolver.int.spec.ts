import { Patterns, PeerRecord, subjectFor } from '@wgmesh/contracts';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { PeerPublisher } from '@wgmesh/registry';
import { dig, freePort, Service, startWgmesh, waitFor } from '@wgmesh/testing';
import { keyToBase32 } from '@wgmesh/wireguard';
import { Redis } from 'ioredis';

// Integration: the real resolver process against the real NATS and Redis, queried with dig.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ZONE = 'mesh.example.';
const mesh = `t${process.pid}r${Date.now() % 100000}`;

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const b32 = (n: number) => keyToBase32(Buffer.alloc(32, n));
const nameOf = (n: number) => `${b32(n)}._wireguard._udp.${ZONE}`;
const SELF_KEY = key(200);

describe('registry-resolver (NATS + Redis + dig)', () => {
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  let bus: MeshBus;
  let publisher: PeerPublisher;
  let resolver: Service;
  let server: { host: string; port: number };

  const start = async () => {
    resolver = startWgmesh([
      'resolver', '--zone', ZONE, '--zone', 'other.example', '--listen', `127.0.0.1:${server.port}`, '--mesh', mesh,
      '--nats', NATS, '--redis', REDIS, '--self-key', SELF_KEY, '--self-endpoint', '203.0.113.1:51820', '--self-allowed', '10.99.0.1/32',
    ]);
    await resolver.waitForLine(/"msg":"resolver ready"/);
    await resolver.waitForLine(/"msg":"subscribed to peer events"/);
  };

  beforeAll(async () => {
    server = { host: '127.0.0.1', port: await freePort() };
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'resolver-int-test' });
    publisher = new PeerPublisher(store, (e) => bus.publish(Patterns.peerEvents, e));
    await publisher.upsert({ publicKey: key(1), allowedIps: ['10.99.0.2/32'], endpoint: '198.51.100.1:51820' });
    await publisher.upsert({ publicKey: key(2), allowedIps: ['10.99.0.3/32', 'fd99::3/128'], endpoint: '[2001:db8::2]:51821', nat: 'eim' });
    await publisher.upsert({ publicKey: key(3), allowedIps: ['10.99.0.4/32'], endpoint: null });
    await start();
  });

  afterAll(async () => {
    await resolver?.stop();
    await bus?.close();
    await store.clear();
    redis.disconnect();
  });

  it('serves the peer table from Redis in wgsd format, with self', async () => {
    const ptr = await dig(server, `_wireguard._udp.${ZONE}`, 'PTR');
    expect(ptr.status).toBe('NOERROR');
    expect(ptr.flags).toContain('aa');
    expect(ptr.answer.map((r) => r.data).sort()).toEqual([nameOf(1), nameOf(2), `${keyToBase32(Buffer.from(SELF_KEY, 'base64'))}._wireguard._udp.${ZONE}`].sort());

    const srv = await dig(server, nameOf(1).toUpperCase(), 'SRV');
    // The owner echoes the question's case; the target is the canonical (lowercase) name.
    expect(srv.answer).toEqual([{ name: nameOf(1).toUpperCase(), ttl: 0, type: 'SRV', data: `0 0 51820 ${nameOf(1)}` }]);
    expect(srv.additional.map((r) => [r.type, r.data])).toEqual([
      ['A', '198.51.100.1'],
      ['TXT', `"txtvers=1" "pub=${key(1)}" "allowed=10.99.0.2/32"`],
    ]);

    const v6 = await dig(server, nameOf(2), 'AAAA');
    expect(v6.answer.map((r) => r.data)).toEqual(['2001:db8::2']);
    const txt = await dig(server, nameOf(2), 'TXT');
    expect(txt.answer[0].data).toBe(`"txtvers=1" "pub=${key(2)}" "allowed=10.99.0.3/32,fd99::3/128" "nat=eim"`);

    expect((await dig(server, nameOf(3), 'SRV')).status).toBe('NXDOMAIN'); // no endpoint yet
    expect((await dig(server, 'example.org.', 'A')).status).toBe('REFUSED');
    const byAddress = await dig(server, `10.99.0.3._wireguard._udp.${ZONE}`, 'SRV');
    expect(byAddress.answer[0].data).toBe(`0 0 51821 ${nameOf(2)}`);
    expect((await dig(server, `_wireguard._udp.other.example.`, 'PTR')).answer).toHaveLength(3);
  });

  it('answers the same over TCP', async () => {
    const srv = await dig(server, nameOf(1), 'SRV', ['+tcp']);
    expect(srv.answer[0].data).toBe(`0 0 51820 ${nameOf(1)}`);
  });

  it('follows peer events within milliseconds', async () => {
    const started = Date.now();
    await publisher.upsert({ publicKey: key(1), allowedIps: ['10.99.0.2/32'], endpoint: '198.51.100.1:40001' });
    await waitFor('the new endpoint in DNS', async () => (await dig(server, nameOf(1), 'SRV')).answer[0]?.data.includes(' 40001 '), 3000, 5);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(1000);

    await publisher.upsert({ publicKey: key(4), allowedIps: ['10.99.0.5/32'], endpoint: '198.51.100.4:51820' });
    await waitFor('the new peer', async () => (await dig(server, nameOf(4), 'A')).answer[0]?.data === '198.51.100.4', 3000, 5);

    await publisher.remove(key(4));
    await waitFor('the removal', async () => (await dig(server, nameOf(4), 'A')).status === 'NXDOMAIN', 3000, 5);
  });

  it('reloads on a revision gap (a lost event) and shrugs off bad events', async () => {
    // A change stored without its event (lost), then one published: the resolver sees the gap.
    await store.upsert({ publicKey: key(5), allowedIps: ['10.99.0.6/32'], endpoint: '198.51.100.5:51820' });
    bus.raw.publish(subjectFor(Patterns.peerEvents, { mesh }), 'not json');
    bus.raw.publish(subjectFor(Patterns.peerEvents, { mesh }), JSON.stringify({ type: 'upsert', revision: 1e9, peer: { publicKey: 'bad' } }));
    await publisher.upsert({ publicKey: key(6), allowedIps: ['10.99.0.7/32'], endpoint: '198.51.100.6:51820' });
    await waitFor('both peers', async () => (await dig(server, nameOf(5), 'A')).answer.length === 1 && (await dig(server, nameOf(6), 'A')).answer.length === 1, 5000, 10);
    await resolver.waitForLine(/revision gap in peer events/);
    await resolver.waitForLine(/message rejected.*pattern=peers\.events.*peer\.publicKey: must be a WireGuard public key/);
  });

  it('comes back with the same state after a restart, including changes made while it was down', async () => {
    expect(await resolver.stop()).toBe(0);
    await publisher.upsert({ publicKey: key(7), allowedIps: ['10.99.0.8/32'], endpoint: '198.51.100.7:51820' });
    await start();
    const ptr = await dig(server, `_wireguard._udp.${ZONE}`, 'PTR');
    expect(ptr.answer.map((r) => r.data)).toEqual(expect.arrayContaining([nameOf(1), nameOf(2), nameOf(5), nameOf(6), nameOf(7)]));
    expect((await dig(server, nameOf(1), 'SRV')).answer[0].data).toContain(' 40001 ');
  });

  it('runs as two workers on one port and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const cluster = startWgmesh(['resolver', '--zone', ZONE, '--listen', `127.0.0.1:${port}`, '--mesh', mesh, '--nats', NATS, '--redis', REDIS, '--workers', '2']);
    try {
      await waitFor('two ready workers', () => cluster.lines.filter((l) => l.includes('"msg":"resolver ready"')).length >= 2, 45_000).catch((err: Error) => {
        throw new Error(`${err.message}; the cluster's log:\n${cluster.lines.slice(-30).join('\n')}`);
      });
      expect(cluster.lines.filter((l) => l.includes('resolver worker exited'))).toEqual([]);
      for (let i = 0; i < 6; i++) expect((await dig({ host: '127.0.0.1', port }, nameOf(1), 'SRV')).answer).toHaveLength(1);
      const started = Date.now();
      expect(await cluster.stop()).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await cluster.stop('SIGKILL');
    }
  }, 60_000);
});
