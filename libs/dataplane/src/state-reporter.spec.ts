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

  it('after changed(): reads through the given read() at the next poll, publishing what changed, however many changes came', async () => {
    const driver = new MemoryDriver('wgmem2');
    const published: DataplaneState[] = [];
    let reads = 0;
    reporter = new StateReporter({ driver, node: 'n1', publish: (s) => void published.push(s), intervalMs: 60_000, pollMs: 200, read: () => (reads++, driver.read()) });
    reporter.start();
    await waitFor('the first state', () => published.length === 1);
    const first = reads;
    for (let i = 1; i <= 20; i++) {
      await driver.apply({ upsert: [testPeer(i)], remove: [] });
      reporter.changed();
    }
    await waitFor('the state with every change', () => published.some((s) => s.peers.length === 20), 2000);
    // Twenty changes, one or two reads (a change arriving during a read is read again), not twenty.
    expect(reads - first).toBeLessThanOrEqual(2);
    expect(driver.reads).toBe(reads);
  });

  it('after changed() reads sooner than the poll when the last read is older than a second', async () => {
    const driver = new MemoryDriver('wgmem3');
    const published: DataplaneState[] = [];
    reporter = new StateReporter({ driver, node: 'n1', publish: (s) => void published.push(s), intervalMs: 60_000, pollMs: 60_000 });
    reporter.start();
    await waitFor('the first state', () => published.length === 1);
    await driver.apply({ upsert: [testPeer(1)], remove: [] });
    reporter.changed();
    await waitFor('the change, before the 60 s poll', () => published.length === 2, 3000);
    expect(published[1].peers).toHaveLength(1);
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
