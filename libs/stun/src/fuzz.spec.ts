import { prng } from '@wgmesh/testing';
import {
  ATTR,
  bindingError,
  bindingRequest,
  bindingSuccess,
  encodeMessage,
  FingerprintMismatchError,
  MalformedAttributeError,
  NotStunError,
  parseMessage,
  UnknownComprehensionRequiredError,
} from './index';

const SEED = 0x57a7;
const ITERATIONS = 50_000;
const NAMED = [NotStunError, MalformedAttributeError, UnknownComprehensionRequiredError, FingerprintMismatchError];
const TX = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

function corpus(): Uint8Array[] {
  const v4 = { ip: '198.51.100.7', port: 51820 };
  const v6 = { ip: '2001:db8::1', port: 3478 };
  return [
    bindingRequest(TX),
    bindingRequest(TX, { changeIp: true, changePort: true, software: 'wgmesh', fingerprint: true }),
    bindingSuccess(TX, { xorMapped: v4, mapped: v4, responseOrigin: v6, otherAddress: v4, software: 'ü', fingerprint: true }),
    bindingSuccess(TX, { xorMapped: v6, fingerprint: false }),
    bindingError(TX, 420, 'Unknown Attribute', { unknownAttributes: [0x24, 0x7fff, 3], fingerprint: true }),
    encodeMessage({ class: 'indication', method: 1, transactionId: TX, attributes: [{ type: ATTR.MESSAGE_INTEGRITY, value: new Uint8Array(20) }, { type: 0x0024, value: new Uint8Array(4) }], fingerprint: true }),
  ];
}

describe('fuzz: parseMessage() on hostile input', () => {
  it(`returns or throws a named error for ${ITERATIONS} random and mutated datagrams (seed ${SEED})`, () => {
    const rnd = prng(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    const seeds = corpus();
    const counts = { parsed: 0, NotStunError: 0, MalformedAttributeError: 0, UnknownComprehensionRequiredError: 0, FingerprintMismatchError: 0 };

    const next = (): Uint8Array => {
      const base = Uint8Array.from(seeds[int(seeds.length)]);
      const fixLength = (b: Uint8Array) => {
        if (b.length >= 20) new DataView(b.buffer, b.byteOffset).setUint16(2, (b.length - 20) & 0xffff);
        return b;
      };
      switch (int(8)) {
        case 0: // random bytes, sometimes with a STUN-looking header
          {
            const b = new Uint8Array(int(120));
            for (let i = 0; i < b.length; i++) b[i] = int(256);
            if (b.length >= 20 && rnd() < 0.7) {
              b.set([b[0] & 0x3f, b[1], 0, 0, 0x21, 0x12, 0xa4, 0x42], 0);
              fixLength(b.subarray(0, b.length - (b.length % 4)));
              return b.subarray(0, b.length - (b.length % 4));
            }
            return b;
          }
        case 1: // bit flips in the body (length stays right, so attributes are exercised)
          for (let n = 1 + int(6); n > 0; n--) base[Math.min(base.length - 1, 20 + int(Math.max(1, base.length - 20)))] ^= 1 << int(8);
          return base;
        case 2: // truncation
          return base.subarray(0, int(base.length + 1));
        case 3: // truncation to a multiple of 4, length field patched
          return fixLength(base.subarray(0, 20 + 4 * int((base.length - 20) / 4 + 1)));
        case 4: // an attribute length set to something random
          if (base.length > 24) new DataView(base.buffer).setUint16(22 + 4 * int((base.length - 24) / 4), rnd() < 0.5 ? int(40) : int(65536));
          return base;
        case 5: // random 4-byte-aligned garbage appended, length field patched
          {
            const extra = Array.from({ length: 4 * (1 + int(6)) }, () => int(256));
            return fixLength(Uint8Array.from([...base, ...extra]));
          }
        case 6: // random attribute type at an attribute boundary
          if (base.length > 24) new DataView(base.buffer).setUint16(20, int(65536));
          return base;
        default: // any single byte anywhere
          base[int(base.length)] = int(256);
          return base;
      }
    };

    for (let i = 0; i < ITERATIONS; i++) {
      const input = next();
      try {
        parseMessage(input);
        counts.parsed++;
      } catch (e) {
        if (!NAMED.some((cls) => e instanceof cls)) throw new Error(`case ${i} (${Buffer.from(input).toString('hex')}): ${String(e)}`);
        counts[(e as Error).name as keyof typeof counts]++;
      }
    }
    // Every outcome is reached, so the fuzzer is exercising all paths, not just the header check.
    for (const [outcome, n] of Object.entries(counts)) expect([outcome, n > 100]).toEqual([outcome, true]);
  });
});
