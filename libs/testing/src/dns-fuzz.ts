import dnsPacket from 'dns-packet';

/** A small deterministic PRNG (mulberry32), so a failing fuzz case can be replayed by seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'SOA', 'NS', 'MX', 'CNAME'];

/**
 * Generates hostile DNS messages: random bytes, valid queries with bit flips, truncations and
 * garbage, compression-pointer loops in the question, absurd section counts, odd EDNS, non-QUERY
 * opcodes, responses, and oversized messages. `names` seeds the valid queries.
 */
export function* dnsFuzzPackets(seed: number, count: number, names: string[]): Generator<Buffer> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: T[]) => xs[int(xs.length)];
  const randomBytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const valid = () =>
    dnsPacket.encode({
      type: 'query',
      id: int(65536),
      flags: rnd() < 0.5 ? dnsPacket.RECURSION_DESIRED : 0,
      questions: [{ type: pick(TYPES), name: pick(names), class: 'IN' }],
      additionals: rnd() < 0.5 ? [{ type: 'OPT', name: '.', udpPayloadSize: int(70000) % 65536 } as dnsPacket.Answer] : [],
    });
  for (let i = 0; i < count; i++) {
    const kind = int(10);
    let p: Buffer;
    switch (kind) {
      case 0:
        p = randomBytes(int(600));
        break;
      case 1: {
        p = valid();
        for (let f = 1 + int(8); f > 0; f--) p[int(p.length)] ^= 1 << int(8);
        break;
      }
      case 2:
        p = valid().subarray(0, int(40));
        break;
      case 3:
        p = Buffer.concat([valid(), randomBytes(1 + int(64))]);
        break;
      case 4: {
        // The question name points at itself, or two pointers point at each other.
        p = valid();
        const at = 12 + int(Math.max(1, p.length - 14));
        p.writeUInt16BE(0xc000 | (rnd() < 0.5 ? at : 12), at);
        break;
      }
      case 5:
        p = valid();
        p.writeUInt16BE(int(65536), 4 + 2 * int(4)); // QD/AN/NS/AR count
        break;
      case 6:
        p = valid();
        p[2] = (p[2] & 0x87) | (int(16) << 3); // opcode
        break;
      case 7:
        p = valid();
        p[2] |= 0x80; // QR: a response, must be dropped
        break;
      case 8: {
        // Labels longer than 63 or names longer than 255.
        const label = Buffer.alloc(1 + int(200), 0x61);
        label[0] = label.length - 1 > 255 ? 255 : label.length - 1;
        const header = valid().subarray(0, 12);
        header.writeUInt16BE(1, 4);
        p = Buffer.concat([header, label, label, label, Buffer.from([0, 0, 33, 0, 1])]);
        break;
      }
      default:
        p = randomBytes(512 + int(3500));
        break;
    }
    yield p;
  }
}

/** The classes of hostile DNS input `dnsFuzzCases` produces, in the order it cycles through them. */
export const DNS_FUZZ_KINDS = [
  'random',
  'bit-flips',
  'truncated',
  'appended',
  'pointer-loop',
  'section-counts',
  'opcode',
  'response',
  'long-labels',
  'oversized',
  'edns-size',
  'outside-zone',
] as const;
export type DnsFuzzKind = (typeof DNS_FUZZ_KINDS)[number];

export interface DnsFuzzCase {
  kind: DnsFuzzKind;
  packet: Buffer;
}

/**
 * Like `dnsFuzzPackets`, labelled by class, with the classes spread evenly (so a campaign can
 * report how many of each it tried) and three more: `oversized` (1-64 KB: well-formed queries
 * padded with an EDNS option, or junk), `edns-size` (valid queries for `names` with every kind
 * of advertised UDP size, the amplification probes) and `outside-zone` (valid recursive queries
 * for names outside any zone). `maxBytes` caps packet sizes (65507 for UDP, 65535 for TCP).
 */
export function* dnsFuzzCases(seed: number, count: number, names: string[], maxBytes = 65535): Generator<DnsFuzzCase> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]) => xs[int(xs.length)];
  const query = (name: string, type: dnsPacket.RecordType, udpPayloadSize?: number, options: Buffer | null = null) => {
    const q = dnsPacket.encode({
      type: 'query',
      id: int(65536),
      flags: rnd() < 0.5 ? dnsPacket.RECURSION_DESIRED : 0,
      questions: [{ type, name, class: 'IN' }],
      additionals:
        udpPayloadSize === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize, options: options ? [{ code: 12, data: options }] : [] } as dnsPacket.Answer],
    });
    // dns-packet writes 4096 for a size of 0: put the size in the OPT RR (the last record) as asked.
    if (udpPayloadSize !== undefined) q.writeUInt16BE(udpPayloadSize, q.length - 8 - (options ? 4 + options.length : 0));
    return q;
  };
  const sizes = [0, 1, 511, 512, 513, 600, 1000, 1231, 1232, 1233, 1500, 4096, 65535];
  const outside = ['.', 'com.', 'example.org.', 'mesh.example.evil.', 'xmesh.example.', 'wireguard.com.', 'localhost.', '1.0.0.127.in-addr.arpa.'];
  for (let i = 0; i < count; i++) {
    const kind = DNS_FUZZ_KINDS[i % DNS_FUZZ_KINDS.length];
    let packet: Buffer;
    switch (kind) {
      case 'random':
        packet = Buffer.from(Array.from({ length: int(600) }, () => int(256)));
        break;
      case 'bit-flips':
      case 'truncated':
      case 'appended':
      case 'section-counts':
      case 'opcode':
      case 'response':
      case 'long-labels': {
        // The matching class of dnsFuzzPackets.
        const want = { 'bit-flips': 1, truncated: 2, appended: 3, 'section-counts': 5, opcode: 6, response: 7, 'long-labels': 8 }[kind];
        packet = packetOfClass(want, Math.imul(seed, 2654435761) + Math.imul(i, 40503), names);
        break;
      }
      case 'pointer-loop': {
        packet = query(pick(names), pick(TYPES));
        const at = 12 + int(Math.max(1, packet.length - 17));
        const target = [at, 12, int(at + 1)][int(3)];
        packet.writeUInt16BE(0xc000 | target, at);
        if (rnd() < 0.3) packet.writeUInt16BE(0xc000 | at, 12); // two pointers at each other
        break;
      }
      case 'oversized': {
        if (rnd() < 0.5) {
          packet = query(pick(names), pick(TYPES), int(65536), Buffer.alloc(1000 + int(63_000)));
        } else {
          packet = Buffer.alloc(4000 + int(61_000));
          for (let b = 0; b < packet.length; b += 1 + int(64)) packet[b] = int(256);
          packet[2] &= 0x7f;
        }
        break;
      }
      case 'edns-size':
        packet = rnd() < 0.15 ? query(pick(names), pick(['PTR', 'SRV', 'ANY'] as dnsPacket.RecordType[])) : query(pick(names), pick(['PTR', 'SRV', 'TXT'] as const), rnd() < 0.8 ? pick(sizes) : int(65536));
        break;
      case 'outside-zone':
        packet = query(pick(outside), pick(TYPES), rnd() < 0.5 ? 4096 : undefined);
        packet[2] |= 0x01; // RD: asking for recursion, which an authoritative-only server refuses
        break;
    }
    yield { kind, packet: packet.length > maxBytes ? packet.subarray(0, maxBytes) : packet };
  }
}

/** A packet of one dnsFuzzPackets class (its switch index), from the first seed at or after `start` whose first packet has it. */
function packetOfClass(want: number, start: number, names: string[]): Buffer {
  // dnsFuzzPackets' first draw for a packet is its class.
  for (let s = start >>> 0; ; s = (s + 1) >>> 0) {
    if (Math.floor(prng(s)() * 10) === want) return dnsFuzzPackets(s, 1, names).next().value as Buffer;
  }
}
