import { canonicalCidr, canonicalIp, cidrContains, formatEndpoint, isLoopback, isSpecialPurpose, parseCidr, parseEndpoint, parseIp } from './index';

describe('netaddr', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1:0:0:0', 'fe80::1:0:0:0'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ])('canonicalises %s', (input, want) => expect(canonicalIp(input)).toBe(want));

  it.each(['', '1.2.3', '256.0.0.1', 'fe80::1%eth0', '1::2::3', 'example.com'])('rejects address %p', (bad) =>
    expect(() => parseIp(bad)).toThrow(/not an IPv4 or IPv6 address/),
  );

  it.each([
    ['10.0.0.7/24', '10.0.0.0/24'],
    ['10.1.2.3', '10.1.2.3/32'],
    ['fd00::1', 'fd00::1/128'],
    ['fd00:1:2:3::/48', 'fd00:1:2::/48'],
    ['0.0.0.0/0', '0.0.0.0/0'],
  ])('canonicalises prefix %s', (input, want) => expect(canonicalCidr(input)).toBe(want));

  it.each(['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', 'fd00::/129', '10.0.0.0/1.5'])('rejects prefix %p', (bad) =>
    expect(() => parseCidr(bad)).toThrow(),
  );

  it('tests containment by family and prefix', () => {
    expect(cidrContains(parseCidr('10.10.0.0/16'), parseIp('10.10.255.1'))).toBe(true);
    expect(cidrContains(parseCidr('10.10.0.0/16'), parseIp('10.11.0.1'))).toBe(false);
    expect(cidrContains(parseCidr('10.0.0.0/9'), parseIp('10.127.0.1'))).toBe(true);
    expect(cidrContains(parseCidr('10.0.0.0/9'), parseIp('10.128.0.1'))).toBe(false);
    expect(cidrContains(parseCidr('fd00::/8'), parseIp('fd12::1'))).toBe(true);
    expect(cidrContains(parseCidr('0.0.0.0/0'), parseIp('::1'))).toBe(false);
  });

  it('parses and formats endpoints', () => {
    expect(formatEndpoint(parseEndpoint('198.51.100.7:51820'))).toBe('198.51.100.7:51820');
    expect(formatEndpoint(parseEndpoint('[2001:DB8::1]:1'))).toBe('[2001:db8::1]:1');
    expect(() => parseEndpoint('198.51.100.7')).toThrow(/not an endpoint/);
    expect(() => parseEndpoint('198.51.100.7:0')).toThrow(/1-65535/);
    expect(() => parseEndpoint('198.51.100.7:65536')).toThrow(/1-65535/);
    expect(() => parseEndpoint('2001:db8::1:51820')).toThrow(/not an endpoint/);
  });

  it('flags special-purpose addresses', () => {
    for (const a of ['127.0.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '169.254.1.1', '::', '::1', 'ff02::1', 'fe80::1']) {
      expect(isSpecialPurpose(parseIp(a))).toBe(true);
    }
    for (const a of ['192.0.2.1', '10.0.0.1', '2001:db8::1']) expect(isSpecialPurpose(parseIp(a))).toBe(false);
  });

  it('tells loopback addresses (reachable from this host only) from the rest', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(parseIp(a))).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.99.0.1', '203.0.113.1', '::2', '::ffff:10.0.0.1', '2001:db8::1']) expect(isLoopback(parseIp(a))).toBe(false);
  });
});
