import type { DesiredPeer } from '@wgmesh/contracts';
import { MemoryDriver, testKey, testPeer } from '@wgmesh/dataplane/testing';
import { registryPeersApply } from './registry-peers';

describe('registryPeersApply (member up: the registry peers following the mesh list)', () => {
  const r = (n: number, allowedIps?: string[]): DesiredPeer => ({ ...testPeer(n), ...(allowedIps ? { allowedIps } : {}), persistentKeepalive: 25 });

  it('protects an added registry before it goes on the device, and drops a removed one from the device and the protected keys', async () => {
    const driver = new MemoryDriver();
    await driver.apply({ upsert: [r(1, ['10.99.0.0/16']), testPeer(50)], remove: [] }); // registry 1 (carrier) and a member
    const events: string[] = [];
    const bootstrap = [r(1, ['10.99.0.0/16'])];
    const apply = registryPeersApply({
      driver: { read: () => driver.read(), apply: async (d) => (events.push(`device +${d.upsert.map((p) => p.publicKey === testKey(2) ? 2 : 1).join(',')} -${d.remove.length}`), driver.apply(d)) },
      setProtect: (keys) => void events.push(`protect ${keys.map((k) => (k === testKey(1) ? 1 : k === testKey(2) ? 2 : '?')).join(',')}`),
      protect: [testKey(1)],
      bootstrap,
    });
    await apply([r(1, ['10.99.0.0/16']), r(2)], []);
    expect(events).toEqual(['protect 1,2', 'device +2 -0', 'protect 1,2']);
    expect(driver.peers.get(testKey(2))?.allowedIps).toEqual(testPeer(2).allowedIps);
    expect(bootstrap.map((p) => p.publicKey)).toEqual([testKey(1), testKey(2)]);

    events.length = 0;
    await apply([r(2, ['10.99.0.0/16'])], [testKey(1)]);
    expect(events).toEqual(['protect 1,2', 'device +2 -1', 'protect 2']);
    expect([...driver.peers.keys()].sort()).toEqual([testKey(2), testKey(50)].sort()); // the member stays
    expect(driver.peers.get(testKey(2))?.allowedIps).toEqual(['10.99.0.0/16']);
    expect(bootstrap.map((p) => p.publicKey)).toEqual([testKey(2)]);
  });
});
