import type { PeerRecord } from '@wgmesh/contracts';
import { desiredPeers, sameDesiredPeers } from './desired';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const peer = (n: number, extra: Partial<PeerRecord> = {}): PeerRecord => ({
  publicKey: key(n),
  allowedIps: [`10.99.0.${n}/32`],
  endpoint: `192.0.2.${n}:51820`,
  name: `site-${n}`,
  ...extra,
});
const SELF = { publicKey: key(2) };
const REGISTRY = key(1);
const table = [peer(1), peer(2), peer(3), peer(4, { endpoint: null }), peer(5, { allowedIps: [] }), peer(6, { allowedIps: ['10.99.0.6/32', '192.168.6.0/24'], persistentKeepalive: 0 }), peer(7)];
const keysOf = (opts: Parameters<typeof desiredPeers>[2]) => desiredPeers(table, SELF, opts).map((p) => p.publicKey);

describe('desiredPeers', () => {
  it('wants every other member with an endpoint, with its allowed IPs and our keepalive', () => {
    expect(desiredPeers(table, SELF, { keepalive: 25, registryKey: REGISTRY })).toEqual([
      { publicKey: key(3), endpoint: '192.0.2.3:51820', allowedIps: ['10.99.0.3/32'], persistentKeepalive: 25 },
      { publicKey: key(6), endpoint: '192.0.2.6:51820', allowedIps: ['10.99.0.6/32', '192.168.6.0/24'], persistentKeepalive: 25 },
      { publicKey: key(7), endpoint: '192.0.2.7:51820', allowedIps: ['10.99.0.7/32'], persistentKeepalive: 25 },
    ]);
  });

  it.each([
    ['full mesh', { keepalive: 0, registryKey: REGISTRY }, [3, 6, 7]],
    ['without a registry key, the registry record is a member like any other', { keepalive: 0 }, [1, 3, 6, 7]],
    ['relayed peers left out', { keepalive: 0, registryKey: REGISTRY, relayed: new Set([key(6)]) }, [3, 7]],
    ['on demand by key', { keepalive: 0, registryKey: REGISTRY, connect: new Set([key(7)]) }, [7]],
    ['on demand by tunnel address', { keepalive: 0, registryKey: REGISTRY, connect: new Set(['10.99.0.3']) }, [3]],
    ['on demand by an address inside a routed prefix', { keepalive: 0, registryKey: REGISTRY, connect: new Set(['192.168.6.77']) }, [6]],
    ['on demand by name', { keepalive: 0, registryKey: REGISTRY, connect: new Set(['site-3', 'site-7']) }, [3, 7]],
    ['on demand never names self, the registry or endpoint-less peers', { keepalive: 0, registryKey: REGISTRY, connect: new Set([key(1), key(2), key(4)]) }, []],
    ['on demand with nothing named', { keepalive: 0, registryKey: REGISTRY, connect: new Set<string>() }, []],
    ['only peers nat-probe has decided about', { keepalive: 0, registryKey: REGISTRY, decided: new Set([key(3), key(7)]) }, [3, 7]],
    ['nat-probe has decided about none yet', { keepalive: 0, registryKey: REGISTRY, decided: new Set<string>() }, []],
  ])('%s', (_what, opts, expected) => {
    expect(keysOf(opts)).toEqual(expected.map(key).sort());
  });

  it('configures peers under a direct attempt without allowed IPs, with a keepalive even when --keepalive is 0', () => {
    const opts = { registryKey: REGISTRY, relayed: new Set([key(6), key(7)]), attempt: new Set([key(6)]) };
    expect(desiredPeers(table, SELF, { ...opts, keepalive: 0 })).toEqual([
      { publicKey: key(3), endpoint: '192.0.2.3:51820', allowedIps: ['10.99.0.3/32'] },
      { publicKey: key(6), endpoint: '192.0.2.6:51820', allowedIps: [], persistentKeepalive: 25 },
    ]);
    expect(desiredPeers(table, SELF, { ...opts, keepalive: 10 })[1]).toEqual({ publicKey: key(6), endpoint: '192.0.2.6:51820', allowedIps: [], persistentKeepalive: 10 });
  });

  it('leaves the endpoint of punched peers to the device (attempts, and direct paths a punch opened)', () => {
    const opts = { registryKey: REGISTRY, keepalive: 25, relayed: new Set([key(6)]), attempt: new Set([key(6)]), punched: new Set([key(6), key(7)]) };
    expect(desiredPeers(table, SELF, opts)).toEqual([
      { publicKey: key(3), endpoint: '192.0.2.3:51820', allowedIps: ['10.99.0.3/32'], persistentKeepalive: 25 },
      { publicKey: key(6), endpoint: null, allowedIps: [], persistentKeepalive: 25 },
      { publicKey: key(7), endpoint: null, allowedIps: ['10.99.0.7/32'], persistentKeepalive: 25 },
    ]);
  });

  it('leaves keepalive out when it is 0', () => {
    expect(desiredPeers([peer(3)], SELF, { keepalive: 0 })[0]).not.toHaveProperty('persistentKeepalive');
  });
});

describe('sameDesiredPeers', () => {
  const set = desiredPeers(table, SELF, { keepalive: 25, registryKey: REGISTRY });
  const copy = () => set.map((p) => ({ ...p, allowedIps: [...p.allowedIps] }));

  it('is true for an equal set built anew, false for any difference that matters', () => {
    expect(sameDesiredPeers(set, copy())).toBe(true);
    const moved = copy();
    moved[1].endpoint = '192.0.2.99:51820';
    const keepalive = copy();
    keepalive[0].persistentKeepalive = 10;
    const ips = copy();
    ips[2].allowedIps = ['10.99.0.6/32'];
    expect([moved, keepalive, ips, copy().slice(1)].map((other) => sameDesiredPeers(set, other))).toEqual([false, false, false, false]);
    expect(sameDesiredPeers([], [])).toBe(true);
  });
});
