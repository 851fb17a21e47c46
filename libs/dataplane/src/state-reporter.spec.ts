import type { DataplaneState } from '@wgmesh/contracts';
import { waitFor } from '@wgmesh/testing';
import { StateReporter, stateFingerprint } from './state-reporter';
import { MemoryDriver, testKey, testPeer } from './testing';

describe('StateReporter', () => {
  let reporter: StateReporter;
  afterEach(() => reporter?.stop());

  async function setup(intervalMs: number) {
    const driver = new MemoryDriver('wgmem1');
    await driver.apply({ upsert: [testPeer(1), testPeer(2)], remove: [] });
    const published: DataplaneState[] = [];
    reporter = new StateReporter({ driver, node: 'n1', publish: (s) => void published.push(s), intervalMs, pollMs: 5 });
    reporter.start();
    await waitFor('the first state', () => published.length === 1);
    return { driver, published };
  }

  it('publishes at start, then when endpoints or handshakes change, not for byte counters', async () => {
    const { driver, published } = await setup(60_000);
    expect(published[0]).toMatchObject({ node: 'n1', driver: 'uapi', device: 'wgmem1', publicKey: testKey(0), listenPort: 51820 });
    expect(published[0].peers).toHaveLength(2);

    const reads = driver.reads;
    driver.peers.get(testKey(1))!.rxBytes += 1000;
    await waitFor('a few polls', () => driver.reads >= reads + 3);
    expect(published).toHaveLength(1);

    driver.peers.get(testKey(1))!.endpoint = '203.0.113.7:4500';
    await waitFor('the roamed endpoint', () => published.length === 2);
    driver.peers.get(testKey(2))!.latestHandshake = 1700000123;
    await waitFor('the handshake', () => published.length === 3);
    expect(published[2].peers.find((p) => p.publicKey === testKey(2))?.latestHandshake).toBe(1700000123);
  });

  it('publishes on report() and at the interval even without changes; nothing after stop', async () => {
    const { published } = await setup(100);
    await reporter.report('applied');
    expect(published).toHaveLength(2);
    await waitFor('the interval publish', () => published.length >= 3, 2000);
    await reporter.stop();
    const count = published.length;
    await reporter.report('applied');
    expect(published).toHaveLength(count);
  });

  it('keeps polling after a failed read', async () => {
    const { driver, published } = await setup(60_000);
    const read = driver.read.bind(driver);
    let failures = 0;
    driver.read = async () => {
      if (failures++ < 2) throw new Error('device busy');
      return read();
    };
    driver.peers.get(testKey(1))!.endpoint = '203.0.113.9:1';
    await waitFor('the change after failures', () => published.length === 2);
    expect(failures).toBeGreaterThan(2);
  });
});

describe('stateFingerprint', () => {
  it('ignores peer and prefix order and byte counters', () => {
    const a = { publicKey: 'k', listenPort: 1, peers: [{ ...peer(1), allowedIps: ['10.0.0.1/32', 'fd00::1/128'] }, peer(2)] };
    const b = { publicKey: 'k', listenPort: 1, peers: [peer(2), { ...peer(1), allowedIps: ['fd00::1/128', '10.0.0.1/32'], rxBytes: 99 }] };
    expect(stateFingerprint(a)).toBe(stateFingerprint(b));
    expect(stateFingerprint({ ...a, listenPort: 2 })).not.toBe(stateFingerprint(a));
  });
});

function peer(n: number) {
  return { publicKey: testKey(n), endpoint: null, allowedIps: [], latestHandshake: 0, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 };
}
