import { prng } from '@wgmesh/testing';
import { parseQuery } from './query';
import { PeerIndex } from './peer-index';
import { DnsResponder } from './responder';
import { decode, header, instanceOf, optRecord, query, testKey, testPeer } from './testkit';

const Z = 'mesh.example';
const SELF_ZONE = 'self.example';
const SEED = 0x5eed;
const ITERATIONS = 50_000;
const MAX_UDP = 1232;
/** Enough peers that the PTR listing (~4.4 KB) is cut at every UDP size. */
const PEERS = 60;

/** The kinds of hostile input, each counted (the counts are printed for the README). */
const KINDS = [
  'random',
  'bit-flips',
  'truncated',
  'inserted-bytes',
  'pointer-loop',
  'section-counts',
  'one-byte',
  'opcode',
  'appended',
  'oversized',
  'edns-size',
  'valid',
] as const;
type Kind = (typeof KINDS)[number];

function corpus(): Buffer[] {
  const names = [
    `_wireguard._udp.${Z}`,
    instanceOf(testKey(1), Z),
    instanceOf(testKey(2), Z).toUpperCase(),
    instanceOf(testKey(3), Z),
    instanceOf(testKey(9), SELF_ZONE),
    `10.99.0.1._wireguard._udp.${Z}`,
    `fd00--2._wireguard._udp.${Z}`,
    Z,
    `nope.${Z}`,
    'outside.test',
    'example.org',
    '',
  ];
  const out: Buffer[] = [];
  for (const name of names) {
    for (const type of ['PTR', 'SRV', 'A', 'AAAA', 'TXT', 'SOA', 'ANY', 'AXFR']) {
      out.push(query({ name, type }), query({ name, type, edns: { udpSize: 4096 } }), query({ name, type, edns: { udpSize: 512, version: 1 } }));
    }
  }
  const tsig = Buffer.concat([query({ name: instanceOf(testKey(1), Z), type: 'SRV' }), Buffer.from([0xc0, 12, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 9, 9]), optRecord({})]);
  tsig.writeUInt16BE(2, 10);
  out.push(tsig, query({ name: Z, type: 'SOA', opcode: 4 }), query({ name: `_wireguard._udp.${Z}`, type: 'PTR', qclass: 3 }));
  return out;
}

/** Whether a (lowercase, dotted) name is one of our zones or under one. */
function inOurZones(name: string): boolean {
  return [Z, SELF_ZONE].some((z) => name === `${z}.` || name.endsWith(`.${z}.`));
}

describe('fuzz: respond() on hostile input', () => {
  it(`survives ${ITERATIONS} random and mutated messages (seed ${SEED}): bounded, echoed, REFUSED outside the zones, TC when cut`, () => {
    const index = new PeerIndex();
    const peers = [
      testPeer(1, '192.0.2.1:51820', ['10.99.0.1/32', '10.98.0.0/16']),
      testPeer(2, '[2001:db8::2]:2', ['fd00::2/128']),
      testPeer(3, null, ['10.99.0.3/32']),
      ...Array.from({ length: PEERS - 3 }, (_, i) => testPeer(100 + i, `198.51.100.${i + 1}:${40000 + i}`, [`10.99.1.${i}/32`])),
    ];
    index.replaceAll(peers);
    const zones = [{ origin: Z }, { origin: SELF_ZONE, self: { publicKey: testKey(9), endpoint: '203.0.113.9:51820', allowedIps: ['10.99.0.254/32'] } }];
    const cached = new DnsResponder({ zones, index });
    const uncached = new DnsResponder({ zones, index, cacheMaxEntries: 0 });
    const rnd = prng(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    const seeds = corpus();
    const tried = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
    const outcome = { dropped: 0, truncatedUdp: 0, refused: 0, maxUdpBytes: 0, maxAmplification: 0 };

    const mutate = (kind: Kind): Buffer => {
      const base = Buffer.from(seeds[int(seeds.length)]);
      switch (kind) {
        case 'random': {
          const b = Buffer.alloc(int(600));
          for (let i = 0; i < b.length; i++) b[i] = int(256);
          return b;
        }
        case 'bit-flips':
          for (let n = 1 + int(8); n > 0; n--) base[int(base.length)] ^= 1 << int(8);
          return base;
        case 'truncated':
          return base.subarray(0, int(base.length));
        case 'inserted-bytes': {
          const at = int(base.length + 1);
          const extra = Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)));
          return Buffer.concat([base.subarray(0, at), extra, base.subarray(at)]);
        }
        case 'pointer-loop': {
          // A compression pointer to itself, backwards, or two pointing at each other.
          const at = 12 + int(Math.max(1, base.length - 13));
          const target = [at, 12, int(at + 1)][int(3)];
          base.writeUInt16BE(0xc000 | target, at);
          if (rnd() < 0.3 && base.length >= 16) base.writeUInt16BE(0xc000 | at, 12);
          return base;
        }
        case 'section-counts':
          for (const off of [4, 6, 8, 10]) if (rnd() < 0.5) base.writeUInt16BE(rnd() < 0.5 ? int(4) : int(65536), off);
          return base;
        case 'one-byte':
          base[12 + int(Math.max(1, base.length - 12))] = int(256);
          return base;
        case 'opcode':
          base[2] = (base[2] & 0x07) | (int(16) << 3); // QR=0, any opcode
          return base;
        case 'appended':
          return Buffer.concat([base, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))]);
        case 'oversized': {
          // A well-formed query padded to 1-64 KB with an EDNS padding option, or a huge random message.
          if (rnd() < 0.5) {
            const pad = 1000 + int(64_000);
            const option = Buffer.alloc(4 + pad);
            option.writeUInt16BE(12, 0);
            option.writeUInt16BE(pad, 2);
            const q = query({ name: `_wireguard._udp.${Z}`, type: 'PTR' });
            q.writeUInt16BE(1, 10);
            return Buffer.concat([q, optRecord({ udpSize: int(65536) }, undefined, option)]).subarray(0, 65535);
          }
          const b = Buffer.alloc(4000 + int(61_000));
          for (let i = 0; i < b.length; i += 1 + int(64)) b[i] = int(256);
          b[2] &= 0x7f;
          return b;
        }
        case 'edns-size': {
          // The amplification probes: big answers with every advertised size, odd ones included.
          const name = [`_wireguard._udp.${Z}`, instanceOf(testKey(100 + int(PEERS - 3)), Z), instanceOf(testKey(1), Z)][int(3)];
          const udpSize = [0, 1, 511, 512, 513, 600, 1000, 1231, 1232, 1233, 1500, 4096, 65535, int(65536)][int(14)];
          return rnd() < 0.15 ? query({ name, type: rnd() < 0.5 ? 'PTR' : 'ANY' }) : query({ name, type: rnd() < 0.7 ? 'PTR' : 'SRV', edns: { udpSize } });
        }
        default:
          return base;
      }
    };

    for (let i = 0; i < ITERATIONS; i++) {
      if (i % 997 === 0) index.upsert({ ...peers[int(peers.length)], endpoint: `192.0.2.${int(250) + 1}:${1 + int(65535)}` });
      const kind = KINDS[int(KINDS.length)];
      tried[kind]++;
      const msg = mutate(kind);
      const transport = rnd() < 0.8 ? 'udp' : 'tcp';
      const out = cached.respond(msg, transport);
      const parsed = parseQuery(msg);
      const fail = (why: string) => new Error(`iteration ${i} (${kind}, ${transport}): ${why}; query ${msg.subarray(0, 600).toString('hex')}`);
      if (out === null) {
        if (parsed !== null) throw fail('dropped a query');
        outcome.dropped++;
        continue;
      }
      if (parsed === null) throw fail('answered a response or runt');
      const h = header(out);
      if (h.id !== msg.readUInt16BE(0) || !h.qr || h.ra) throw fail('bad header (ID not echoed, QR clear or RA set)');
      // Never more than the requester allows: its EDNS size (at least 512, at most ours), else 512.
      const limit = transport === 'tcp' ? 65535 : parsed.edns ? Math.min(Math.max(512, parsed.edns.udpSize), MAX_UDP) : 512;
      if (out.length > limit) throw fail(`${out.length} bytes over a ${limit} limit`);
      if (transport === 'udp') {
        outcome.maxUdpBytes = Math.max(outcome.maxUdpBytes, out.length);
        outcome.maxAmplification = Math.max(outcome.maxAmplification, out.length / msg.length);
      }
      if (h.qdcount === 1) {
        const questionEnd = 12 + (parsed.question ? wireLength(msg) + 4 : 0);
        if (!out.subarray(12, questionEnd).equals(msg.subarray(12, questionEnd))) throw fail('question not echoed exactly');
      }
      try {
        decode(out);
      } catch (err) {
        throw fail(`dns-packet cannot decode the response: ${(err as Error).message}`);
      }
      const answerable = parsed.problem === null && parsed.question && !(parsed.edns && parsed.edns.version > 0);
      if (answerable && (!inOurZones(parsed.question!.name) || parsed.question!.class !== 1 || parsed.question!.type === 252)) {
        // Authoritative only, never recursive: anything outside the zones is refused, empty.
        if (h.rcode !== 5 || h.ancount !== 0) throw fail(`rcode ${h.rcode} with ${h.ancount} answers for ${parsed.question!.name} (want REFUSED, empty)`);
        outcome.refused++;
      }
      if (answerable && transport === 'udp') {
        // TC exactly when answers or authority records were left out (not for dropped additionals).
        const full = header(uncached.respond(msg, 'tcp')!);
        const cut = h.ancount < full.ancount || h.nscount < full.nscount;
        if (h.tc !== cut) throw fail(`TC=${h.tc} but ${h.ancount}/${full.ancount} answers, ${h.nscount}/${full.nscount} authority`);
        if (cut) outcome.truncatedUdp++;
      }
      const fresh = uncached.respond(msg, transport);
      if (!fresh || !fresh.equals(out)) throw fail('cached and uncached responses differ');
    }
    const stats = cached.stats();
    process.stdout.write(`dns-sd fuzz: ${ITERATIONS} inputs ${JSON.stringify(tried)}; outcomes ${JSON.stringify({ ...outcome, maxAmplification: Number(outcome.maxAmplification.toFixed(1)), byRcode: stats.byRcode })}\n`);
    expect(stats.queries + stats.dropped).toBe(ITERATIONS);
    expect(stats.cacheHits).toBeGreaterThan(1000);
    expect(Object.keys(stats.byRcode).sort()).toEqual(['BADVERS', 'FORMERR', 'NOERROR', 'NOTIMP', 'NXDOMAIN', 'REFUSED']);
    for (const kind of KINDS) expect(tried[kind]).toBeGreaterThan(ITERATIONS / KINDS.length / 2);
    // The checks above really ran: cut UDP answers and refused questions were seen.
    expect(outcome.truncatedUdp).toBeGreaterThan(500);
    expect(outcome.refused).toBeGreaterThan(500);
  });
});

/** Wire length of the (validated, uncompressed) question name at offset 12. */
function wireLength(msg: Buffer): number {
  let pos = 12;
  while (msg[pos] !== 0) pos += msg[pos] + 1;
  return pos + 1 - 12;
}
