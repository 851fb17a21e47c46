import { PeerRecord } from '@wgmesh/contracts';
import { canonicalJson, pageOf, peerStoreKeys } from './index';

const peer = (publicKey: string): PeerRecord => ({ publicKey, allowedIps: [], endpoint: null });
// Valid-looking keys in a known sort order ("A…" < "B…" < "a…" in code-unit order).
const KEYS = ['B'.repeat(43) + '=', 'a'.repeat(43) + '=', 'A'.repeat(43) + '='];

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: undefined } })).toBe('{"a":{"d":[{"x":2,"y":1}]},"b":1}');
    expect(canonicalJson({ endpoint: null, publicKey: 'k', allowedIps: ['x'] })).toBe(canonicalJson({ publicKey: 'k', allowedIps: ['x'], endpoint: null }));
  });
});

describe('pageOf', () => {
  const peers = KEYS.map(peer);

  it.each([
    [0, 2, [KEYS[2], KEYS[0]], 2],
    [2, 2, [KEYS[1]], null],
    [0, 3, [KEYS[2], KEYS[0], KEYS[1]], null],
    [5, 2, [], null],
  ])('cursor %p limit %p', (cursor, limit, keys, nextCursor) => {
    const page = pageOf(7, peers, cursor, limit);
    expect(page).toEqual({ revision: 7, peers: keys.map(peer), nextCursor });
  });

  it.each([
    [-1, 10, /cursor/],
    [0, 0, /limit/],
    [0, 1e6, /limit/],
    [0.5, 10, /cursor/],
  ])('refuses cursor %p limit %p', (cursor, limit, message) => {
    expect(() => pageOf(1, peers, cursor, limit)).toThrow(message);
  });
});

describe('peerStoreKeys', () => {
  it('names keys per mesh and refuses unsafe mesh names', () => {
    expect(peerStoreKeys('prod')).toEqual({ peers: 'wgmesh:prod:peers', revision: 'wgmesh:prod:revision' });
    expect(() => peerStoreKeys('a:b')).toThrow(/mesh/);
  });
});
