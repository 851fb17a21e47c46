import type { PeerRecord } from '@wgmesh/contracts';
import { refusedPeers } from './guard';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const peer = (n: number, allowedIps: string[], name = `m${n}`): PeerRecord => ({ publicKey: key(n), allowedIps, endpoint: `198.51.100.${n}:51820`, name });
const ctx = { meshCidr: '10.99.0.0/16', registryAddress: '10.99.0.1', selfAddress: '10.99.0.2/32', selfKey: key(2), registryKey: key(1) };

describe('refusedPeers: a member checks the table before configuring it', () => {
  it('accepts members at their own host addresses (and ignores itself and the registry)', () => {
    const table = [peer(1, ['10.99.0.0/16']), peer(2, ['10.99.0.2/32']), peer(3, ['10.99.0.3/32']), peer(4, ['10.99.0.4/32'])];
    expect(refusedPeers(table, ctx)).toEqual(new Map());
  });

  it.each([
    [[peer(3, ['10.98.0.3/32'])], key(3), 'its allowed IPs 10.98.0.3/32 lie outside the mesh 10.99.0.0/16'],
    [[peer(3, ['0.0.0.0/0'])], key(3), 'lie outside the mesh'],
    [[peer(3, ['10.99.0.1/32'])], key(3), "its allowed IPs 10.99.0.1/32 cover the registry's address"],
    [[peer(3, ['10.99.0.2/32'])], key(3), "its allowed IPs 10.99.0.2/32 cover this node's address"],
    [[peer(3, ['10.99.0.0/24'])], key(3), "cover the registry's address"],
  ])('refuses %j', (table, k, reason) => {
    expect(refusedPeers(table, ctx).get(k)).toContain(reason);
  });

  it('refuses both peers claiming one address, and a wide prefix over another member', () => {
    const two = refusedPeers([peer(3, ['10.99.0.3/32']), peer(4, ['10.99.0.3/32']), peer(5, ['10.99.0.5/32'])], ctx);
    expect(two.get(key(3))).toBe('its allowed IPs 10.99.0.3 overlap those of "m4"');
    expect(two.get(key(4))).toBe('its allowed IPs 10.99.0.3 overlap those of "m3"');
    expect(two.has(key(5))).toBe(false);
    const wide = refusedPeers([peer(3, ['10.99.7.3/32']), peer(4, ['10.99.7.0/24'])], ctx);
    expect(wide.get(key(4))).toBe('its allowed IPs 10.99.7.0/24 overlap those of "m3"');
    expect(wide.has(key(3))).toBe(true);
  });
});
