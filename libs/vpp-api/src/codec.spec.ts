import { buildDefinitions, VppCodec, VppDecodeError, VppEncodeError } from './index';

// A small API in the .api.json format, covering every kind of field.
const HDR = [
  ['u16', '_vl_msg_id'],
  ['u32', 'client_index'],
  ['u32', 'context'],
];
const API = {
  types: [
    ['address', ['vl_api_address_family_t', 'af'], ['vl_api_address_union_t', 'un']],
    ['prefix', ['vl_api_address_t', 'address'], ['u8', 'len']],
    ['ip4_prefix', ['vl_api_ip4_address_t', 'address'], ['u8', 'len']],
    ['ip6_prefix', ['vl_api_ip6_address_t', 'address'], ['u8', 'len']],
    ['pair', ['u8', 'a'], ['u16', 'b', { default: 7 }]],
    ['named', ['u32', 'id'], ['string', 'name', 0]],
  ],
  unions: [
    ['address_union', ['vl_api_ip4_address_t', 'ip4'], ['vl_api_ip6_address_t', 'ip6']],
    ['num_union', ['u8', 'small'], ['u32', 'big']],
  ],
  enums: [
    ['address_family', ['ADDRESS_IP4', 0], ['ADDRESS_IP6', 1], { enumtype: 'u8' }],
    ['color', ['RED', 1], ['GREEN', 2], { enumtype: 'u16' }],
    ['wide', ['ONE', 1]],
  ],
  enumflags: [['bits', ['BIT_A', 1], ['BIT_B', 4], { enumtype: 'u8' }]],
  aliases: {
    ip4_address: { type: 'u8', length: 4 },
    ip6_address: { type: 'u8', length: 16 },
    address_with_prefix: { type: 'vl_api_prefix_t' },
    mac_address: { type: 'u8', length: 6 },
    interface_index: { type: 'u32' },
  },
  messages: [
    ['ints', ...HDR, ['u8', 'u8'], ['i8', 'i8'], ['u16', 'u16'], ['i16', 'i16'], ['u32', 'u32'], ['i32', 'i32'], ['u64', 'u64'], ['i64', 'i64'], ['f64', 'f64'], ['bool', 'flag'], { crc: '0x00000001' }],
    ['strs', ...HDR, ['string', 'fixed', 8], ['string', 'var', 0], ['u8', 'raw', 4], { crc: '0x00000002' }],
    ['arrays', ...HDR, ['vl_api_pair_t', 'pairs', 3], ['u8', 'n'], ['vl_api_pair_t', 'list', 0, 'n'], ['u16', 'nb'], ['u8', 'blob', 0, 'nb'], { crc: '0x00000003' }],
    ['addrs', ...HDR, ['vl_api_address_t', 'a'], ['vl_api_prefix_t', 'p'], ['vl_api_address_with_prefix_t', 'awp'], ['vl_api_ip4_prefix_t', 'p4'], ['vl_api_ip6_prefix_t', 'p6'], ['vl_api_mac_address_t', 'mac'], { crc: '0x00000004' }],
    ['enums', ...HDR, ['vl_api_color_t', 'color'], ['vl_api_bits_t', 'bits'], ['vl_api_wide_t', 'wide'], ['vl_api_interface_index_t', 'sw_if_index', { default: 4294967295 }], ['bool', 'on', { default: 'true' }], { crc: '0x00000005' }],
    ['unions', ...HDR, ['vl_api_address_union_t', 'u'], ['vl_api_num_union_t', 'n'], { crc: '0x00000006' }],
    ['nested', ...HDR, ['vl_api_named_t', 'named'], ['u32', 'after'], { crc: '0x00000007' }],
    ['trailing', ...HDR, ['u16', 'values', 0], { crc: '0x00000008' }],
  ],
};

const defs = buildDefinitions([{ file: 'test.api.json', json: API }]);
const codec = new VppCodec(defs);
const hex = (b: Buffer) => b.toString('hex');
const BASE = '0000' + '00000000' + '00000000'; // _vl_msg_id, client_index, context
const body = (h: string) => Buffer.from(BASE + h, 'hex');
const roundTrip = (name: string, fields: Record<string, unknown>) => codec.decode(name, codec.encode(name, fields));
const encodeError = (name: string, fields: Record<string, unknown>): VppEncodeError => {
  try {
    codec.encode(name, fields);
  } catch (e) {
    if (e instanceof VppEncodeError) return e;
    throw e;
  }
  throw new Error('expected a VppEncodeError');
};
const decodeError = (name: string, b: Buffer): VppDecodeError => {
  try {
    codec.decode(name, b);
  } catch (e) {
    if (e instanceof VppDecodeError) return e;
    throw e;
  }
  throw new Error('expected a VppDecodeError');
};

describe('integers, f64, bool', () => {
  it('are big-endian and fill the header fields', () => {
    const b = codec.encode('ints', { _vl_msg_id: 0x1234, client_index: 0x80000001, context: 7, u8: 255, i8: -1, u16: 0xabcd, i16: -2, u32: 0xdeadbeef, i32: -3, u64: 5, i64: -4, f64: 1.5, flag: true });
    expect(hex(b)).toBe('1234' + '80000001' + '00000007' + 'ff' + 'ff' + 'abcd' + 'fffe' + 'deadbeef' + 'fffffffd' + '0000000000000005' + 'fffffffffffffffc' + '3ff8000000000000' + '01');
  });

  it('give 64-bit values as numbers when safe, bigints otherwise', () => {
    expect(roundTrip('ints', { u64: 2 ** 53 - 1, i64: -(2 ** 53 - 1) })).toMatchObject({ u64: 2 ** 53 - 1, i64: -(2 ** 53 - 1) });
    expect(roundTrip('ints', { u64: 2n ** 64n - 1n, i64: -(2n ** 63n) })).toMatchObject({ u64: 2n ** 64n - 1n, i64: -(2n ** 63n) });
    expect(roundTrip('ints', { u64: 10n })).toMatchObject({ u64: 10 });
  });

  it('default to zero / false, and refuse out-of-range or non-integer values with the field path', () => {
    expect(roundTrip('ints', {})).toMatchObject({ u8: 0, i32: 0, u64: 0, f64: 0, flag: false });
    expect(encodeError('ints', { u8: 256 }).message).toBe('cannot encode ints.u8: 256 is out of range for u8 (0..255)');
    expect(encodeError('ints', { i16: -32769 }).path).toBe('i16');
    expect(encodeError('ints', { u32: 1.5 }).message).toMatch(/expected an integer for u32/);
    expect(encodeError('ints', { u32: '5' }).message).toMatch(/expected an integer for u32, got "5"/);
    expect(encodeError('ints', { u64: 2n ** 64n }).message).toMatch(/out of range for u64/);
    expect(encodeError('ints', { u64: 2 ** 60 }).message).toMatch(/number or bigint/);
    expect(encodeError('ints', { flag: 'yes' }).message).toMatch(/expected a boolean/);
    expect(encodeError('ints', { f64: '1' }).message).toMatch(/expected a number for f64/);
  });

  it('decode any non-zero bool byte as true', () => {
    const b = codec.encode('ints', {});
    b[b.length - 1] = 7;
    expect(codec.decode('ints', b).flag).toBe(true);
  });
});

describe('strings and bytes', () => {
  it('string[N] is NUL-padded and decoded up to the first NUL; string[0] is u32 length + bytes', () => {
    const b = codec.encode('strs', { fixed: 'abc', var: 'héllo', raw: Buffer.from([1, 2]) });
    expect(hex(b.subarray(10))).toBe('6162630000000000' + '00000006' + Buffer.from('héllo').toString('hex') + '01020000');
    expect(roundTrip('strs', { fixed: 'abc', var: 'héllo' })).toMatchObject({ fixed: 'abc', var: 'héllo' });
    const garbage = Buffer.from(b);
    garbage.write('abc\0xyz', 10, 'latin1');
    expect(codec.decode('strs', garbage).fixed).toBe('abc');
  });

  it('keeps room for a NUL in string[N] and refuses embedded NULs', () => {
    expect(roundTrip('strs', { fixed: '1234567' }).fixed).toBe('1234567');
    expect(encodeError('strs', { fixed: '12345678' }).message).toBe('cannot encode strs.fixed: 8 bytes is too long for string[8] (at most 7)');
    expect(encodeError('strs', { var: 'a\0b' }).message).toMatch(/cannot contain NUL/);
  });

  it('u8[N] decodes to a Buffer and encodes from a Buffer, a byte array or hex, zero-padded', () => {
    expect(codec.decode('strs', codec.encode('strs', { raw: 'a0b1' })).raw).toEqual(Buffer.from('a0b10000', 'hex'));
    expect(codec.decode('strs', codec.encode('strs', { raw: [1, 2, 3, 4] })).raw).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(codec.decode('strs', codec.encode('strs', { raw: new Uint8Array([9]) })).raw).toEqual(Buffer.from([9, 0, 0, 0]));
    expect(encodeError('strs', { raw: Buffer.alloc(5) }).message).toMatch(/5 bytes is too long for u8\[4\]/);
    expect(encodeError('strs', { raw: 'xyz' }).message).toMatch(/expected bytes/);
  });

  it('a decoded Buffer is a copy, not a view of the frame', () => {
    const b = codec.encode('strs', { raw: '01020304' });
    const raw = codec.decode('strs', b).raw as Buffer;
    b.fill(0);
    expect(hex(raw)).toBe('01020304');
  });
});

describe('arrays', () => {
  it('fixed arrays of types hold N elements; missing ones are zero (with defaults)', () => {
    const d = roundTrip('arrays', { pairs: [{ a: 1 }] });
    expect(d.pairs).toEqual([
      { a: 1, b: 7 },
      { a: 0, b: 7 },
      { a: 0, b: 7 },
    ]);
    expect(encodeError('arrays', { pairs: [{}, {}, {}, {}] }).message).toMatch(/4 elements is more than the 3/);
  });

  it('fills count fields from the array length, and refuses a count that disagrees', () => {
    const b = codec.encode('arrays', { list: [{ a: 1, b: 2 }, { a: 3 }], blob: Buffer.from('abc') });
    const d = codec.decode('arrays', b);
    expect(d).toMatchObject({ n: 2, list: [{ a: 1, b: 2 }, { a: 3, b: 7 }], nb: 3, blob: Buffer.from('abc') });
    expect(codec.encode('arrays', { n: 2, list: [{}, {}] }).length).toBe(b.length - 3);
    expect(encodeError('arrays', { n: 3, list: [{}] }).message).toBe('cannot encode arrays.n: is number 3 but list has 1 element(s) (leave it out: it is filled in)');
    expect(encodeError('arrays', { list: new Array(256).fill({}) }).message).toMatch(/arrays.n: 256 is out of range for u8/);
  });

  it('refuses a count beyond the body before allocating', () => {
    const b = codec.encode('arrays', { list: [{}] });
    const n = 10 + 9; // header + 3 pairs
    b[n] = 200;
    expect(decodeError('arrays', b).message).toMatch(/^cannot decode arrays.list: count 200 needs at least 600 bytes, only \d+ left/);
    const blob = codec.encode('arrays', { blob: 'aabb' });
    blob.writeUInt16BE(0xffff, blob.length - 4);
    expect(decodeError('arrays', blob).path).toBe('blob');
  });

  it('a trailing array without count takes the rest of the body', () => {
    const b = codec.encode('trailing', { values: [1, 2, 3] });
    expect(hex(b.subarray(10))).toBe('000100020003');
    expect(codec.decode('trailing', b).values).toEqual([1, 2, 3]);
    expect(decodeError('trailing', Buffer.concat([b, Buffer.from([1])])).message).toMatch(/7 trailing byte\(s\) are not a whole number/);
  });
});

describe('addresses and prefixes', () => {
  it('use the text forms of the capture', () => {
    const fields = { a: '2001:db8::2', p: '10.100.0.2/32', awp: 'fd00:100::3/128', p4: '10.0.0.0/8', p6: 'fe80::/10', mac: Buffer.from('020000000001', 'hex') };
    const b = codec.encode('addrs', fields);
    expect(hex(b.subarray(10, 10 + 17))).toBe('01' + '20010db8000000000000000000000002');
    expect(hex(b.subarray(27, 27 + 18))).toBe('00' + '0a640002' + '0'.repeat(24) + '20');
    expect(codec.decode('addrs', b)).toMatchObject(fields);
  });

  it('keep the address as sent (not masked), accept a bare address as a host prefix', () => {
    expect(roundTrip('addrs', { p: '10.100.0.1/24', awp: '10.0.0.7', p6: '2001:DB8::1' })).toMatchObject({ p: '10.100.0.1/24', awp: '10.0.0.7/32', p6: '2001:db8::1/128' });
    expect(roundTrip('addrs', {})).toMatchObject({ a: '0.0.0.0', p: '0.0.0.0/0', p4: '0.0.0.0/0', p6: '::/0' });
  });

  it('refuse bad text with the field path', () => {
    expect(encodeError('addrs', { a: '10.0.0.256' }).message).toBe('cannot encode addrs.a: "10.0.0.256" is not an IPv4 or IPv6 address');
    expect(encodeError('addrs', { p: '10.0.0.0/33' }).message).toMatch(/addrs.p: "10.0.0.0\/33" has an invalid prefix length \(0-32\)/);
    expect(encodeError('addrs', { p4: '::1/128' }).message).toMatch(/expected an IPv4 address/);
    expect(encodeError('addrs', { a: 17 }).message).toMatch(/expected an IP address string/);
  });

  it('refuse an address family that is neither IPv4 nor IPv6 on decode', () => {
    const b = codec.encode('addrs', {});
    b[10 + 17] = 2; // p.address.af
    expect(decodeError('addrs', b).message).toBe('cannot decode addrs.p.address.af: address family 2 is neither 0 (IPv4) nor 1 (IPv6)');
  });
});

describe('enums and defaults', () => {
  it('are sized by enumtype (u32 when undeclared) and take numbers or symbols', () => {
    const b = codec.encode('enums', { color: 'GREEN', bits: ['BIT_A', 'BIT_B'], wide: 1 });
    expect(hex(b.subarray(10))).toBe('0002' + '05' + '00000001' + 'ffffffff' + '01');
    expect(codec.decode('enums', b)).toMatchObject({ color: 2, bits: 5, wide: 1, sw_if_index: 4294967295, on: true });
    expect(encodeError('enums', { color: 'BLUE' }).message).toMatch(/"BLUE" is not a value of enum color \(RED, GREEN\)/);
    expect(encodeError('enums', { bits: 256 }).message).toMatch(/out of range for u8/);
  });

  it('keep unknown values as numbers on decode', () => {
    const b = codec.encode('enums', {});
    b.writeUInt16BE(99, 10);
    expect(codec.decode('enums', b).color).toBe(99);
  });

  it('apply declared defaults to absent fields only', () => {
    expect(codec.decode('enums', codec.encode('enums', { sw_if_index: 3, on: false }))).toMatchObject({ sw_if_index: 3, on: false });
  });
});

describe('unions', () => {
  it('decode every member from the same bytes', () => {
    expect(roundTrip('unions', { u: { ip4: '10.100.0.2' }, n: { big: 0x01020304 } })).toMatchObject({
      u: { ip4: '10.100.0.2', ip6: 'a64:2::' },
      n: { small: 1, big: 0x01020304 },
    });
  });

  it('encode one member, or several that agree, and refuse others', () => {
    const one = codec.encode('unions', { u: { ip6: 'a64:2::' } });
    expect(codec.encode('unions', { u: { ip4: '10.100.0.2', ip6: 'a64:2::' } })).toEqual(one);
    expect(encodeError('unions', { u: { ip4: '10.0.0.1', ip6: '::1' } }).message).toMatch(/members ip4 and ip6 disagree/);
    expect(encodeError('unions', { u: { ip5: '1' } }).message).toMatch(/unions.u.ip5: not a member of this union \(ip4, ip6\)/);
    expect(encodeError('unions', { u: '10.0.0.1' }).message).toMatch(/expected an object with one of ip4, ip6/);
  });
});

describe('messages', () => {
  it('refuse unknown fields (a typo must not silently send zero)', () => {
    expect(encodeError('ints', { u33: 1 }).message).toMatch(/^cannot encode ints.u33: unknown field \(known: _vl_msg_id, client_index, context, u8/);
    expect(encodeError('nested', { named: { id: 1, nam: 'x' } }).path).toBe('named.nam');
    expect(encodeError('nested', { named: 5 }).message).toMatch(/expected an object with fields id, name/);
  });

  it('decode strictly: truncated and oversized bodies are VppDecodeErrors', () => {
    const b = codec.encode('nested', { named: { id: 1, name: 'abc' }, after: 9 });
    expect(codec.decode('nested', b)).toMatchObject({ named: { id: 1, name: 'abc' }, after: 9 });
    expect(decodeError('nested', b.subarray(0, b.length - 1)).message).toMatch(/^cannot decode nested.after: needs 4 more byte\(s\) at offset 21, only 3 left/);
    expect(decodeError('nested', Buffer.concat([b, Buffer.alloc(2)])).message).toBe('cannot decode nested: 2 byte(s) left over after the last field (oversized body)');
    const huge = Buffer.from(b);
    huge.writeUInt32BE(0xffffffff, 14); // the string's length
    expect(decodeError('nested', huge).path).toBe('named.name');
  });

  it('grows the output buffer for big messages', () => {
    const list = Array.from({ length: 255 }, (_, i) => ({ a: i, b: i }));
    const b = codec.encode('arrays', { list, blob: Buffer.alloc(5000, 1) });
    expect(codec.decode('arrays', b)).toMatchObject({ n: 255, nb: 5000 });
  });

  it('reports the offset of context for error routing', () => {
    expect(codec.contextOffset('ints')).toBe(6);
    expect(body('').length).toBe(10);
  });
});
