import { Rcode } from './codes';
import { PeerIndex } from './peer-index';
import { DnsResponder, DnsResponderOptions } from './responder';
import { b32, decode, header, instanceOf, optRecord, plain, query, QuerySpec, testKey, testPeer } from './testkit';
import { DnsSdConfigError } from './zone';

const Z = 'mesh.example';
const svc = `_wireguard._udp.${Z}`;
const inst1 = instanceOf(testKey(1), Z);

function fixture(opts: Partial<DnsResponderOptions> = {}) {
  const index = new PeerIndex();
  index.replaceAll([
    testPeer(1, '192.0.2.1:51820', ['10.99.0.1/32'], { nat: 'eim' }),
    testPeer(2, '[2001:db8::2]:51821', ['10.99.0.2/32', 'fd00::2/128']),
    testPeer(3, null, ['10.99.0.3/32']),
  ]);
  const responder = new DnsResponder({ zones: [{ origin: Z }], index, ...opts });
  const ask = (spec: QuerySpec, transport: 'udp' | 'tcp' = 'udp') => responder.respond(query(spec), transport)!;
  return { index, responder, ask };
}

const srvPort = (out: Buffer) => (decode(out).answers?.[0]?.data as { port: number } | undefined)?.port;

/** Adds `count` peers with endpoints to the index. */
function populate(index: PeerIndex, count: number): void {
  index.replaceAll(Array.from({ length: count }, (_, i) => testPeer(i + 1, `198.51.${(i >> 8) & 255}.${i & 255}:${1024 + i}`, [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`])));
}

describe('DnsResponder', () => {
  it('answers an SRV query on the wire: ID and RD echoed, AA set, RA clear, A/AAAA and TXT additional', () => {
    const { ask } = fixture();
    for (const rd of [true, false]) {
      const out = ask({ name: inst1, type: 'SRV', id: 0xabcd, rd });
      expect(header(out)).toMatchObject({ id: 0xabcd, qr: true, opcode: 0, aa: true, tc: false, rd, ra: false, rcode: 0, qdcount: 1, ancount: 1, nscount: 0, arcount: 2 });
      const d = decode(out);
      expect(plain(d.answers)).toEqual([{ name: inst1, type: 'SRV', ttl: 0, data: { priority: 0, weight: 0, port: 51820, target: inst1 } }]);
      expect(plain(d.additionals)).toEqual([
        { name: inst1, type: 'A', ttl: 0, data: '192.0.2.1' },
        { name: inst1, type: 'TXT', ttl: 0, data: ['txtvers=1', `pub=${testKey(1)}`, 'allowed=10.99.0.1/32', 'nat=eim'] },
      ]);
    }
    const v6 = decode(ask({ name: instanceOf(testKey(2), Z), type: 'SRV', edns: {} }));
    expect(v6.additionals?.map((rr) => rr.type)).toEqual(['AAAA', 'TXT', 'OPT']);
    expect(v6.additionals?.[0].data).toBe('2001:db8::2');
  });

  it('echoes the question exactly as asked, on misses and cache hits alike', () => {
    const { ask, responder } = fixture();
    const names = [inst1.toUpperCase(), inst1, `${b32(testKey(1)).toUpperCase()}._WireGuard._UDP.Mesh.EXAMPLE`, inst1.toUpperCase()];
    for (const name of names) {
      const q = query({ name, type: 'SRV' });
      const out = responder.respond(q, 'udp')!;
      expect(out.subarray(12, q.length)).toEqual(q.subarray(12));
      const d = decode(out);
      expect(d.questions?.[0].name).toBe(name);
      expect((d.answers?.[0].data as { port: number }).port).toBe(51820);
      expect(d.answers?.[0].name.toLowerCase()).toBe(inst1);
    }
    expect(responder.stats()).toMatchObject({ cacheMisses: 1, cacheHits: 3 });
    expect(decode(ask({ name: `_WIREGUARD._udp.${Z}`, type: 'PTR' })).answers).toHaveLength(2);
  });

  it('lists peers with an endpoint and answers NXDOMAIN + SOA for one without', () => {
    const { ask } = fixture();
    const ptr = decode(ask({ name: svc, type: 'PTR' }));
    expect(ptr.answers?.map((a) => a.data)).toEqual([inst1, instanceOf(testKey(2), Z)]);
    const nx = ask({ name: instanceOf(testKey(3), Z), type: 'SRV' });
    expect(header(nx)).toMatchObject({ aa: true, rcode: Rcode.NXDOMAIN, ancount: 0, nscount: 1 });
    expect(decode(nx).authorities?.[0]).toMatchObject({ type: 'SOA', name: Z, ttl: 60, data: { mname: `ns1.${Z}`, rname: `postmaster.${Z}`, serial: 1 } });
  });

  it('answers lookups by tunnel address', () => {
    const { ask } = fixture();
    const v4 = decode(ask({ name: `10.99.0.1._wireguard._udp.${Z}`, type: 'SRV' }));
    expect(v4.answers?.[0]).toMatchObject({ name: `10.99.0.1._wireguard._udp.${Z}`, data: { port: 51820, target: inst1 } });
    expect(v4.additionals?.[0]).toMatchObject({ name: inst1, type: 'A', data: '192.0.2.1' });
    const v6 = decode(ask({ name: `FD00--2._wireguard._udp.${Z}`, type: 'AAAA' }));
    expect(v6.answers?.[0]).toMatchObject({ name: `FD00--2._wireguard._udp.${Z}`, type: 'AAAA', data: '2001:db8::2' });
  });

  it('refuses names outside the zone and classes other than IN, without AA', () => {
    const { ask } = fixture();
    for (const out of [ask({ name: 'example.org', type: 'A' }), ask({ name: inst1, type: 'SRV', qclass: 3 })]) {
      expect(header(out)).toMatchObject({ rcode: Rcode.REFUSED, aa: false, ra: false, qdcount: 1, ancount: 0, nscount: 0 });
    }
  });

  describe('malformed and unsupported queries', () => {
    const good = query({ name: inst1, type: 'SRV', id: 0x0bad });
    const withQd = (n: number) => {
      const q = Buffer.from(good);
      q.writeUInt16BE(n, 4);
      return q;
    };
    it.each([
      ['two questions', withQd(2), false],
      ['no question', withQd(0), false],
      ['a pointer in the question', Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 33, 0, 1])]), false],
      ['a truncated question', good.subarray(0, 30), false],
      ['a label too long', Buffer.concat([good.subarray(0, 12), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 33, 0, 1])]), false],
      ['trailing garbage', Buffer.concat([good, Buffer.from([1, 2, 3])]), true],
      ['two OPT records', (() => { const q = Buffer.concat([good, optRecord({}), optRecord({})]); q.writeUInt16BE(2, 10); return q; })(), true],
    ])('answers FORMERR to %s, ID echoed', (_what, msg, echoesQuestion) => {
      const { responder } = fixture();
      const out = responder.respond(msg, 'udp')!;
      expect(header(out)).toMatchObject({ id: 0x0bad, qr: true, rcode: Rcode.FORMERR, aa: false, qdcount: echoesQuestion ? 1 : 0, ancount: 0, arcount: 0 });
      if (echoesQuestion) expect(out.subarray(12)).toEqual(good.subarray(12));
      expect(() => decode(out)).not.toThrow();
    });

    it('answers FORMERR with just the ID to a bare 12-byte header', () => {
      const out = fixture().responder.respond(Buffer.from([0x77, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'udp')!;
      expect(out).toEqual(Buffer.from([0x77, 0x66, 0x80, Rcode.FORMERR, 0, 0, 0, 0, 0, 0, 0, 0]));
    });

    it('drops responses and runts', () => {
      const { responder } = fixture();
      const response = Buffer.from(good);
      response[2] |= 0x80;
      expect(responder.respond(response, 'udp')).toBeNull();
      expect(responder.respond(good.subarray(0, 11), 'udp')).toBeNull();
      expect(responder.stats()).toMatchObject({ queries: 0, dropped: 2 });
    });

    it.each([1, 2, 4, 5])('answers NOTIMP to opcode %d, echoing opcode and question', (opcode) => {
      const q = query({ name: inst1, type: 'SOA', opcode, id: 9 });
      const out = fixture().responder.respond(q, 'udp')!;
      expect(header(out)).toMatchObject({ id: 9, opcode, rcode: Rcode.NOTIMP, qdcount: 1, ancount: 0 });
      expect(out.subarray(12)).toEqual(q.subarray(12));
    });

    it('answers BADVERS (extended rcode 16 in the OPT) to EDNS version 1', () => {
      const out = fixture().ask({ name: inst1, type: 'SRV', edns: { version: 1 } });
      expect(header(out)).toMatchObject({ rcode: 0, ancount: 0, arcount: 1 });
      expect(plain(decode(out).additionals)).toEqual([{ type: 'OPT', udpPayloadSize: 1232, extendedRcode: 1 }]);
    });
  });

  describe('size limits', () => {
    const listing = (opts: Partial<DnsResponderOptions> = {}) => {
      const f = fixture(opts);
      populate(f.index, 100);
      return f;
    };

    it('truncates a large listing to 512 bytes without EDNS (TC, whole answers)', () => {
      const out = listing().ask({ name: svc, type: 'PTR' });
      expect(out.length).toBeLessThanOrEqual(512);
      expect(header(out)).toMatchObject({ tc: true, ancount: Math.floor((512 - 12 - 34) / 71), arcount: 0 });
      expect(decode(out).answers).toHaveLength(header(out).ancount);
    });

    it.each([
      [4096, undefined, 1232],
      [600, undefined, 600],
      [100, undefined, 512],
      [4096, 4096, 4096],
      [1500, 4096, 1500],
    ])('with EDNS %d from the client and our max %p, the limit is %d', (client, ours, limit) => {
      const out = listing({ maxUdpPayload: ours }).ask({ name: svc, type: 'PTR', edns: { udpSize: client } });
      expect(out.length).toBeLessThanOrEqual(limit);
      expect(out.length).toBeGreaterThan(limit - 71);
      expect(header(out).tc).toBe(true);
      expect(plain(decode(out).additionals)).toEqual([{ type: 'OPT', udpPayloadSize: ours ?? 1232, extendedRcode: 0 }]);
    });

    it('sends the whole listing over TCP when it fits', () => {
      const out = listing().ask({ name: svc, type: 'PTR' }, 'tcp');
      expect(header(out)).toMatchObject({ tc: false, ancount: 100 });
    });

    it('with 2,000 peers: TCP caps a PTR listing at 65535 bytes (TC), and every SRV comes back whole', () => {
      const { index, responder } = fixture();
      populate(index, 2000);
      const ptr = responder.respond(query({ name: svc, type: 'PTR' }), 'tcp')!;
      expect(ptr.length).toBeLessThanOrEqual(65535);
      expect(header(ptr)).toMatchObject({ tc: true, ancount: Math.floor((65535 - 12 - 34) / 71) }); // 922 of 2,000
      for (let i = 0; i < 2000; i++) {
        const out = responder.respond(query({ name: instanceOf(testKey(i + 1), Z), type: 'SRV', id: i }), 'tcp')!;
        const h = header(out);
        if (h.id !== i || h.rcode !== 0 || h.tc || h.ancount !== 1 || h.arcount !== 2) throw new Error(`peer ${i + 1}: ${JSON.stringify(h)}`);
        const d = decode(out);
        expect([srvPort(out), d.additionals?.[0].type, d.additionals?.[1].type]).toEqual([1024 + i, 'A', 'TXT']);
      }
      const last = decode(responder.respond(query({ name: instanceOf(testKey(2000), Z), type: 'SRV' }), 'tcp')!);
      expect(last.additionals?.map((a) => a.data)).toEqual(['198.51.7.207', [Buffer.from('txtvers=1'), Buffer.from(`pub=${testKey(2000)}`), Buffer.from('allowed=10.0.7.207/32')]]);
    });
  });

  describe('cache', () => {

    it('never serves an answer the index has moved past', () => {
      const { index, responder, ask } = fixture();
      const inst2 = instanceOf(testKey(2), Z);
      expect(srvPort(ask({ name: inst1, type: 'SRV' }))).toBe(51820);
      expect(srvPort(ask({ name: `10.99.0.1._wireguard._udp.${Z}`, type: 'SRV' }))).toBe(51820);
      ask({ name: inst2, type: 'SRV' });

      index.upsert(testPeer(1, '192.0.2.1:4000', ['10.99.0.1/32'], { nat: 'eim' })); // roamed
      expect(srvPort(ask({ name: inst1, type: 'SRV' }))).toBe(4000);
      expect(srvPort(ask({ name: `10.99.0.1._wireguard._udp.${Z}`, type: 'SRV' }))).toBe(4000);
      const hits = responder.stats().cacheHits;
      ask({ name: inst2, type: 'SRV' }); // another peer's answer survives the roam
      expect(responder.stats().cacheHits).toBe(hits + 1);

      expect(header(ask({ name: inst1, type: 'AAAA' })).ancount).toBe(0); // NODATA: an IPv4 endpoint
      index.upsert(testPeer(1, '[2001:db8::1]:4000', ['10.99.0.1/32'], { nat: 'eim' }));
      expect(decode(ask({ name: inst1, type: 'AAAA' })).answers?.[0].data).toBe('2001:db8::1');
      index.upsert(testPeer(1, '192.0.2.1:4000', ['10.99.0.1/32'], { nat: 'edm' }));
      expect(decode(ask({ name: inst1, type: 'TXT' })).answers?.[0].data).toContainEqual(Buffer.from('nat=edm'));

      index.upsert(testPeer(1, '192.0.2.1:4000', ['10.99.0.7/32']));
      expect(header(ask({ name: `10.99.0.1._wireguard._udp.${Z}`, type: 'SRV' })).rcode).toBe(Rcode.NXDOMAIN);
      expect(srvPort(ask({ name: `10.99.0.7._wireguard._udp.${Z}`, type: 'SRV' }))).toBe(4000);

      index.remove(testKey(1));
      expect(header(ask({ name: inst1, type: 'SRV' })).rcode).toBe(Rcode.NXDOMAIN);
      expect(decode(ask({ name: svc, type: 'PTR' })).answers).toHaveLength(1);

      index.upsert(testPeer(3, '192.0.2.3:3')); // gains an endpoint
      expect(srvPort(ask({ name: instanceOf(testKey(3), Z), type: 'SRV' }))).toBe(3);
      expect(decode(ask({ name: svc, type: 'PTR' })).answers).toHaveLength(2);

      index.replaceAll([]);
      expect(header(ask({ name: inst2, type: 'SRV' })).rcode).toBe(Rcode.NXDOMAIN);
    });

    it('rebuilds answers carrying the SOA when the serial changes, and keeps the others', () => {
      const { responder, ask } = fixture();
      const serialOf = (out: Buffer) => (decode(out).authorities?.[0]?.data as { serial: number }).serial;
      expect(serialOf(ask({ name: `nope.${Z}`, type: 'A' }))).toBe(1);
      ask({ name: inst1, type: 'SRV' });
      responder.setSerial(77);
      expect(serialOf(ask({ name: `nope.${Z}`, type: 'A' }))).toBe(77);
      expect(decode(ask({ name: Z, type: 'SOA' })).answers?.[0].data).toMatchObject({ serial: 77 });
      const before = responder.stats();
      ask({ name: inst1, type: 'SRV' });
      expect(responder.stats().cacheHits).toBe(before.cacheHits + 1);
      expect(() => responder.setSerial(-1)).toThrow(DnsSdConfigError);
    });

    it('keys on type, EDNS and size limit, and gives byte-identical answers with the cache off', () => {
      const cached = fixture();
      const uncached = fixture({ cacheMaxEntries: 0 });
      populate(cached.index, 50);
      populate(uncached.index, 50);
      const specs: [QuerySpec, 'udp' | 'tcp'][] = [];
      for (const name of [svc, instanceOf(testKey(7), Z), `10.0.0.9._wireguard._udp.${Z}`, `x.${Z}`, Z, 'elsewhere.test'])
        for (const type of ['PTR', 'SRV', 'A', 'TXT', 'SOA'])
          for (const edns of [undefined, { udpSize: 512 }, { udpSize: 4096 }]) for (const t of ['udp', 'tcp'] as const) specs.push([{ name, type, edns }, t]);
      for (let round = 0; round < 2; round++) {
        for (const [spec, t] of specs) expect(cached.ask(spec, t)).toEqual(uncached.ask(spec, t));
      }
      // Over TCP the limit is 65535 whatever the EDNS size, so those two variants share an entry.
      const distinct = specs.length - specs.filter(([spec, t]) => t === 'tcp' && spec.edns?.udpSize === 4096).length;
      expect(cached.responder.stats()).toMatchObject({ cacheMisses: distinct, cacheHits: 2 * specs.length - distinct });
      expect(uncached.responder.stats()).toMatchObject({ cacheHits: 0 });
    });
  });

  it('counts queries by rcode and type', () => {
    const { responder, ask } = fixture();
    ask({ name: inst1, type: 'SRV' });
    ask({ name: inst1, type: 'SRV' });
    ask({ name: `x.${Z}`, type: 'A' });
    ask({ name: 'x.org', type: 65280 });
    responder.respond(Buffer.alloc(12), 'udp');
    expect(responder.stats()).toEqual({
      queries: 5,
      dropped: 0,
      byRcode: { NOERROR: 2, NXDOMAIN: 1, REFUSED: 1, FORMERR: 1 },
      byType: { SRV: 2, A: 1, TYPE65280: 1 },
      cacheHits: 1,
      cacheMisses: 3,
    });
  });

  it('takes a plain Uint8Array as well as a Buffer', () => {
    const { responder } = fixture();
    const q = query({ name: inst1, type: 'SRV' });
    expect(responder.respond(new Uint8Array(q), 'udp')).toEqual(responder.respond(q, 'udp'));
  });

  it('rejects bad configuration', () => {
    const index = new PeerIndex();
    const self = { publicKey: testKey(1), endpoint: '192.0.2.1:1', allowedIps: [] };
    expect(() => new DnsResponder({ zones: [], index })).toThrow(DnsSdConfigError);
    expect(() => new DnsResponder({ zones: [{ origin: Z }], index, maxUdpPayload: 511 })).toThrow(/512-4096/);
    expect(() => new DnsResponder({ zones: [{ origin: Z }], index, maxUdpPayload: 4097 })).toThrow(/512-4096/);
    expect(() => new DnsResponder({ zones: [{ origin: Z }, { origin: `${Z}.` }], index })).toThrow(/twice/);
    expect(() => new DnsResponder({ zones: [{ origin: 'bad..name' }], index })).toThrow(/invalid label/);
    expect(() => new DnsResponder({ zones: [{ origin: Z, ttl: -1 }], index })).toThrow(/ttl/);
    expect(() => new DnsResponder({ zones: [{ origin: Z, self: { ...self, endpoint: 'nowhere' } }], index })).toThrow(/self/);
    expect(() => new DnsResponder({ zones: [{ origin: Z, self: { ...self, publicKey: 'x' } }], index })).toThrow(/self/);
  });
});
