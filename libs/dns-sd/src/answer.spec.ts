import { formatIp } from '@wgmesh/netaddr';
import { answer } from './answer';
import { CLASS_IN, Rcode, RrType } from './codes';
import { PeerIndex } from './peer-index';
import type { Answer, ResourceRecord, TxtRecord } from './records';
import { b32, testKey, testPeer, typeCode } from './testkit';
import { compileZones, ZoneOptions } from './zone';

/** Records in dig's text form, as wgsd_test.go writes its expectations. */
function rrText(rr: ResourceRecord): string {
  const head = `${rr.name} ${rr.ttl} IN ${rr.type}`;
  switch (rr.type) {
    case 'PTR':
      return `${head} ${rr.target}`;
    case 'SRV':
      return `${head} ${rr.priority} ${rr.weight} ${rr.port} ${rr.target}`;
    case 'A':
    case 'AAAA':
      return `${head} ${formatIp(rr.address)}`;
    case 'TXT':
      return `${head} ${rr.strings.map((s) => `"${s}"`).join(' ')}`;
    case 'SOA':
      return `${head} ${rr.mname} ${rr.rname} ${rr.serial} ${rr.refresh} ${rr.retry} ${rr.expire} ${rr.minimum}`;
  }
}

interface Expect {
  rcode: number;
  answer?: string[];
  ns?: string[];
  extra?: string[];
}

function ask(zones: ZoneOptions[], index: PeerIndex, name: string, type: string | number, serial = 1, qclass = CLASS_IN): Answer {
  return answer({ name, type: typeCode(type), class: qclass }, { zones: compileZones(zones), index, serial });
}

function asText(a: Answer) {
  return { rcode: a.rcode, answer: a.answers.map(rrText), ns: a.authority.map(rrText), extra: a.additional.map(rrText) };
}

const Z = 'example.com.';
const k1 = b32(testKey(1));
const k2 = b32(testKey(2));
const k3 = b32(testKey(3));
const kSelf = b32(testKey(9));
const svc = `_wireguard._udp.${Z}`;
const soaNeg = `${Z} 60 IN SOA ns1.${Z} postmaster.${Z} 1 86400 7200 3600000 60`;
const pub1 = testKey(1);
const pub2 = testKey(2);

function fixture(): PeerIndex {
  const index = new PeerIndex();
  index.replaceAll([
    testPeer(1, '1.1.1.1:1', ['10.0.0.1/32'], { nat: 'eim' }),
    testPeer(2, '[::2]:2', ['fd00::2/128', '10.2.0.0/16']),
    testPeer(3, null, ['10.0.0.3/32']),
  ]);
  return index;
}

describe('answer (record model, in the spirit of wgsd_test.go)', () => {
  const zones: ZoneOptions[] = [{ origin: 'example.com' }];
  const index = fixture();

  const cases: [string, string, Expect][] = [
    [svc, 'PTR', { rcode: Rcode.NOERROR, answer: [`${svc} 0 IN PTR ${k1}.${svc}`, `${svc} 0 IN PTR ${k2}.${svc}`] }],
    [
      `${k1}.${svc}`,
      'SRV',
      {
        rcode: Rcode.NOERROR,
        answer: [`${k1}.${svc} 0 IN SRV 0 0 1 ${k1}.${svc}`],
        extra: [`${k1}.${svc} 0 IN A 1.1.1.1`, `${k1}.${svc} 0 IN TXT "txtvers=1" "pub=${pub1}" "allowed=10.0.0.1/32" "nat=eim"`],
      },
    ],
    [
      `${k2}.${svc}`,
      'SRV',
      {
        rcode: Rcode.NOERROR,
        answer: [`${k2}.${svc} 0 IN SRV 0 0 2 ${k2}.${svc}`],
        extra: [`${k2}.${svc} 0 IN AAAA ::2`, `${k2}.${svc} 0 IN TXT "txtvers=1" "pub=${pub2}" "allowed=fd00::2/128,10.2.0.0/16"`],
      },
    ],
    [`${k1}.${svc}`, 'A', { rcode: Rcode.NOERROR, answer: [`${k1}.${svc} 0 IN A 1.1.1.1`] }],
    [`${k2}.${svc}`, 'AAAA', { rcode: Rcode.NOERROR, answer: [`${k2}.${svc} 0 IN AAAA ::2`] }],
    [`${k1}.${svc}`, 'AAAA', { rcode: Rcode.NOERROR, ns: [soaNeg] }],
    [`${k2}.${svc}`, 'A', { rcode: Rcode.NOERROR, ns: [soaNeg] }],
    [`${k1}.${svc}`, 'TXT', { rcode: Rcode.NOERROR, answer: [`${k1}.${svc} 0 IN TXT "txtvers=1" "pub=${pub1}" "allowed=10.0.0.1/32" "nat=eim"`] }],
    [`${k1}.${svc}`, 'MX', { rcode: Rcode.NOERROR, ns: [soaNeg] }],
    [`${k3}.${svc}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`${k3}.${svc}`, 'TXT', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`${b32(testKey(77))}.${svc}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`x.${k1}.${svc}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`nxdomain.${Z}`, 'AAAA', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`ns1.${Z}`, 'A', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [Z, 'SOA', { rcode: Rcode.NOERROR, answer: [soaNeg] }],
    [Z, 'NS', { rcode: Rcode.NOERROR, ns: [soaNeg] }],
    [`_udp.${Z}`, 'PTR', { rcode: Rcode.NOERROR, ns: [soaNeg] }],
    [svc, 'SRV', { rcode: Rcode.NOERROR, ns: [soaNeg] }],
    ['servfail.notexample.com.', 'AAAA', { rcode: Rcode.REFUSED }],
    ['com.', 'SOA', { rcode: Rcode.REFUSED }],
    [Z, 'AXFR', { rcode: Rcode.REFUSED }],
    // Lookup by tunnel address: owner is the asked name, the SRV target the peer's key name.
    [
      `10.0.0.1._wireguard._udp.${Z}`,
      'SRV',
      {
        rcode: Rcode.NOERROR,
        answer: [`10.0.0.1._wireguard._udp.${Z} 0 IN SRV 0 0 1 ${k1}.${svc}`],
        extra: [`${k1}.${svc} 0 IN A 1.1.1.1`, `${k1}.${svc} 0 IN TXT "txtvers=1" "pub=${pub1}" "allowed=10.0.0.1/32" "nat=eim"`],
      },
    ],
    [`10.0.0.1._wireguard._udp.${Z}`, 'A', { rcode: Rcode.NOERROR, answer: [`10.0.0.1._wireguard._udp.${Z} 0 IN A 1.1.1.1`] }],
    [`10.2.200.7._wireguard._udp.${Z}`, 'AAAA', { rcode: Rcode.NOERROR, answer: [`10.2.200.7._wireguard._udp.${Z} 0 IN AAAA ::2`] }],
    [`fd00--2._wireguard._udp.${Z}`, 'TXT', { rcode: Rcode.NOERROR, answer: [`fd00--2._wireguard._udp.${Z} 0 IN TXT "txtvers=1" "pub=${pub2}" "allowed=fd00::2/128,10.2.0.0/16"`] }],
    [`fd00-0-0-0-0-0-0-2._wireguard._udp.${Z}`, 'SRV', { rcode: Rcode.NOERROR, answer: [`fd00-0-0-0-0-0-0-2._wireguard._udp.${Z} 0 IN SRV 0 0 2 ${k2}.${svc}`], extra: [`${k2}.${svc} 0 IN AAAA ::2`, `${k2}.${svc} 0 IN TXT "txtvers=1" "pub=${pub2}" "allowed=fd00::2/128,10.2.0.0/16"`] }],
    [`10.0.0.3._wireguard._udp.${Z}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }], // owner has no endpoint
    [`10.9.9.9._wireguard._udp.${Z}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`10.0.1._wireguard._udp.${Z}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
    [`fd00::2._wireguard._udp.${Z}`, 'SRV', { rcode: Rcode.NXDOMAIN, ns: [soaNeg] }],
  ];

  it.each(cases)('%s %s', (name, type, want) => {
    expect(asText(ask(zones, index, name, type))).toEqual({ answer: [], ns: [], extra: [], ...want });
  });

  it('sets AA inside the zone and not on REFUSED', () => {
    expect(ask(zones, index, `${k1}.${svc}`, 'SRV').authoritative).toBe(true);
    expect(ask(zones, index, `nope.${Z}`, 'A').authoritative).toBe(true);
    expect(ask(zones, index, 'example.org.', 'A').authoritative).toBe(false);
  });

  it('refuses classes other than IN', () => {
    expect(ask(zones, index, `${k1}.${svc}`, 'SRV', 1, 3).rcode).toBe(Rcode.REFUSED);
    expect(ask(zones, index, `${k1}.${svc}`, 'SRV', 1, 255).rcode).toBe(Rcode.REFUSED);
  });

  it('answers ANY with one RRset (RFC 8482): SOA at the apex, PTR for the service, SRV for a peer', () => {
    expect(ask(zones, index, Z, RrType.ANY).answers.map((r) => r.type)).toEqual(['SOA']);
    expect(ask(zones, index, svc, RrType.ANY).answers.map((r) => r.type)).toEqual(['PTR', 'PTR']);
    expect(ask(zones, index, `${k1}.${svc}`, RrType.ANY).answers.map((r) => r.type)).toEqual(['SRV']);
  });

  it('puts the serial and configured SOA fields in the SOA, with RFC 2308 negative TTL', () => {
    const custom: ZoneOptions[] = [{ origin: Z, ttl: 30, soa: { mname: 'ns.other.net', rname: 'dns.example.com', refresh: 1, retry: 2, expire: 3, minimum: 10, ttl: 300 } }];
    expect(asText(ask(custom, index, `nope.${Z}`, 'A', 4242)).ns).toEqual([`${Z} 10 IN SOA ns.other.net. dns.example.com. 4242 1 2 3 10`]);
    expect(asText(ask(custom, index, Z, 'SOA', 4242)).answer).toEqual([`${Z} 300 IN SOA ns.other.net. dns.example.com. 4242 1 2 3 10`]);
  });

  it('uses the zone TTL for every record', () => {
    const a = ask([{ origin: Z, ttl: 45 }], index, `${k1}.${svc}`, 'SRV');
    expect([...a.answers, ...a.additional].map((r) => r.ttl)).toEqual([45, 45, 45]);
    expect(ask([{ origin: Z, ttl: 45 }], index, svc, 'PTR').answers.map((r) => r.ttl)).toEqual([45, 45]);
  });

  it('reports the peer an answer was built from (for cache validation)', () => {
    expect(ask(zones, index, `${k1}.${svc}`, 'SRV').peer).toBe(index.byBase32(k1));
    expect(ask(zones, index, `10.2.0.1._wireguard._udp.${Z}`, 'TXT').peer).toBe(index.byBase32(k2));
    expect(ask(zones, index, svc, 'PTR').peer).toBeNull();
  });

  describe('self', () => {
    const self = { publicKey: testKey(9), endpoint: '203.0.113.9:51820', allowedIps: ['10.0.0.0/24', '10.0.0.254/32'] };
    const withSelf: ZoneOptions[] = [{ origin: Z, self }];

    it('is listed after the peers and answers like a peer', () => {
      expect(asText(ask(withSelf, index, svc, 'PTR')).answer.at(-1)).toBe(`${svc} 0 IN PTR ${kSelf}.${svc}`);
      expect(asText(ask(withSelf, index, `${kSelf}.${svc}`, 'SRV'))).toEqual({
        rcode: Rcode.NOERROR,
        answer: [`${kSelf}.${svc} 0 IN SRV 0 0 51820 ${kSelf}.${svc}`],
        ns: [],
        extra: [`${kSelf}.${svc} 0 IN A 203.0.113.9`, `${kSelf}.${svc} 0 IN TXT "txtvers=1" "pub=${testKey(9)}" "allowed=10.0.0.0/24,10.0.0.254/32"`],
      });
    });

    it('takes part in address lookup by most specific prefix', () => {
      const srvTarget = (name: string) => (ask(withSelf, index, name, 'SRV').answers[0] as { target: string } | undefined)?.target;
      expect(srvTarget(`10.0.0.254._wireguard._udp.${Z}`)).toBe(`${kSelf}.${svc}`);
      expect(srvTarget(`10.0.0.77._wireguard._udp.${Z}`)).toBe(`${kSelf}.${svc}`);
      expect(srvTarget(`10.0.0.1._wireguard._udp.${Z}`)).toBe(`${k1}.${svc}`);
    });

    it('wins over an index peer with the same key, listed once', () => {
      const idx = fixture();
      idx.upsert(testPeer(9, '198.51.100.1:1'));
      const ptrs = asText(ask(withSelf, idx, svc, 'PTR')).answer.filter((t) => t.includes(kSelf));
      expect(ptrs).toHaveLength(1);
      expect(asText(ask(withSelf, idx, `${kSelf}.${svc}`, 'A')).answer).toEqual([`${kSelf}.${svc} 0 IN A 203.0.113.9`]);
    });
  });

  it('serves several zones, the longest matching origin winning', () => {
    const multi: ZoneOptions[] = [
      { origin: 'example.com.', ttl: 1 },
      { origin: 'inner.example.com.', ttl: 2, self: { publicKey: testKey(9), endpoint: '203.0.113.9:1', allowedIps: [] } },
      { origin: 'mesh.test', ttl: 3 },
    ];
    expect(asText(ask(multi, index, `_wireguard._udp.inner.example.com.`, 'PTR')).answer).toContain(`_wireguard._udp.inner.example.com. 2 IN PTR ${kSelf}._wireguard._udp.inner.example.com.`);
    expect(asText(ask(multi, index, svc, 'PTR')).answer).toHaveLength(2);
    expect(ask(multi, index, `${k1}._wireguard._udp.mesh.test.`, 'SRV').answers[0].ttl).toBe(3);
    expect(asText(ask(multi, index, 'x.inner.example.com.', 'A')).ns[0]).toMatch(/^inner\.example\.com\. 60 IN SOA ns1\.inner\.example\.com\. /);
    expect(ask(multi, index, 'other.test.', 'A').rcode).toBe(Rcode.REFUSED);
  });

  it('splits a long allowed list over several TXT strings of at most 255 bytes', () => {
    const idx = new PeerIndex();
    const prefixes = Array.from({ length: 40 }, (_, i) => `fd00:${(i + 1).toString(16)}::/64`);
    idx.upsert(testPeer(5, '192.0.2.5:5', prefixes));
    const txt = ask(zones, idx, `${b32(testKey(5))}.${svc}`, 'TXT').answers[0] as TxtRecord;
    expect(txt.strings.slice(0, 2)).toEqual(['txtvers=1', `pub=${testKey(5)}`]);
    const allowed = txt.strings.slice(2);
    expect(allowed.length).toBeGreaterThan(1);
    expect(allowed.every((s) => s.startsWith('allowed=') && s.length <= 255)).toBe(true);
    expect(allowed.flatMap((s) => s.slice('allowed='.length).split(','))).toEqual(prefixes);
  });

  it('serves an empty service listing as NODATA', () => {
    expect(asText(ask(zones, new PeerIndex(), svc, 'PTR'))).toEqual({ rcode: Rcode.NOERROR, answer: [], ns: [soaNeg], extra: [] });
  });
});
