import { parseCidr } from '@wgmesh/netaddr';
import { AddressError, AddressPlan, hostRange } from './address-plan';

describe('hostRange', () => {
  it.each([
    ['10.99.0.0/16', 1, 65534],
    ['10.99.0.0/30', 1, 2],
    ['10.99.0.0/31', 0, 2],
    ['10.99.0.1/32', 0, 1],
    ['fd00::/64', 1, 2 ** 32],
    ['fd00::/120', 1, 255],
  ])('%s', (cidr, first, count) => {
    expect(hostRange(parseCidr(cidr))).toEqual({ first, count });
  });
});

describe('AddressPlan', () => {
  it('maps offsets and addresses both ways, skipping network, broadcast and reserved', () => {
    const plan = new AddressPlan('10.99.0.0/29', ['10.99.0.1']);
    expect([0, 1, 2, 6, 7].map((o) => plan.allocatable(o))).toEqual([false, false, true, true, false]);
    expect(plan.addressAt(6)).toBe('10.99.0.6');
    expect(plan.offsetOf('10.99.0.6/32')).toBe(6);
    expect(plan.hostPrefix('10.99.0.6')).toBe('10.99.0.6/32');
    expect(() => plan.offsetOf('10.100.0.1')).toThrow(AddressError);
  });

  it('handles IPv6 prefixes beyond 32 bits of offset', () => {
    const v6 = new AddressPlan('fd99::/64', ['fd99::1']);
    expect(v6.addressAt(2 ** 32)).toBe('fd99::1:0:0');
    expect(v6.offsetOf('fd99::1:0:0')).toBe(2 ** 32);
    expect(v6.hostPrefix('fd99::2')).toBe('fd99::2/128');
    expect(v6.allocatable(1)).toBe(false);
  });
});
