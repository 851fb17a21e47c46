import type { PeerState } from '@wgmesh/contracts';
import { classifyPaths } from './paths';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const NOW = 1_700_000_000;
const dev = (n: number, latestHandshake: number): PeerState => ({ publicKey: key(n), endpoint: `192.0.2.${n}:51820`, allowedIps: [`10.99.0.${n}/32`], latestHandshake, rxBytes: n * 100, txBytes: n * 10, persistentKeepalive: 25 });
const member = (n: number) => ({ publicKey: key(n), allowedIps: [`10.99.0.${n}/32`], endpoint: `198.51.100.${n}:51820`, name: `site-${n}` });

describe('classifyPaths', () => {
  it('tells direct, connecting, relayed and the registry apart', () => {
    const rows = classifyPaths([member(1), member(2), member(3), member(4), member(5)], [dev(1, NOW - 30), dev(3, NOW - 10), dev(4, NOW - 600)], { self: key(2), registryKey: key(1), nowSeconds: NOW });
    expect(rows.map((r) => [r.name, r.path, r.endpoint, r.rxBytes])).toEqual([
      ['registry', 'registry', '192.0.2.1:51820', 100],
      ['site-3', 'direct', '192.0.2.3:51820', 300],
      ['site-4', 'connecting', '192.0.2.4:51820', 400],
      ['site-5', 'relayed', null, 0],
    ]);
  });

  it('counts a peer entry without allowed IPs (a direct attempt) as relayed: it carries no traffic', () => {
    const attempt = { ...dev(3, 0), allowedIps: [] };
    const rows = classifyPaths([member(3)], [dev(1, NOW - 5), attempt], { self: key(2), registryKey: key(1), nowSeconds: NOW });
    expect(rows.map((r) => [r.path, r.endpoint])).toEqual([['registry', '192.0.2.1:51820'], ['relayed', '192.0.2.3:51820']]);
  });

  it('says down when the registry peer is not up either', () => {
    const rows = classifyPaths([member(5)], [dev(1, 0)], { self: key(2), registryKey: key(1), nowSeconds: NOW });
    expect(rows.map((r) => r.path)).toEqual(['registry', 'down']);
  });
});
