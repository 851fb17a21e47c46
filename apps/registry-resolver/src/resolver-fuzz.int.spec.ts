import { createSocket, Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { PeerRecord } from '@wgmesh/contracts';
import { PeerStore } from '@wgmesh/peer-store';
import { dig, DNS_FUZZ_KINDS, dnsFuzzCases, DnsFuzzKind, encodeQuery, freePort, Service, startWgmesh, tcpExchange } from '@wgmesh/testing';
import { keyToBase32 } from '@wgmesh/wireguard';
import dnsPacket from 'dns-packet';
import { Redis } from 'ioredis';

// A bounded fuzz campaign against the running resolver (a `wgmesh resolver` process), checking
// every reply, not only that the process survives:
// - UDP: every class of dnsFuzzCases; each reply matched to its query by ID, never larger than
//   the query's EDNS size allows (512 without EDNS; no amplification beyond what EDNS permits),
//   TC exactly when answers were cut, REFUSED (no recursion, RA clear) outside the zone; a live
//   query after every window must be answered correctly.
// - TCP: slow-loris connections beyond the connection cap, half-open connections, oversize and
//   lying length prefixes, per-connection fuzz; a real client is answered throughout, and every
//   abuser is closed within the idle deadline.
// - memory: RSS stays bounded.
// The counts per class are printed (README "bad inputs tried").
const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const ZONE = 'fuzz.example.';
const PEERS = 300;
const UDP_CASES = 36_000;
const TCP_CASES = 1_200;
const WINDOW = 200;
/** The resolver's defaults: the EDNS size it allows at most, and its TCP idle deadline and cap. */
const MAX_UDP = 1232;
const TCP_IDLE_MS = 10_000;
const TCP_MAX = 1000;
const mesh = `t${process.pid}f${Date.now() % 100000}`;

const keyOf = (i: number) => {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(i + 1, 0);
  k[31] = 9;
  return k;
};
const nameOf = (i: number) => `${keyToBase32(keyOf(i))}._wireguard._udp.${ZONE}`;
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const LISTING = `_wireguard._udp.${ZONE}`;

/** What the server may send back to `query` over UDP: its EDNS size (512-1232), else 512. */
function udpAllowed(query: Buffer): number {
  try {
    const opt = dnsPacket.decode(query).additionals?.find((rr) => rr.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    return opt ? Math.min(Math.max(512, opt.udpPayloadSize ?? 512), MAX_UDP) : 512;
  } catch {
    return 512;
  }
}

function questionOf(query: Buffer): { name: string; type: string } | null {
  try {
    const q = dnsPacket.decode(query).questions?.[0];
    return q ? { name: q.name.toLowerCase().replace(/\.?$/, '.'), type: q.type } : null;
  } catch {
    return null;
  }
}

const hdr = (m: Buffer) => ({ id: m.readUInt16BE(0), qr: (m[2] & 0x80) !== 0, tc: (m[2] & 0x02) !== 0, ra: (m[3] & 0x80) !== 0, rcode: m[3] & 0x0f, an: m.readUInt16BE(6), ns: m.readUInt16BE(8) });

describe('registry-resolver: fuzz campaign with per-reply checks', () => {
  const redis = new Redis(REDIS);
  const store = new PeerStore(redis, mesh);
  let resolver: Service;
  const server = { host: '127.0.0.1', port: 0 };
  const names = [LISTING, nameOf(0), nameOf(1), nameOf(7), nameOf(299), ZONE, `nope.${ZONE}`, `10.120.0.5._wireguard._udp.${ZONE}`];
  /** Answer and authority counts of the complete (TCP) answer per "name|type". */
  const full = new Map<string, { an: number; ns: number }>();
  let rssStart = 0;
  let rssPeak = 0;
  const sampleRss = () => (rssPeak = Math.max(rssPeak, rssKb(resolver.proc.pid!)));

  beforeAll(async () => {
    const peers: PeerRecord[] = Array.from({ length: PEERS }, (_, i) => ({
      publicKey: keyOf(i).toString('base64'),
      allowedIps: [`10.120.${i >> 8}.${i & 255}/32`],
      endpoint: `198.51.100.${(i % 250) + 1}:${30000 + i}`,
    }));
    await Promise.all(peers.map((p) => store.upsert(p)));
    server.port = await freePort();
    resolver = startWgmesh(['resolver', '--zone', ZONE, '--listen', `127.0.0.1:${server.port}`, '--mesh', mesh, '--nats', NATS, '--redis', REDIS]);
    await resolver.waitForLine(new RegExp(`"msg":"resolver ready".*"peers":${PEERS}`));
    const types = ['PTR', 'SRV', 'TXT', 'ANY'] as dnsPacket.RecordType[];
    const keys = names.flatMap((n) => types.map((t) => [n, t] as const));
    const replies = await tcpExchange(server, keys.map(([n, t], i) => encodeQuery(n, t, i + 1)));
    for (const r of replies) {
      const [n, t] = keys[r.readUInt16BE(0) - 1];
      full.set(`${n}|${t}`, { an: hdr(r).an, ns: hdr(r).ns });
    }
    expect(full.get(`${LISTING}|PTR`)!.an).toBe(PEERS);
    rssStart = rssKb(resolver.proc.pid!);
  });

  afterAll(async () => {
    await resolver?.stop();
    await store.clear();
    redis.disconnect();
  });

  it(`UDP: ${UDP_CASES} hostile packets, every reply bounded by the query's EDNS size, TC when cut, REFUSED outside the zone`, async () => {
    const socket: UdpSocket = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const sent = new Map<number, { kind: DnsFuzzKind; packet: Buffer }>();
    const failures: string[] = [];
    const tried = Object.fromEntries(DNS_FUZZ_KINDS.map((k) => [k, 0])) as Record<DnsFuzzKind, number>;
    const answered = Object.fromEntries(DNS_FUZZ_KINDS.map((k) => [k, 0])) as Record<DnsFuzzKind, number>;
    const rcodes: Record<string, number> = {};
    let sentinelReply: ((m: Buffer) => void) | null = null;
    let maxAmplification = 0;
    let truncated = 0;
    let refused = 0;
    const fail = (why: string, q?: Buffer) => failures.length < 20 && failures.push(`${why}${q ? `; query ${q.subarray(0, 200).toString('hex')}` : ''}`);

    socket.on('message', (m) => {
      if (m.length < 12) return void fail(`a ${m.length}-byte reply`);
      const h = hdr(m);
      if (h.id === 0 && sentinelReply) return sentinelReply(m);
      const q = sent.get(h.id);
      if (!q) return void fail(`an unsolicited reply with ID ${h.id}`);
      sent.delete(h.id);
      answered[q.kind]++;
      rcodes[h.rcode] = (rcodes[h.rcode] ?? 0) + 1;
      if (q.packet.length >= 3 && (q.packet[2] & 0x80) !== 0) fail(`${q.kind}: answered a response (QR set)`, q.packet);
      if (!h.qr || h.ra) fail(`${q.kind}: QR clear or RA set`, q.packet);
      const allowed = udpAllowed(q.packet);
      if (m.length > allowed) fail(`${q.kind}: a ${m.length}-byte reply to a query allowing ${allowed}`, q.packet);
      maxAmplification = Math.max(maxAmplification, m.length / q.packet.length);
      if (q.kind === 'outside-zone') {
        if (h.rcode !== 5 || h.an !== 0) fail(`outside-zone: rcode ${h.rcode} with ${h.an} answers (want REFUSED, empty)`, q.packet);
        else refused++;
      }
      if (q.kind === 'edns-size' && h.rcode === 0) {
        const question = questionOf(q.packet)!;
        const whole = full.get(`${question.name}|${question.type}`);
        if (!whole) return void fail(`edns-size: no full answer known for ${question.name} ${question.type}`);
        const cut = h.an < whole.an || h.ns < whole.ns;
        if (h.tc !== cut) fail(`edns-size: TC=${h.tc} with ${h.an}/${whole.an} answers, ${h.ns}/${whole.ns} authority`, q.packet);
        if (cut) truncated++;
      }
    });

    /** A live query (ID 0) after each window: answered correctly, and (FIFO) after every earlier reply. */
    const live = async (n: number) => {
      for (let attempt = 0; ; attempt++) {
        const got = new Promise<Buffer | null>((resolve) => {
          const t = setTimeout(() => resolve(null), 3000);
          sentinelReply = (m) => {
            clearTimeout(t);
            resolve(m);
          };
        });
        socket.send(encodeQuery(nameOf(n % PEERS), 'SRV', 0), server.port, server.host);
        const reply = await got;
        sentinelReply = null;
        if (reply) {
          const srv = dnsPacket.decode(reply).answers?.[0] as { data?: { port?: number } } | undefined;
          expect(srv?.data?.port).toBe(30000 + (n % PEERS));
          return;
        }
        if (attempt === 2) throw new Error(`the resolver stopped answering after ${n} windows`);
      }
    };

    const started = Date.now();
    let window: Promise<void>[] = [];
    let id = 1;
    let windows = 0;
    for (const c of dnsFuzzCases(20261125, UDP_CASES, names, 65507)) {
      tried[c.kind]++;
      if (c.packet.length >= 2) {
        c.packet.writeUInt16BE(id, 0);
        sent.set(id, c);
        id = id === 65535 ? 1 : id + 1;
      }
      window.push(new Promise<void>((r) => socket.send(c.packet, server.port, server.host, () => r())));
      if (window.length === WINDOW) {
        await Promise.all(window);
        window = [];
        await live(windows++);
        // Whatever was not answered by now was dropped (a response is never late on loopback).
        for (const q of sent.values()) if (q.kind === 'outside-zone') fail(`outside-zone: no reply`, q.packet);
        sent.clear();
        if (windows % 20 === 0) sampleRss();
      }
    }
    await Promise.all(window);
    await live(windows++);
    socket.close();
    sampleRss();
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `resolver UDP fuzz: ${UDP_CASES} packets in ${seconds.toFixed(1)} s; tried ${JSON.stringify(tried)}; answered ${JSON.stringify(answered)}; ` +
        `rcodes ${JSON.stringify(rcodes)}; ${truncated} cut with TC, ${refused} refused outside the zone, max amplification ${maxAmplification.toFixed(1)}x; ` +
        `RSS ${rssStart} KB → peak ${rssPeak} KB\n`,
    );
    expect(failures).toEqual([]);
    expect(truncated).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(UDP_CASES / DNS_FUZZ_KINDS.length / 2);
    expect(resolver.proc.exitCode).toBeNull();
  }, 180_000);

  it('amplification: for every advertised size, the reply fits it and TC says when answers were cut', async () => {
    const sizes = [undefined, 0, 1, 511, 512, 513, 600, 1000, 1231, 1232, 1233, 1500, 4096, 65535];
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const replies = new Map<number, Buffer>();
    socket.on('message', (m) => replies.set(m.readUInt16BE(0), m));
    const asked: { id: number; name: string; type: dnsPacket.RecordType; size?: number; q: Buffer }[] = [];
    for (const [name, type] of [[LISTING, 'PTR'], [LISTING, 'ANY'], [nameOf(7), 'SRV'], [nameOf(7), 'ANY']] as [string, dnsPacket.RecordType][]) {
      for (const size of sizes) {
        const id = asked.length + 1;
        const q = dnsPacket.encode({
          type: 'query',
          id,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type, name, class: 'IN' }],
          additionals: size === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: size } as dnsPacket.Answer],
        });
        if (size !== undefined) q.writeUInt16BE(size, q.length - 8); // as given (dns-packet writes 4096 for 0)
        asked.push({ id, name, type, size, q });
        socket.send(q, server.port, server.host);
      }
    }
    const deadline = Date.now() + 5000;
    while (replies.size < asked.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    socket.close();
    expect(replies.size).toBe(asked.length);
    for (const a of asked) {
      const m = replies.get(a.id)!;
      const h = hdr(m);
      const allowed = a.size === undefined ? 512 : Math.min(Math.max(512, a.size), MAX_UDP);
      const whole = full.get(`${a.name}|${a.type}`)!;
      const what = `${a.type} ${a.name.slice(0, 20)}… with ${a.size === undefined ? 'no EDNS' : `EDNS ${a.size}`}`;
      expect({ what, bytes: m.length <= allowed, ra: h.ra, tc: h.tc }).toEqual({ what, bytes: true, ra: false, tc: h.an < whole.an || h.ns < whole.ns });
      const opt = dnsPacket.decode(m).additionals?.find((rr) => rr.type === 'OPT') as { udpPayloadSize: number } | undefined;
      expect(opt?.udpPayloadSize).toBe(a.size === undefined ? undefined : MAX_UDP);
    }
    // The big listing is cut at every UDP size; over TCP it comes whole.
    expect(asked.filter((a) => a.name === LISTING && a.type === 'PTR').every((a) => hdr(replies.get(a.id)!).tc)).toBe(true);
  });

  it('no recursion: names outside the zone are REFUSED over UDP and TCP, with RD set or not', async () => {
    const outside = ['.', 'com.', 'example.org.', 'fuzz.example.evil.', 'xfuzz.example.', 'localhost.', '1.0.0.127.in-addr.arpa.'];
    const queries = outside.flatMap((name, i) =>
      (['A', 'NS', 'SOA', 'PTR', 'ANY'] as dnsPacket.RecordType[]).map((type, j) => {
        const q = encodeQuery(name, type, i * 10 + j + 1, j % 2 ? 4096 : undefined);
        if (j % 2 === 0) q[2] |= 0x01; // RD
        return q;
      }),
    );
    for (const r of await tcpExchange(server, queries)) {
      expect({ id: r.readUInt16BE(0), rcode: hdr(r).rcode, an: hdr(r).an, ra: hdr(r).ra }).toEqual({ id: r.readUInt16BE(0), rcode: 5, an: 0, ra: false });
    }
    const viaDig = await dig(server, 'example.org.', 'A', ['+recurse']);
    expect(viaDig.status).toBe('REFUSED');
    expect(viaDig.flags).not.toContain('ra');
  });

  it('TCP: slow-loris beyond the cap, half-open, oversize prefixes and per-connection fuzz; a real client is answered throughout', async () => {
    const sockets: Socket[] = [];
    const tried: Record<string, number> = {};
    const count = (k: string, n = 1) => (tried[k] = (tried[k] ?? 0) + n);
    const open = async () => {
      const s = connect({ host: server.host, port: server.port });
      s.on('error', () => undefined);
      await once(s, 'connect');
      sockets.push(s);
      return s;
    };
    const started = Date.now();
    try {
      // More slow-loris connections than the resolver keeps (1000): each trickles a 512-byte query.
      for (let i = 0; i < TCP_MAX + 100; i++) (await open()).write(Buffer.from([0x02, 0x00, 0x12]));
      count('slow-loris', TCP_MAX + 100);
      const trickle = setInterval(() => sockets.forEach((s) => !s.destroyed && s.write(Buffer.from([0x61]))), 1000);
      try {
        // Half-open: silent; half a prefix; a whole query then FIN (answered).
        await open();
        (await open()).write(Buffer.from([0x00]));
        count('half-open', 2);
        const fin = await open();
        const finReply = new Promise<Buffer>((resolve) => {
          let buf = Buffer.alloc(0);
          fin.on('data', (d) => (buf = Buffer.concat([buf, d])));
          fin.once('end', () => resolve(buf));
        });
        const q = encodeQuery(nameOf(5), 'SRV', 77);
        fin.end(Buffer.concat([Buffer.from([0, q.length]), q]));
        count('half-open');
        expect(hdr((await finReply).subarray(2)).id).toBe(77);
        // Oversize and lying prefixes: 65535 announced, 60,000 sent, then silence.
        for (let i = 0; i < 50; i++) (await open()).write(Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(60_000, i)]));
        count('oversize-prefix', 50);
        // A real client, over TCP, among all this.
        for (let i = 0; i < 5; i++) {
          const [r] = await tcpExchange(server, [encodeQuery(nameOf(i), 'SRV', 100 + i)], 5000);
          expect((dnsPacket.decode(r).answers?.[0] as { data: { port: number } }).data.port).toBe(30000 + i);
        }
        sampleRss();
      } finally {
        clearInterval(trickle);
      }

      // Per-connection fuzz: one hostile message per connection, framed; an answer must be a whole
      // DNS message for that query, or the connection closes.
      let answeredTcp = 0;
      let closedTcp = 0;
      const cases = [...dnsFuzzCases(4242, TCP_CASES, names, 65535)].filter((c) => c.packet.length > 0);
      for (let i = 0; i < cases.length; i += 50) {
        await Promise.all(
          cases.slice(i, i + 50).map(async (c) => {
            count(`framed-${c.kind}`);
            const s = connect({ host: server.host, port: server.port });
            s.on('error', () => undefined);
            const outcome = await new Promise<Buffer | null>((resolve) => {
              let buf = Buffer.alloc(0);
              const t = setTimeout(() => resolve(null), TCP_IDLE_MS + 5000);
              s.on('data', (d) => {
                buf = Buffer.concat([buf, d]);
                if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
                  clearTimeout(t);
                  resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
                }
              });
              s.once('close', () => {
                clearTimeout(t);
                resolve(null);
              });
              s.write(Buffer.concat([Buffer.from([c.packet.length >> 8, c.packet.length & 0xff]), c.packet]));
            });
            s.destroy();
            if (outcome) {
              answeredTcp++;
              expect(hdr(outcome).id).toBe(c.packet.readUInt16BE(0));
              expect(hdr(outcome).ra).toBe(false);
              if (c.kind === 'outside-zone') expect(hdr(outcome).rcode).toBe(5);
            } else closedTcp++;
          }),
        );
      }
      count('framed-answered', answeredTcp);
      count('framed-closed', closedTcp);
      expect(answeredTcp).toBeGreaterThan(cases.length / 3);

      // Every abuser is closed by the idle deadline (10 s), trickling or not.
      const abusers = sockets.slice();
      const deadline = Date.now() + TCP_IDLE_MS + 10_000;
      while (abusers.some((s) => !s.destroyed && !s.closed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const stillOpen = abusers.filter((s) => !s.destroyed && !s.closed).length;
      expect(stillOpen).toBe(0);
      expect(resolver.proc.exitCode).toBeNull();
      const after = await dig(server, nameOf(42), 'SRV', ['+tcp']);
      expect(after.answer[0].data).toBe(`0 0 30042 ${nameOf(42)}`);
      sampleRss();
      process.stdout.write(`resolver TCP abuse: ${JSON.stringify(tried)} in ${((Date.now() - started) / 1000).toFixed(1)} s; RSS ${rssStart} KB → peak ${rssPeak} KB\n`);
    } finally {
      sockets.forEach((s) => s.destroy());
    }
  }, 120_000);

  it('memory stayed bounded and the resolver still answers the whole listing over TCP', async () => {
    const listing = await dig(server, LISTING, 'PTR', ['+tcp']);
    expect(listing.answer).toHaveLength(PEERS);
    expect(rssPeak - rssStart).toBeLessThan(96 * 1024);
    expect(rssKb(resolver.proc.pid!) - rssStart).toBeLessThan(64 * 1024);
  });
});
