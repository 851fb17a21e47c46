import { parseIp } from '@wgmesh/netaddr';
import { PeerIndex } from './peer-index';
import { b32, testKey, testPeer } from './testkit';

const at = (index: PeerIndex, ip: string) => index.lookupAddress(parseIp(ip));

describe('PeerIndex', () => {
  it('upserts, gets, lists and removes peers by base64 key, keyed by base32 name', () => {
    const index = new PeerIndex();
    index.upsert(testPeer(1, '192.0.2.1:51820', ['10.99.0.1/32']));
    index.upsert(testPeer(2, null, ['10.99.0.2/32']));
    expect(index.size).toBe(2);
    expect(index.get(testKey(1))?.endpoint).toBe('192.0.2.1:51820');
    expect(index.byBase32(b32(testKey(2)))?.endpoint).toBeNull();
    expect(index.all().map((p) => p.publicKey)).toEqual([testKey(1), testKey(2)]);
    expect(index.remove(testKey(1))).toBe(true);
    expect(index.remove(testKey(1))).toBe(false);
    expect(index.get(testKey(1))).toBeUndefined();
    expect(at(index, '10.99.0.1')).toBeUndefined();
  });

  it('keeps a peer in place when it is updated', () => {
    const index = new PeerIndex();
    index.replaceAll([testPeer(1, '192.0.2.1:1'), testPeer(2, '192.0.2.2:2')]);
    index.upsert(testPeer(1, '192.0.2.9:1'));
    expect(Array.from(index.entries(), (e) => e.b32)).toEqual([b32(testKey(1)), b32(testKey(2))]);
  });

  it('rejects malformed records without changing anything', () => {
    const index = new PeerIndex();
    index.upsert(testPeer(1, '192.0.2.1:1'));
    const version = index.version;
    expect(() => index.upsert({ publicKey: 'nope', endpoint: null, allowedIps: [] })).toThrow(/WireGuard key/);
    expect(() => index.upsert(testPeer(2, '192.0.2.1', []))).toThrow(/not an endpoint/);
    expect(() => index.replaceAll([testPeer(3, '192.0.2.3:3'), testPeer(4, null, ['10.0.0.0/33'])])).toThrow(/prefix length/);
    expect(index.size).toBe(1);
    expect(index.get(testKey(3))).toBeUndefined();
    expect(index.version).toBe(version);
  });

  it('bumps version on DNS-visible changes only, structureVersion on changes to other names', () => {
    const index = new PeerIndex();
    index.upsert(testPeer(1, '192.0.2.1:1', ['10.99.0.1/32']));
    const v = () => [index.version, index.structureVersion];
    const [v0, s0] = v();
    index.upsert(testPeer(1, '192.0.2.1:1', ['10.99.0.1/32'], { name: 'renamed', latestHandshake: 99 }));
    expect(v()).toEqual([v0, s0]);
    expect(index.get(testKey(1))?.name).toBe('renamed');

    const before = index.byBase32(b32(testKey(1)))!;
    index.upsert(testPeer(1, '192.0.2.7:1', ['10.99.0.1/32'])); // roamed: only this peer's answers change
    expect(v()).toEqual([v0 + 1, s0]);
    expect(before.retired).toBe(true);
    expect(at(index, '10.99.0.1')?.entry.endpoint?.port).toBe(1);
    expect(at(index, '10.99.0.1')?.entry).toBe(index.byBase32(b32(testKey(1))));

    index.upsert(testPeer(1, '192.0.2.7:1', ['10.99.0.1/32'], { nat: 'edm' }));
    expect(v()).toEqual([v0 + 2, s0]);
    index.upsert(testPeer(1, null, ['10.99.0.1/32'])); // endpoint gone: listing changes
    expect(v()).toEqual([v0 + 3, s0 + 1]);
    index.upsert(testPeer(1, null, ['10.99.0.9/32']));
    expect(v()).toEqual([v0 + 4, s0 + 2]);
    index.upsert(testPeer(2, null));
    index.remove(testKey(2));
    index.replaceAll([]);
    expect(v()).toEqual([v0 + 7, s0 + 5]);
  });

  it('resolves an address to the most specific prefix, host routes first', () => {
    const index = new PeerIndex();
    index.replaceAll([
      testPeer(1, '192.0.2.1:1', ['10.0.0.0/8']),
      testPeer(2, '192.0.2.2:2', ['10.1.0.0/16', 'fd00:1::/32']),
      testPeer(3, '192.0.2.3:3', ['10.1.2.3/32', 'fd00:1::3/128']),
    ]);
    expect(at(index, '10.1.2.3')).toMatchObject({ entry: { b32: b32(testKey(3)) }, prefixLength: 32 });
    expect(at(index, '10.1.2.4')).toMatchObject({ entry: { b32: b32(testKey(2)) }, prefixLength: 16 });
    expect(at(index, '10.200.0.1')).toMatchObject({ entry: { b32: b32(testKey(1)) }, prefixLength: 8 });
    expect(at(index, 'fd00:1::3')).toMatchObject({ entry: { b32: b32(testKey(3)) }, prefixLength: 128 });
    expect(at(index, 'fd00:1::4')).toMatchObject({ entry: { b32: b32(testKey(2)) }, prefixLength: 32 });
    expect(at(index, '11.0.0.1')).toBeUndefined();
    expect(at(index, '::ffff:10.1.2.3')).toBeUndefined();
    index.upsert(testPeer(4, '192.0.2.4:4', ['10.1.0.0/16'])); // newest owner of an equal prefix wins
    expect(at(index, '10.1.9.9')?.entry.b32).toBe(b32(testKey(4)));
    index.remove(testKey(4));
    expect(at(index, '10.1.9.9')?.entry.b32).toBe(b32(testKey(2)));
  });

  it('gives a contested host address to its newest claimant, and back when that one leaves', () => {
    const index = new PeerIndex();
    index.upsert(testPeer(1, '192.0.2.1:1', ['10.99.0.5/32']));
    index.upsert(testPeer(2, '192.0.2.2:2', ['10.99.0.5/32']));
    expect(at(index, '10.99.0.5')?.entry.b32).toBe(b32(testKey(2)));
    index.upsert(testPeer(1, '192.0.2.8:1', ['10.99.0.5/32'])); // an endpoint update does not reclaim
    expect(at(index, '10.99.0.5')?.entry.b32).toBe(b32(testKey(2)));
    index.remove(testKey(2));
    expect(at(index, '10.99.0.5')?.entry.endpoint?.ip).toEqual(parseIp('192.0.2.8'));
  });
});
