import { parseIp } from '@wgmesh/netaddr';
import dnsPacket from 'dns-packet';
import { Rcode } from './codes';
import { encodeResponse, ResponseMessage } from './encode';
import type { ResourceRecord } from './records';
import { b32, decode, header, plain, testKey } from './testkit';

const zone = 'mesh.example.';
const svc = `_wireguard._udp.${zone}`;
const inst = (n: number) => `${b32(testKey(n))}.${svc}`;

function message(over: Partial<ResponseMessage>): ResponseMessage {
  return { id: 0x4242, opcode: 0, rd: true, authoritative: true, rcode: 0, question: null, answers: [], authority: [], additional: [], edns: null, ...over };
}

const ptrs = (count: number): ResourceRecord[] => Array.from({ length: count }, (_, i) => ({ type: 'PTR', name: svc, ttl: 0, target: inst(i + 1) }));

describe('encodeResponse', () => {
  const srvMessage = message({
    question: { name: inst(1), type: 33, class: 1 },
    answers: [{ type: 'SRV', name: inst(1), ttl: 7, priority: 0, weight: 0, port: 51820, target: inst(1) }],
    authority: [{ type: 'SOA', name: zone, ttl: 60, mname: `ns1.${zone}`, rname: `postmaster.${zone}`, serial: 9, refresh: 1, retry: 2, expire: 3, minimum: 4 }],
    additional: [
      { type: 'A', name: inst(1), ttl: 7, address: parseIp('192.0.2.1') },
      { type: 'AAAA', name: inst(1), ttl: 7, address: parseIp('2001:db8::1') },
      { type: 'TXT', name: inst(1), ttl: 7, strings: ['txtvers=1', 'allowed=10.0.0.1/32'] },
    ],
    edns: { udpSize: 1232 },
  });

  it('writes what dns-packet reads back, header included', () => {
    const out = encodeResponse(srvMessage);
    const d = decode(out);
    expect(header(out)).toMatchObject({ id: 0x4242, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, rcode: 0, qdcount: 1, ancount: 1, nscount: 1, arcount: 4 });
    const bare = inst(1).slice(0, -1);
    expect(d.questions).toEqual([{ name: bare, type: 'SRV', class: 'IN' }]);
    expect(plain(d.answers)).toEqual([{ name: bare, type: 'SRV', ttl: 7, data: { priority: 0, weight: 0, port: 51820, target: bare } }]);
    expect(plain(d.authorities)).toEqual([
      { name: 'mesh.example', type: 'SOA', ttl: 60, data: { mname: 'ns1.mesh.example', rname: 'postmaster.mesh.example', serial: 9, refresh: 1, retry: 2, expire: 3, minimum: 4 } },
    ]);
    expect(plain(d.additionals)).toEqual([
      { name: bare, type: 'A', ttl: 7, data: '192.0.2.1' },
      { name: bare, type: 'AAAA', ttl: 7, data: '2001:db8::1' },
      { name: bare, type: 'TXT', ttl: 7, data: ['txtvers=1', 'allowed=10.0.0.1/32'] },
      { type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0 },
    ]);
  });

  it('compresses names (owners, PTR targets, SOA names) and is much smaller than uncompressed', () => {
    for (const msg of [srvMessage, message({ question: { name: svc, type: 12, class: 1 }, answers: ptrs(20) })]) {
      const out = encodeResponse(msg);
      const uncompressed = dnsPacket.encode(dnsPacket.decode(out));
      expect(decode(uncompressed)).toEqual(decode(out));
      expect(out.length).toBeLessThan(uncompressed.length * 0.6);
    }
    // A PTR costs owner pointer 2 + 10 + (1 + 56 + pointer 2) = 71 bytes.
    const one = encodeResponse(message({ question: { name: svc, type: 12, class: 1 }, answers: ptrs(1) }));
    const two = encodeResponse(message({ question: { name: svc, type: 12, class: 1 }, answers: ptrs(2) }));
    expect(two.length - one.length).toBe(71);
  });

  it('does not compress SRV targets (RFC 2782), though later names may point into them', () => {
    const out = encodeResponse(message({ answers: [{ type: 'SRV', name: inst(1), ttl: 0, priority: 0, weight: 0, port: 1, target: inst(1) }] }));
    const label = Buffer.from(b32(testKey(1)));
    expect(out.indexOf(label)).toBeGreaterThan(-1);
    expect(out.indexOf(label, out.indexOf(label) + 1)).toBeGreaterThan(-1); // written twice: owner and target
    expect(decode(out).answers?.[0]).toMatchObject({ data: { target: inst(1).slice(0, -1) } });
  });

  it('only points below 0x4000, so messages past 16 KiB still decode', () => {
    const names = Array.from({ length: 600 }, (_, i) => inst(i + 1));
    const answers: ResourceRecord[] = names.map((n) => ({ type: 'PTR', name: svc, ttl: 0, target: n }));
    // Owners first written past 0x3fff cannot be pointed at: they are written again in full.
    const late = names.slice(-100);
    const additional: ResourceRecord[] = late.map((n, i) => ({ type: 'A', name: n, ttl: 0, address: parseIp(`10.0.0.${i}`) }));
    const out = encodeResponse(message({ question: { name: svc, type: 12, class: 1 }, answers, additional }));
    expect(out.length).toBeGreaterThan(0x4000 * 3);
    expect(header(out)).toMatchObject({ tc: false, ancount: 600, arcount: 100 });
    const d = decode(out);
    expect(d.answers?.map((a) => a.data)).toEqual(names.map((n) => n.slice(0, -1)));
    expect(d.additionals?.map((a) => a.name)).toEqual(late.map((n) => n.slice(0, -1)));
  });

  it('drops additional records before truncating, and never exceeds the limit', () => {
    const answers = ptrs(6); // 12 + 34 + 6 * 71 = 472 bytes
    const additional: ResourceRecord[] = [{ type: 'TXT', name: svc, ttl: 0, strings: ['x'.repeat(200)] }];
    const out = encodeResponse(message({ question: { name: svc, type: 12, class: 1 }, answers, additional }), 512);
    expect(header(out)).toMatchObject({ tc: false, ancount: 6, arcount: 0 });
    expect(out.length).toBeLessThanOrEqual(512);
  });

  it('sets TC and keeps whole answers when they do not fit; OPT always fits', () => {
    for (const [limit, edns] of [
      [512, null],
      [512, { udpSize: 1232 }],
      [1232, { udpSize: 1232 }],
      [4096, null],
    ] as const) {
      const out = encodeResponse(message({ question: { name: svc, type: 12, class: 1 }, answers: ptrs(100), edns }), limit);
      const h = header(out);
      const room = limit - 12 - 34 - (edns ? 11 : 0);
      expect(h.tc).toBe(true);
      expect(h.ancount).toBe(Math.floor(room / 71));
      expect(out.length).toBeLessThanOrEqual(limit);
      const d = decode(out);
      expect(d.answers).toHaveLength(h.ancount);
      expect(d.additionals?.map((a) => a.type)).toEqual(edns ? ['OPT'] : []);
    }
  });

  it('truncates on the authority section too', () => {
    const soa: ResourceRecord = { type: 'SOA', name: zone, ttl: 0, mname: `ns1.${zone}`, rname: `postmaster.${zone}`, serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 };
    const out = encodeResponse(message({ question: { name: svc, type: 12, class: 1 }, answers: ptrs(6), authority: [soa] }), 512);
    expect(header(out)).toMatchObject({ tc: true, ancount: 6, nscount: 0 });
  });

  it('carries an extended rcode (BADVERS) in the OPT record', () => {
    const out = encodeResponse(message({ rcode: Rcode.BADVERS, authoritative: false, edns: { udpSize: 1232 } }));
    expect(header(out).rcode).toBe(0);
    expect(plain(decode(out).additionals)).toEqual([{ type: 'OPT', udpPayloadSize: 1232, extendedRcode: 1 }]);
  });

  it('rejects a size limit outside 512-65535', () => {
    expect(() => encodeResponse(message({}), 511)).toThrow(RangeError);
    expect(() => encodeResponse(message({}), 65536)).toThrow(RangeError);
  });
});
