import {
  ATTR,
  bindingError,
  bindingRequest,
  bindingSuccess,
  crc32,
  encodeMessage,
  FingerprintMismatchError,
  isStun,
  MalformedAttributeError,
  NotStunError,
  parseMessage,
  StunEncodeError,
  UnknownComprehensionRequiredError,
} from './index';

const TX = Uint8Array.from([0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae]);
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 5769 section 2.2 "Sample IPv4 Response" and 2.3 "Sample IPv6 Response".
const RFC5769_IPV4 = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);
const RFC5769_IPV6 = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);

describe('stun: RFC 5769 known answers', () => {
  it.each([
    ['IPv4', RFC5769_IPV4, '192.0.2.1'],
    ['IPv6', RFC5769_IPV6, '2001:db8:1234:5678:11:2233:4455:6677'],
  ])('decodes the sample %s response', (_name, bytes, ip) => {
    const m = parseMessage(bytes);
    expect(m.class).toBe('success');
    expect(m.method).toBe(0x001);
    expect(m.transactionId).toEqual(TX);
    expect(m.xorMappedAddress).toEqual({ ip, port: 32853 });
    expect(m.software).toBe('test vector');
    expect(m.fingerprintOk).toBe(true);
    expect(m.attributes.map((a) => a.type)).toEqual([ATTR.SOFTWARE, ATTR.XOR_MAPPED_ADDRESS, ATTR.MESSAGE_INTEGRITY, ATTR.FINGERPRINT]);
    expect(isStun(bytes)).toBe(true);
  });

  it('computes the IEEE CRC-32 check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('stun: builders round-trip through the parser', () => {
  it('encodes a bare Binding request as the 20-byte header', () => {
    expect(Buffer.from(bindingRequest(TX)).toString('hex')).toBe('000100002112a442b7e7a701bc34d686fa87dfae');
  });

  it.each([
    [{}, undefined],
    [{ changeIp: true }, { changeIp: true, changePort: false }],
    [{ changePort: true }, { changeIp: false, changePort: true }],
    [{ changeIp: true, changePort: true, software: 'wgmesh 1.0', fingerprint: true }, { changeIp: true, changePort: true }],
  ])('Binding request %p', (opts, change) => {
    const bytes = bindingRequest(TX, opts);
    expect(bytes.length % 4).toBe(0);
    const m = parseMessage(bytes);
    expect(m.class).toBe('request');
    expect(m.method).toBe(1);
    expect(m.transactionId).toEqual(TX);
    expect(m.changeRequest).toEqual(change);
    expect(m.software).toBe((opts as { software?: string }).software);
    expect(m.fingerprintOk).toBe(!!(opts as { fingerprint?: boolean }).fingerprint);
  });

  it.each([
    ['IPv4', { ip: '198.51.100.7', port: 51820 }, { ip: '10.0.0.1', port: 3478 }, { ip: '203.0.113.9', port: 3479 }],
    ['IPv6', { ip: '2001:db8::1', port: 1 }, { ip: 'fd00::7', port: 65535 }, { ip: '2001:db8:ffff::2', port: 3479 }],
    ['mixed', { ip: '::ffff:c000:201', port: 0 }, { ip: '192.0.2.9', port: 3478 }, { ip: '2001:db8::9', port: 3479 }],
  ])('Binding success (%s)', (_name, xorMapped, responseOrigin, otherAddress) => {
    const full = parseMessage(bindingSuccess(TX, { xorMapped, mapped: xorMapped, responseOrigin, otherAddress, software: 'Ünïcode ✓', fingerprint: true }));
    expect(full).toMatchObject({ class: 'success', method: 1, xorMappedAddress: xorMapped, mappedAddress: xorMapped, responseOrigin, otherAddress, software: 'Ünïcode ✓', fingerprintOk: true });
    const bare = parseMessage(bindingSuccess(TX, { xorMapped }));
    expect(bare.xorMappedAddress).toEqual(xorMapped);
    expect(bare.mappedAddress).toBeUndefined();
    expect(bare.fingerprintOk).toBe(false);
  });

  it('canonicalises addresses through netaddr', () => {
    const m = parseMessage(bindingSuccess(TX, { xorMapped: { ip: '2001:DB8:0:0::1', port: 9 } }));
    expect(m.xorMappedAddress).toEqual({ ip: '2001:db8::1', port: 9 });
  });

  it.each([
    [400, 'Bad Request', undefined],
    [420, 'Unknown Attribute', [0x0024, 0x7fff, 0x0002]],
    [699, '', [0x0001]],
    [300, 'Try Alternate', []],
  ])('Binding error %d', (code, reason, unknownAttributes) => {
    const m = parseMessage(bindingError(TX, code, reason, { unknownAttributes, software: 's', fingerprint: true }));
    expect(m.class).toBe('error');
    expect(m.errorCode).toEqual({ code, reason });
    expect(m.unknownAttributes).toEqual(unknownAttributes);
    expect(m.fingerprintOk).toBe(true);
  });

  it('classes and methods use the interleaved type bits', () => {
    for (const cls of ['request', 'indication', 'success', 'error'] as const) {
      for (const method of [0x000, 0x001, 0x00f, 0x070, 0xf80, 0xfff]) {
        const m = parseMessage(encodeMessage({ class: cls, method, transactionId: TX }));
        expect([m.class, m.method]).toEqual([cls, method]);
      }
    }
    expect(bindingSuccess(TX, { xorMapped: { ip: '192.0.2.1', port: 1 } }).subarray(0, 2)).toEqual(Uint8Array.of(0x01, 0x01));
    expect(bindingError(TX, 400, 'x').subarray(0, 2)).toEqual(Uint8Array.of(0x01, 0x11));
  });

  it('keeps the first of repeated attributes and ignores those after MESSAGE-INTEGRITY', () => {
    const soft = (s: string) => ({ type: ATTR.SOFTWARE, value: new TextEncoder().encode(s) });
    const m = parseMessage(
      encodeMessage({ class: 'success', method: 1, transactionId: TX, attributes: [soft('first'), soft('second'), { type: ATTR.MESSAGE_INTEGRITY, value: new Uint8Array(20) }, { type: 0x0055, value: new Uint8Array(1) }], fingerprint: true }),
    );
    expect(m.software).toBe('first');
    expect(m.fingerprintOk).toBe(true);
  });

  it.each([
    ['a short transaction id', () => bindingRequest(new Uint8Array(11))],
    ['a bad address', () => bindingSuccess(TX, { xorMapped: { ip: 'example.com', port: 1 } })],
    ['a bad port', () => bindingSuccess(TX, { xorMapped: { ip: '192.0.2.1', port: 65536 } })],
    ['a code below 300', () => bindingError(TX, 299, 'x')],
    ['a code above 699', () => bindingError(TX, 700, 'x')],
    ['an over-long reason', () => bindingError(TX, 400, 'x'.repeat(128))],
    ['an over-long SOFTWARE', () => bindingRequest(TX, { software: 'é'.repeat(128) })],
  ])('refuses to build with %s', (_name, build) => expect(build).toThrow(StunEncodeError));
});

describe('stun: named errors', () => {
  const valid = () => bindingRequest(TX, { software: 'abc', fingerprint: true });
  const withAttr = (type: number, value: Uint8Array, fingerprint = false) => encodeMessage({ class: 'success', method: 1, transactionId: TX, attributes: [{ type, value }], fingerprint });
  const mutate = (f: (b: Uint8Array) => void) => {
    const b = valid();
    f(b);
    return b;
  };

  it.each([
    ['empty input', new Uint8Array(0)],
    ['19 bytes', valid().subarray(0, 19)],
    ['top bits set (an RTP/WireGuard-looking packet)', mutate((b) => (b[0] |= 0x80))],
    ['a wrong cookie', mutate((b) => (b[7] ^= 1))],
    ['a length not a multiple of 4', mutate((b) => (b[3] += 2))],
    ['a length beyond the datagram', mutate((b) => (b[3] += 4))],
    ['trailing bytes after the message', Uint8Array.from([...valid(), 0, 0, 0, 0])],
    ['a WireGuard handshake initiation', Uint8Array.from([1, 0, 0, 0, ...new Uint8Array(144)])],
  ])('NotStunError for %s', (_name, bytes) => {
    expect(() => parseMessage(bytes)).toThrow(NotStunError);
    expect(isStun(bytes)).toBe(false);
  });

  it.each([
    ['an attribute running past the end', () => mutate((b) => (b[22 + 1] = 200))],
    ['an IPv4 XOR-MAPPED-ADDRESS of 7 bytes', () => withAttr(ATTR.XOR_MAPPED_ADDRESS, Uint8Array.of(0, 1, 0, 0, 1, 2, 3))],
    ['an IPv6 MAPPED-ADDRESS of 8 bytes', () => withAttr(ATTR.MAPPED_ADDRESS, Uint8Array.of(0, 2, 0, 0, 1, 2, 3, 4))],
    ['address family 3', () => withAttr(ATTR.OTHER_ADDRESS, Uint8Array.of(0, 3, 0, 0, 1, 2, 3, 4))],
    ['a 2-byte RESPONSE-ORIGIN', () => withAttr(ATTR.RESPONSE_ORIGIN, Uint8Array.of(0, 1))],
    ['ERROR-CODE class 2', () => withAttr(ATTR.ERROR_CODE, Uint8Array.of(0, 0, 2, 0))],
    ['ERROR-CODE number 100', () => withAttr(ATTR.ERROR_CODE, Uint8Array.of(0, 0, 4, 100))],
    ['ERROR-CODE of 3 bytes', () => withAttr(ATTR.ERROR_CODE, Uint8Array.of(0, 0, 4))],
    ['CHANGE-REQUEST of 8 bytes', () => withAttr(ATTR.CHANGE_REQUEST, new Uint8Array(8))],
    ['UNKNOWN-ATTRIBUTES of odd length', () => withAttr(ATTR.UNKNOWN_ATTRIBUTES, new Uint8Array(3))],
    ['SOFTWARE that is not UTF-8', () => withAttr(ATTR.SOFTWARE, Uint8Array.of(0xff, 0xfe))],
    ['FINGERPRINT of 8 bytes', () => withAttr(ATTR.FINGERPRINT, new Uint8Array(8))],
    ['FINGERPRINT not last', () => encodeMessage({ class: 'request', method: 1, transactionId: TX, attributes: [{ type: ATTR.FINGERPRINT, value: new Uint8Array(4) }, { type: ATTR.SOFTWARE, value: new Uint8Array(0) }] })],
  ])('MalformedAttributeError for %s', (_name, build) => expect(() => parseMessage(build())).toThrow(MalformedAttributeError));

  it('FingerprintMismatchError when a byte before FINGERPRINT changes, or the fingerprint itself', () => {
    const body = mutate((b) => (b[24] ^= 0x20)); // 'abc' -> 'Abc'
    expect(() => parseMessage(body)).toThrow(FingerprintMismatchError);
    const fp = mutate((b) => (b[b.length - 1] ^= 1));
    expect(() => parseMessage(fp)).toThrow(FingerprintMismatchError);
  });

  it('UnknownComprehensionRequiredError lists the unknown types, and the answer is a 420', () => {
    const req = encodeMessage({
      class: 'request',
      method: 1,
      transactionId: TX,
      attributes: [
        { type: 0x0024, value: new Uint8Array(4) }, // PRIORITY (ICE): not ours
        { type: 0x8029, value: new Uint8Array(8) }, // ICE-CONTROLLED: comprehension-optional, ignored
        { type: 0x7fff, value: new Uint8Array(0) },
        { type: 0x0024, value: new Uint8Array(4) },
      ],
      fingerprint: true,
    });
    let err: unknown;
    try {
      parseMessage(req);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownComprehensionRequiredError);
    const u = err as UnknownComprehensionRequiredError;
    expect(u.types).toEqual([0x0024, 0x7fff]);
    expect(u.isRequest).toBe(true);
    expect(u.transactionId).toEqual(TX);
    const answer = parseMessage(bindingError(u.transactionId, 420, 'Unknown Attribute', { unknownAttributes: u.types }));
    expect(answer.errorCode?.code).toBe(420);
    expect(answer.unknownAttributes).toEqual([0x0024, 0x7fff]);
  });

  it('parses a view into a larger buffer (byteOffset != 0)', () => {
    const msg = bindingSuccess(TX, { xorMapped: { ip: '2001:db8::5', port: 5 }, fingerprint: true });
    const big = new Uint8Array(msg.length + 7);
    big.set(msg, 3);
    expect(parseMessage(big.subarray(3, 3 + msg.length)).xorMappedAddress).toEqual({ ip: '2001:db8::5', port: 5 });
  });
});
