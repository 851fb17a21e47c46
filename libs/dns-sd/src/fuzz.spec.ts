import { prng } from '@wgmesh/testing';
import { parseQuery } from './query';
import { PeerIndex } from './peer-index';
import { DnsResponder } from './responder';
import { decode, header, instanceOf, optRecord, query, testKey, testPeer } from './testkit';

const Z = 'mesh.example';
const SEED = 0x5eed;
const ITERATIONS = 50_000;
const MAX_UDP = 1232;

function corpus(): Buffer[] {
  const names = [
    `_wireguard._udp.${Z}`,
    instanceOf(testKey(1), Z),
    instanceOf(testKey(2), Z).toUpperCase(),
    instanceOf(testKey(3), Z),
    instanceOf(testKey(9), 'self.example'),
    `10.99.0.1._wireguard._udp.${Z}`,
    `fd00--2._wireguard._udp.${Z}`,
    Z,
    `nope.${Z}`,
    'outside.test',
    '',
  ];
  const out: Buffer[] = [];
  for (const name of names) {
    for (const type of ['PTR', 'SRV', 'A', 'AAAA', 'TXT', 'SOA', 'ANY']) {
      out.push(query({ name, type }), query({ name, type, edns: { udpSize: 4096 } }), query({ name, type, edns: { udpSize: 512, version: 1 } }));
    }
  }
  const tsig = Buffer.concat([query({ name: instanceOf(testKey(1), Z), type: 'SRV' }), Buffer.from([0xc0, 12, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 9, 9]), optRecord({})]);
  tsig.writeUInt16BE(2, 10);
  out.push(tsig, query({ name: Z, type: 'SOA', opcode: 4 }));
  return out;
}

describe('fuzz: respond() on hostile input', () => {
  it(`survives ${ITERATIONS} random and mutated messages (seed ${SEED})`, () => {
    const index = new PeerIndex();
    const peers = [
      testPeer(1, '192.0.2.1:51820', ['10.99.0.1/32', '10.98.0.0/16']),
      testPeer(2, '[2001:db8::2]:2', ['fd00::2/128']),
      testPeer(3, null, ['10.99.0.3/32']),
    ];
    index.replaceAll(peers);
    const zones = [{ origin: Z }, { origin: 'self.example', self: { publicKey: testKey(9), endpoint: '203.0.113.9:51820', allowedIps: ['10.99.0.254/32'] } }];
    const cached = new DnsResponder({ zones, index });
    const uncached = new DnsResponder({ zones, index, cacheMaxEntries: 0 });
    const rnd = prng(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    const seeds = corpus();

    const mutate = (): Buffer => {
      const base = Buffer.from(seeds[int(seeds.length)]);
      switch (int(10)) {
        case 0: {
          const b = Buffer.alloc(int(600));
          for (let i = 0; i < b.length; i++) b[i] = int(256);
          return b;
        }
        case 1:
          for (let n = 1 + int(8); n > 0; n--) base[int(base.length)] ^= 1 << int(8);
          return base;
        case 2:
          return base.subarray(0, int(base.length));
        case 3: {
          const at = int(base.length + 1);
          const extra = Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)));
          return Buffer.concat([base.subarray(0, at), extra, base.subarray(at)]);
        }
        case 4: {
          const at = 12 + int(Math.max(1, base.length - 12));
          const p = int(at + 1);
          base[at] = 0xc0 | (p >> 8);
          if (at + 1 < base.length) base[at + 1] = p & 0xff; // a pointer to itself or backwards: a loop if followed
          return base;
        }
        case 5:
          for (const off of [4, 6, 8, 10]) if (rnd() < 0.5) base.writeUInt16BE(rnd() < 0.5 ? int(4) : int(65536), off);
          return base;
        case 6:
          return Buffer.concat([base, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))]);
        case 7:
          base[12 + int(Math.max(1, base.length - 12))] = int(256);
          return base;
        case 8:
          base[2] = (base[2] & 0x07) | (int(16) << 3); // QR=0, any opcode
          return base;
        default:
          return base;
      }
    };

    for (let i = 0; i < ITERATIONS; i++) {
      if (i % 997 === 0) index.upsert({ ...peers[int(peers.length)], endpoint: `192.0.2.${int(250) + 1}:${1 + int(65535)}` });
      const msg = mutate();
      const transport = rnd() < 0.8 ? 'udp' : 'tcp';
      const out = cached.respond(msg, transport);
      const parsed = parseQuery(msg);
      const fail = (why: string) => new Error(`iteration ${i}: ${why}; query ${msg.toString('hex')}`);
      if (out === null) {
        if (parsed !== null) throw fail('dropped a query');
        continue;
      }
      if (parsed === null) throw fail('answered a response or runt');
      const h = header(out);
      if (h.id !== msg.readUInt16BE(0) || !h.qr || h.ra) throw fail('bad header');
      const limit = transport === 'tcp' ? 65535 : parsed.edns ? MAX_UDP : 512;
      if (out.length > limit) throw fail(`${out.length} bytes over a ${limit} limit`);
      if (h.qdcount === 1) {
        const questionEnd = 12 + (parsed.question ? wireLength(msg) + 4 : 0);
        if (!out.subarray(12, questionEnd).equals(msg.subarray(12, questionEnd))) throw fail('question not echoed exactly');
      }
      try {
        decode(out);
      } catch (err) {
        throw fail(`dns-packet cannot decode the response: ${(err as Error).message}`);
      }
      const fresh = uncached.respond(msg, transport);
      if (!fresh || !fresh.equals(out)) throw fail('cached and uncached responses differ');
    }
    const stats = cached.stats();
    expect(stats.queries + stats.dropped).toBe(ITERATIONS);
    expect(stats.cacheHits).toBeGreaterThan(1000);
    expect(Object.keys(stats.byRcode).sort()).toEqual(['BADVERS', 'FORMERR', 'NOERROR', 'NOTIMP', 'NXDOMAIN', 'REFUSED']);
  });
});

/** Wire length of the (validated, uncompressed) question name at offset 12. */
function wireLength(msg: Buffer): number {
  let pos = 12;
  while (msg[pos] !== 0) pos += msg[pos] + 1;
  return pos + 1 - 12;
}
