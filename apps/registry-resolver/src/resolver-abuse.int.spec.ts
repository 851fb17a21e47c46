import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { PeerRecord } from '@wgmesh/contracts';
import { PeerStore } from '@wgmesh/peer-store';
import { dig, dnsFuzzPackets, encodeQuery, freePort, Service, startWgmesh, tcpExchange, udpExchange, waitFor } from '@wgmesh/testing';
import { keyToBase32 } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';
import { Redis } from 'ioredis';

// The running resolver under load and abuse: 2,000 peers, truncation and the TCP retry, and a
// bounded fuzz campaign (100,000 hostile packets over UDP plus hostile TCP clients), after which
// it must still answer correctly with bounded memory.
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const ZONE = 'big.example.';
const PEERS = 2000;
const mesh = `t${process.pid}a${Date.now() % 100000}`;

const keyOf = (i: number) => {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(i + 1, 0);
  k[31] = 7;
  return k;
};
const nameOf = (i: number) => `${keyToBase32(keyOf(i))}._wireguard._udp.${ZONE}`;
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe('registry-resolver at 2,000 peers and under abuse', () => {
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  let resolver: Service;
  const server = { host: '127.0.0.1', port: 0 };

  beforeAll(async () => {
    const peers: PeerRecord[] = Array.from({ length: PEERS }, (_, i) => ({
      publicKey: keyOf(i).toString('base64'),
      allowedIps: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
      endpoint: `198.51.100.${(i % 250) + 1}:${20000 + i}`,
    }));
    for (let i = 0; i < peers.length; i += 500) await Promise.all(peers.slice(i, i + 500).map((p) => store.upsert(p)));
    server.port = await freePort();
    resolver = startWgmesh(['resolver', '--zone', ZONE, '--listen', `127.0.0.1:${server.port}`, '--mesh', mesh, '--nats', NATS, '--redis', REDIS]);
    await resolver.waitForLine(/"msg":"resolver ready".*"peers":2000/);
  });

  afterAll(async () => {
    await resolver?.stop();
    await store.clear();
    redis.disconnect();
  });

  it('truncates a large UDP answer and gives the most that fits over TCP', async () => {
    const plain = (await udpExchange(server, encodeQuery(`_wireguard._udp.${ZONE}`, 'PTR')))!;
    expect(plain.length).toBeLessThanOrEqual(512);
    expect(dnsPacket.decode(plain).flag_tc).toBe(true);
    const edns = (await udpExchange(server, encodeQuery(`_wireguard._udp.${ZONE}`, 'PTR', 2, 4096)))!;
    expect(edns.length).toBeLessThanOrEqual(1232);
    expect(dnsPacket.decode(edns).flag_tc).toBe(true);

    // dig retries over TCP by itself on TC. A 2,000-PTR listing needs ~142 KB, more than one DNS
    // message can carry (65,535 bytes), so TCP brings the most whole records that fit.
    const viaTcp = await dig(server, `_wireguard._udp.${ZONE}`, 'PTR');
    expect(viaTcp.status).toBe('NOERROR');
    expect(viaTcp.answer.length).toBeGreaterThan(900);
    expect(new Set(viaTcp.answer.map((r) => r.data)).size).toBe(viaTcp.answer.length);
  });

  it('answers SRV for every one of the 2,000 peers over TCP, in full', async () => {
    const queries = Array.from({ length: PEERS }, (_, i) => encodeQuery(nameOf(i), 'SRV', i + 1));
    const replies = (await tcpExchange(server, queries)).map((r) => dnsPacket.decode(r));
    expect(replies).toHaveLength(PEERS);
    for (const reply of replies) {
      const i = reply.id! - 1;
      expect(reply.answers).toEqual([expect.objectContaining({ type: 'SRV', data: expect.objectContaining({ port: 20000 + i, target: nameOf(i).slice(0, -1) }) })]);
      expect(reply.additionals!.map((a) => a.type)).toEqual(['A', 'TXT']);
    }
  });

  it('survives 100,000 hostile packets and hostile TCP clients, then answers correctly', async () => {
    const pid = resolver.proc.pid!;
    const rssBefore = rssKb(pid);
    const names = [nameOf(0), nameOf(1), `_wireguard._udp.${ZONE}`, ZONE, 'example.org.', `10.100.0.5._wireguard._udp.${ZONE}`];

    // Hostile TCP clients held open during the UDP campaign: oversize length prefixes that never
    // complete, half-open connections, and framed garbage.
    const hostile: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = connect({ host: server.host, port: server.port });
      s.on('error', () => undefined);
      s.write(i % 2 ? Buffer.from([0xff, 0xff, 1, 2, 3]) : Buffer.from([0x00]));
      if (i % 5 === 0) s.end();
      hostile.push(s);
    }
    const framedGarbage = [...dnsFuzzPackets(7, 300, names)].filter((p) => p.length > 0 && p.length < 65536);
    const garbageConn = connect({ host: server.host, port: server.port });
    garbageConn.on('error', () => undefined);
    garbageConn.write(Buffer.concat(framedGarbage.map((p) => Buffer.concat([Buffer.from([p.length >> 8, p.length & 0xff]), p]))));

    const socket = createSocket('udp4');
    let replies = 0;
    let oversize = 0;
    socket.on('message', (m) => {
      replies++;
      if (m.length > 4096) oversize++;
    });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    let sent = 0;
    const batch: Buffer[] = [];
    for (const packet of dnsFuzzPackets(20261125, 100_000, names)) {
      batch.push(packet);
      if (batch.length === 200) {
        await Promise.all(batch.map((p) => new Promise<void>((r) => socket.send(p, server.port, server.host, () => r()))));
        sent += batch.length;
        batch.length = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
    sent += batch.length;
    expect(sent).toBe(100_000);
    await waitFor('replies to settle', async () => {
      const before = replies;
      await new Promise((r) => setTimeout(r, 200));
      return replies === before;
    }, 20_000);
    socket.close();
    hostile.forEach((s) => s.destroy());
    garbageConn.destroy();

    expect(resolver.proc.exitCode).toBeNull();
    expect(replies).toBeGreaterThan(10_000);
    expect(oversize).toBe(0);
    const srv = await dig(server, nameOf(42), 'SRV');
    expect(srv.answer[0].data).toBe(`0 0 20042 ${nameOf(42)}`);
    expect((await dig(server, nameOf(43), 'SRV', ['+tcp'])).answer[0].data).toBe(`0 0 20043 ${nameOf(43)}`);
    const grewKb = rssKb(pid) - rssBefore;
    expect(grewKb).toBeLessThan(64 * 1024);
    process.stdout.write(`fuzz: 100000 packets sent, ${replies} UDP replies, RSS ${rssBefore} KB → ${rssKb(pid)} KB\n`);
  }, 120_000);
});
