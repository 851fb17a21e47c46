import { Redis } from 'ioredis';
import { AddressAllocator, AllocatorError, hostRange } from './allocator';
import { registryKeys } from './keys';
import { parseCidr } from '@wgmesh/netaddr';

const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const key = (n: number) => {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(n + 1, 0);
  return k.toString('base64');
};

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

describe('AddressAllocator (Redis)', () => {
  const redis = new Redis(REDIS);
  const others = Array.from({ length: 4 }, () => new Redis(REDIS));
  let mesh: string;
  let alloc: AddressAllocator;

  beforeEach(() => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
    alloc = new AddressAllocator(redis, mesh, '10.99.0.0/24', { reserved: ['10.99.0.1'] });
  });
  afterEach(async () => {
    await alloc.clear();
    const k = registryKeys(mesh);
    expect(await redis.exists(k.addressByKey, k.keyByAddress, k.addressMeta)).toBe(0);
  });
  afterAll(() => {
    redis.disconnect();
    others.forEach((c) => c.disconnect());
  });

  it('skips the network and reserved addresses, and gives a key the same address again', async () => {
    expect(await alloc.allocate(key(1))).toBe('10.99.0.2');
    expect(await alloc.allocate(key(2))).toBe('10.99.0.3');
    expect(await alloc.allocate(key(1))).toBe('10.99.0.2');
    expect(await alloc.lookup(key(2))).toBe('10.99.0.3');
    expect(await alloc.lookup(key(3))).toBeNull();
    expect(await alloc.release(key(1))).toBe('10.99.0.2');
    expect(await alloc.release(key(1))).toBeNull();
    expect(await alloc.allocate(key(3))).toBe('10.99.0.4'); // round robin: a freed address is reused last
  });

  it('gives 20 parallel enrolments from several clients 20 distinct addresses', async () => {
    const allocs = others.map((c) => new AddressAllocator(c, mesh, '10.99.0.0/24', { reserved: ['10.99.0.1'] }));
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => allocs[i % allocs.length].allocate(key(i))));
    expect(new Set(got).size).toBe(20);
    expect(got).not.toContain('10.99.0.1');
    expect(got).not.toContain('10.99.0.0');
    expect((await alloc.list()).size).toBe(20);
  });

  it('fills a small CIDR exactly, never using network, broadcast or reserved', async () => {
    const small = new AddressAllocator(redis, mesh, '10.99.0.0/29', { reserved: ['10.99.0.1'] });
    const got = await Promise.all(Array.from({ length: 5 }, (_, i) => small.allocate(key(i))));
    expect(got.sort()).toEqual(['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6']);
    await expect(small.allocate(key(99))).rejects.toMatchObject({ code: 'full' });
    const freed = await small.release(key(2));
    expect(await small.allocate(key(99))).toBe(freed);
  });

  it('records addresses of adopted peers and refuses a changed CIDR', async () => {
    expect(await alloc.claim(key(1), '10.99.0.2')).toBe('10.99.0.2');
    await expect(alloc.claim(key(2), '10.99.0.2')).rejects.toMatchObject({ code: 'taken' });
    expect(await alloc.allocate(key(2))).toBe('10.99.0.3');
    await expect(alloc.claim(key(3), '10.100.0.9')).rejects.toThrow(AllocatorError);
    const moved = new AddressAllocator(redis, mesh, '10.98.0.0/24');
    await expect(moved.allocate(key(4))).rejects.toMatchObject({ code: 'cidr_changed' });
  });

  it('allocates from IPv6 prefixes', async () => {
    const v6 = new AddressAllocator(redis, mesh, 'fd99::/64', { reserved: ['fd99::1'] });
    expect(await v6.allocate(key(1))).toBe('fd99::2');
    expect(v6.addressAt(2 ** 32)).toBe('fd99::1:0:0');
    expect(v6.offsetOf('fd99::1:0:0')).toBe(2 ** 32);
  });
});
