import { toPeerChanges } from './wireguard-model';
import { testKey, testPeer } from './testing';

describe('toPeerChanges', () => {
  const moved = { ...testPeer(2), persistentKeepalive: 25 };
  const diff = {
    upsert: [testPeer(1), moved, { ...testPeer(3), endpoint: null }],
    remove: [testKey(9)],
    changed: new Map([[moved.publicKey, { endpoint: true, allowedIps: false, persistentKeepalive: false }]]),
  };

  it('removes first, then sends each upserted peer whole (null endpoint: keep the learnt one)', () => {
    expect(toPeerChanges(diff)).toEqual([
      { publicKey: testKey(9), remove: true },
      { publicKey: testKey(1), endpoint: '198.51.100.2:51820', persistentKeepalive: 0, replaceAllowedIps: true, allowedIps: ['10.99.0.1/32'] },
      { publicKey: testKey(2), endpoint: '198.51.100.3:51820', persistentKeepalive: 25, replaceAllowedIps: true, allowedIps: ['10.99.0.2/32'] },
      { publicKey: testKey(3), persistentKeepalive: 0, replaceAllowedIps: true, allowedIps: ['10.99.0.3/32'] },
    ]);
  });

  it('pokes a peer by turning its keepalive off and on again (update_only where the protocol has it)', () => {
    const poke = { upsert: [], remove: [], poke: [{ publicKey: testKey(4), keepalive: 25 }] };
    expect(toPeerChanges(poke, { updateOnly: true })).toEqual([
      { publicKey: testKey(4), updateOnly: true, persistentKeepalive: 0 },
      { publicKey: testKey(4), updateOnly: true, persistentKeepalive: 25 },
    ]);
    expect(toPeerChanges(poke)).toEqual([
      { publicKey: testKey(4), persistentKeepalive: 0 },
      { publicKey: testKey(4), persistentKeepalive: 25 },
    ]);
  });

  it('with minimal, sends only what changed for peers the device has', () => {
    expect(toPeerChanges(diff, { minimal: true })[2]).toEqual({ publicKey: testKey(2), endpoint: '198.51.100.3:51820' });
    expect(toPeerChanges(diff, { minimal: true })[1]).toEqual(toPeerChanges(diff)[1]);
  });
});
