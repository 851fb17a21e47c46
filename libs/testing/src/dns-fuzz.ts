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
