import {
  entryFromDump,
  NextHopPool,
  nextHopFamily,
  overlapsNextHops,
  vppAllowedIps,
  approximateHandshake,
  canonicalPrefix,
  endpointFields,
  endpointText,
  RouteOwners,
  routeNextHop,
  sameAsWanted,
  VppPeerEntry,
  wantOf,
} from './vpp-model';

describe('vpp-model', () => {
  it.each([
    ['10.10.0.2', 51820, '10.10.0.2:51820'],
    ['2001:db8::2', 51821, '[2001:db8::2]:51821'],
    ['0.0.0.0', 0, null],
    ['0.0.0.0', 51820, null],
    ['10.10.0.2', 0, null],
    ['::', 51820, null],
  ])('endpointText(%s, %i) = %s', (address, port, text) => {
    expect(endpointText(address, port)).toBe(text);
  });

  it.each([
    ['198.51.100.7:51820', { endpoint: '198.51.100.7', port: 51820 }],
    ['[2001:db8::2]:51821', { endpoint: '2001:db8::2', port: 51821 }],
    ['[2001:DB8:0::2]:51821', { endpoint: '2001:db8::2', port: 51821 }],
    [null, { endpoint: '0.0.0.0', port: 0 }],
  ])('endpointFields(%s)', (endpoint, fields) => {
    expect(endpointFields(endpoint)).toEqual(fields);
  });

  it('refuses an endpoint that is not ip:port', () => {
    expect(() => endpointFields('example.com:51820')).toThrow();
    expect(() => endpointFields('198.51.100.7:0')).toThrow();
  });

  it.each([
    ['10.99.0.2/32', '10.99.0.2/32'],
    ['10.99.0.7/24', '10.99.0.0/24'],
    ['10.099.0.2/32', undefined],
    ['fd00::3/128', 'fd00::3/128'],
    ['FD00:0::3/128', 'fd00::3/128'],
  ])('canonicalPrefix(%s) = %s', (prefix, canonical) => {
    if (canonical === undefined) expect(() => canonicalPrefix(prefix)).toThrow();
    else expect(canonicalPrefix(prefix)).toBe(canonical);
  });

  it.each([
    ['10.99.0.2/32', '10.99.0.2'],
    ['10.99.0.0/16', '10.99.0.0'],
    ['fd00:99::3/128', 'fd00:99::3'],
    ['fd00:99::/64', 'fd00:99::'],
  ])('routeNextHop(%s) = %s', (prefix, nh) => {
    expect(routeNextHop(prefix)).toBe(nh);
  });

  it('approximates the latest handshake from when ESTABLISHED was first seen, in 120 s steps', () => {
    const step = 1_000_000 * 120;
    expect(approximateHandshake(undefined, step + 5)).toBe(0);
    expect(approximateHandshake(step + 10, step + 50)).toBe(step + 10);
    expect(approximateHandshake(step + 10, step + 130)).toBe(step + 120);
    expect(approximateHandshake(step + 10, step + 1000)).toBe(step + 960);
  });

  it('adds a route with its first owner, moves it when that owner goes, removes it with its last', () => {
    const o = new RouteOwners();
    expect(o.acquire('10.99.0.0/16', 'registry')).toBe(true);
    expect(o.acquire('10.99.0.0/16', '(device route)')).toBe(false);
    expect(o.acquire('10.99.0.0/16', 'other')).toBe(false);
    expect(o.release('10.99.0.0/16', 'other')).toBe('kept');
    expect(o.release('10.99.0.0/16', 'registry')).toBe('moved');
    expect(o.primary('10.99.0.0/16')).toBe('(device route)');
    expect(o.release('10.99.0.0/16', 'registry')).toBe('kept');
    expect(o.release('10.99.0.0/16', '(device route)')).toBe('removed');
    expect(o.has('10.99.0.0/16')).toBe(false);
  });

  it('hands out next hops one per peer from the never-routed blocks, reusing freed ones, and knows them in a dump', () => {
    const pool = new NextHopPool();
    expect([pool.take('v4'), pool.take('v4'), pool.take('v6')]).toEqual(['198.18.0.1', '198.18.0.2', '2001:2::1']);
    pool.release('v4', '198.18.0.1');
    expect(pool.take('v4')).toBe('198.18.0.1');
    pool.clear();
    pool.hold('v4', '198.18.1.0');
    pool.hold('v4', '198.18.0.1');
    expect([pool.take('v4'), pool.take('v4')]).toEqual(['198.18.0.2', '198.18.0.3']);
    for (let i = 0; i < 70_000; i++) pool.take('v4');
    expect(pool.take('v4')).toBe('198.19.17.117'); // index 70,005: past 198.18.255.255
    expect(nextHopFamily('198.18.0.7/32')).toBe('v4');
    expect(nextHopFamily('198.20.0.7/32')).toBeNull();
    expect(nextHopFamily('198.18.0.0/16')).toBeNull();
    expect(nextHopFamily('2001:2::9/128')).toBe('v6');
    expect(overlapsNextHops('198.18.4.0/24')).toBe(true);
    expect(overlapsNextHops('198.0.0.0/8')).toBe(true);
    expect(overlapsNextHops('10.99.0.0/16')).toBe(false);
  });

  it('splits VPP\'s allowed IPs into the peer\'s own and its next hops', () => {
    const dumped = { peerIndex: 3, publicKey: Buffer.alloc(32, 1), endpoint: '0.0.0.0', port: 0, persistentKeepalive: 0, tableId: 0, swIfIndex: 1, flags: 0, established: false, dead: false };
    expect(entryFromDump({ ...dumped, allowedIps: ['10.99.0.7/32', '198.18.0.9/32', '2001:2::4/128', 'fd00::7/128'] })).toMatchObject({ allowedIps: ['10.99.0.7/32', 'fd00::7/128'], nextHops: { v4: '198.18.0.9', v6: '2001:2::4' } });
    expect(entryFromDump({ ...dumped, allowedIps: ['198.18.0.9/32'] })).toMatchObject({ allowedIps: [], nextHops: { v4: '198.18.0.9' } });
    expect(vppAllowedIps(['10.99.0.7/32'], { v4: '198.18.0.9' })).toEqual(['10.99.0.7/32', '198.18.0.9/32']);
  });

  it('keeps the endpoint VPP has when the desired one is null, and compares allowed IPs as sets', () => {
    const have: VppPeerEntry = { peerIndex: 4, publicKey: 'k', endpoint: '203.0.113.9:4500', allowedIps: ['10.99.0.3/32', 'fd00::3/128'], persistentKeepalive: 25, nextHops: { v4: '198.18.0.1', v6: '2001:2::1' } };
    const same = wantOf({ publicKey: 'k', endpoint: null, allowedIps: ['fd00::3/128', '10.99.0.3/32'], persistentKeepalive: 25 }, have);
    expect(same.endpoint).toBe('203.0.113.9:4500');
    expect(sameAsWanted(have, same)).toBe(true);
    expect(sameAsWanted(have, { ...same, persistentKeepalive: 0 })).toBe(false);
    expect(sameAsWanted(have, { ...same, allowedIps: ['10.99.0.3/32'] })).toBe(false);
    expect(sameAsWanted(have, { ...same, endpoint: '203.0.113.9:4501' })).toBe(false);
  });
});
