import { DumpPeer, expectDirect, formatPairTable, pairPath, pairsOf, parseDump } from './mesh-pairs';

const K1 = 'hoc5FpH2FQkWNjxSkYJ0AnBOaZgkGHOAID0wqavFv38=';
const K2 = '8BewfO0mcITOxvJkI8/fH66A5oc/5mkRKiVJGKzgMBY=';

describe('wg show dump', () => {
  it('reads the interface line and each peer', () => {
    const text = [
      ['(hidden)', K1, '51820', 'off'].join('\t'),
      [K2, '(none)', '198.51.100.12:51820', '10.99.0.3/32', '1700000000', '1240', '2480', '25'].join('\t'),
      [K1, '(none)', '(none)', '(none)', '0', '0', '0', 'off'].join('\t'),
      '',
    ].join('\n');
    const dump = parseDump(text);
    expect(dump.publicKey).toBe(K1);
    expect(dump.listenPort).toBe(51820);
    expect(dump.peers.get(K2)).toEqual({ publicKey: K2, endpoint: '198.51.100.12:51820', allowedIps: ['10.99.0.3/32'], latestHandshake: 1_700_000_000, rxBytes: 1240, txBytes: 2480, persistentKeepalive: 25 });
    expect(dump.peers.get(K1)).toMatchObject({ endpoint: null, allowedIps: [], latestHandshake: 0, persistentKeepalive: 0 });
  });

  it('refuses a short peer line', () => {
    expect(() => parseDump(`x\t${K1}\t1\toff\n${K2}\t(none)\n`)).toThrow('a peer line has 2 fields');
  });
});

describe('pair paths', () => {
  const now = 1_700_000_100;
  const peer = (latestHandshake: number): DumpPeer => ({ publicKey: K1, endpoint: '198.51.100.11:51820', allowedIps: ['10.99.0.2/32'], latestHandshake, rxBytes: 0, txBytes: 0, persistentKeepalive: 25 });
  const view = (aToB: DumpPeer | undefined, bToA: DumpPeer | undefined, nats: ['eim' | 'edm' | 'public', 'eim' | 'edm' | 'public'] = ['eim', 'eim']) => ({
    a: { name: 'a', nat: nats[0] },
    b: { name: 'b', nat: nats[1] },
    aToB,
    bToA,
    nowSeconds: now,
  });

  it.each([
    ['both sides handshook recently', view(peer(now - 5), peer(now - 3)), { path: 'direct' }],
    ['one side too long ago', view(peer(now - 200), peer(now - 3)), { path: 'relayed', reason: 'direct peers configured, no recent handshake: hole punching has not succeeded (yet)' }],
    ['no entry on b', view(peer(now - 5), undefined), { path: 'relayed', reason: 'b has no peer entry for a (no endpoint at the registry yet?)' }],
    ['edm behind', view(peer(0), peer(0), ['eim', 'edm']), { path: 'relayed', reason: 'direct peers configured, no recent handshake: b behind an endpoint-dependent NAT: no hole punching' }],
  ])('%s', (_what, v, expected) => {
    expect(pairPath(v)).toEqual(expected);
  });

  it('expects direct tunnels except with an edm member, unless the other is public', () => {
    expect([expectDirect('eim', 'eim'), expectDirect('eim', 'public'), expectDirect('edm', 'public'), expectDirect('public', 'edm'), expectDirect('edm', 'eim'), expectDirect('edm', 'edm')]).toEqual([true, true, true, true, false, false]);
  });

  it('lists every unordered pair once, in order', () => {
    expect(pairsOf(['a', 'b', 'c'])).toEqual([['a', 'b'], ['a', 'c'], ['b', 'c']]);
  });

  it('prints the table with the reasons', () => {
    expect(formatPairTable([{ a: 'a', b: 'b', path: 'direct', rttMs: 0.412 }, { a: 'a', b: 'c', path: 'relayed', rttMs: null, reason: 'why' }])).toBe(
      ['A  B  PATH     RTT', 'a  b  direct   0.41 ms', 'a  c  relayed  no reply  (why)'].join('\n'),
    );
  });
});
