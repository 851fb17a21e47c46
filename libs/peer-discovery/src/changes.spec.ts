import type { DesiredPeer } from '@wgmesh/contracts';
import { countChangedPeers } from './changes';

const peer = (n: number, over: Partial<DesiredPeer> = {}): DesiredPeer => ({
  publicKey: Buffer.alloc(32, n).toString('base64'),
  endpoint: `198.51.100.${n}:51820`,
  allowedIps: [`10.99.0.${n}/32`],
  persistentKeepalive: 25,
  ...over,
});

describe('countChangedPeers', () => {
  it('counts added, removed and modified peers once each', () => {
    const before = [peer(1), peer(2), peer(3), peer(4), peer(5)];
    const after = [peer(1), peer(2, { endpoint: '198.51.100.2:4000' }), peer(3, { allowedIps: ['10.99.0.3/32', '10.98.0.0/24'] }), peer(5, { persistentKeepalive: 0 }), peer(6)];
    // 2, 3 and 5 modified, 4 removed, 6 added.
    expect(countChangedPeers(after, before)).toBe(5);
    expect(countChangedPeers(before, before)).toBe(0);
    expect(countChangedPeers([...before].reverse(), before)).toBe(0);
  });

  it('counts every peer when nothing was applied before', () => {
    expect(countChangedPeers([peer(1), peer(2)], null)).toBe(2);
    expect(countChangedPeers([], [peer(1)])).toBe(1);
  });
});
