import { DataplaneStateView, readDataplaneState, type DataplaneStateUpdate } from '@wgmesh/contracts';
import { waitFor } from '@wgmesh/testing';
import { StateReporter, stateFingerprint } from './state-reporter';
import { MemoryDriver, testKey, testPeer } from './testing';

describe('StateReporter', () => {
  let reporter: StateReporter;
  afterEach(() => reporter?.stop());

  async function setup(intervalMs: number) {
    const driver = new MemoryDriver('wgmem1');
    await driver.apply({ upsert: [testPeer(1), testPeer(2)], remove: [] });
    const published: DataplaneStateUpdate[] = [];
    reporter = new StateReporter({ driver, node: 'n1', publish: (s) => void published.push(s), intervalMs, pollMs: 5 });
    reporter.start();
    await waitFor('the first state', () => published.length === 1);
    return { driver, published };
  }

  it('publishes an empty update at start (the baseline), then only the peers that changed, numbered; not for byte counters', async () => {
    const { driver, published } = await setup(60_000);
    const epoch = reporter.epoch;
    expect(published[0]).toMatchObject({ node: 'n1', driver: 'uapi', device: 'wgmem1', publicKey: testKey(0), listenPort: 51820, epoch, seq: 1, changed: [], removed: [] });
    // The whole state is on request, with the seq of the update it includes.
    expect(reporter.current()).toMatchObject({ node: 'n1', epoch, seq: 1 });
    expect(reporter.current()!.peers.map((p) => p.publicKey)).toEqual([testKey(1), testKey(2)].sort());

    const reads = driver.reads;
    driver.peers.get(testKey(1))!.rxBytes += 1000;
    await waitFor('a few polls', () => driver.reads >= reads + 3);
    expect(published).toHaveLength(1);
    expect(reporter.current()!.peers.find((p) => p.publicKey === testKey(1))!.rxBytes).toBe(driver.peers.get(testKey(1))!.rxBytes); // the get has fresh counters

    driver.peers.get(testKey(1))!.endpoint = '203.0.113.7:4500';
    await waitFor('the roamed endpoint', () => published.length === 2);
    expect(published[1]).toMatchObject({ epoch, seq: 2, removed: [] });
    expect(published[1].changed.map((p) => [p.publicKey, p.endpoint])).toEqual([[testKey(1), '203.0.113.7:4500']]);
    driver.peers.get(testKey(2))!.latestHandshake = 1700000123;
    await waitFor('the handshake', () => published.length === 3);
    expect(published[2]).toMatchObject({ seq: 3, removed: [] });
    expect(published[2].changed.map((p) => [p.publicKey, p.latestHandshake])).toEqual([[testKey(2), 1700000123]]);

    await driver.apply({ upsert: [testPeer(3)], remove: [testKey(1)] });
    await waitFor('the peer added and the one removed', () => published.length === 4);
    expect(published[3]).toMatchObject({ seq: 4, removed: [testKey(1)] });
    expect(published[3].changed.map((p) => p.publicKey)).toEqual([testKey(3)]);
    expect(reporter.current()!.seq).toBe(4);
  });

  it('a view fed the first state and the updates after it holds what the device has', async () => {
    const { driver, published } = await setup(60_000);
    const view = new DataplaneStateView();
    view.full(await readDataplaneState(async (req) => reporter.current(req)!));
    driver.peers.get(testKey(1))!.endpoint = '203.0.113.7:4500';
    await driver.apply({ upsert: [testPeer(3)], remove: [testKey(2)] });
    await waitFor('the changes read', () => reporter.current()!.peers.some((p) => p.publicKey === testKey(3)) && published.length >= 2);
    for (const u of published.slice(1)) expect(view.update(u)).toBe('applied');
    expect(view.update(published[0])).toBe('stale');
    const held = view.state!;
    const device = await driver.read();
    const strip = (ps: typeof device.peers) => ps.map(({ rxBytes: _r, txBytes: _t, ...p }) => p).sort((a, b) => a.publicKey.localeCompare(b.publicKey));
    expect(strip(held.peers)).toEqual(strip(device.peers));
  });

  it('publishes on report() and at the interval even without changes; nothing after stop', async () => {
    const { published } = await setup(100);
    await reporter.report('applied');
    expect(published).toHaveLength(2);
    expect(published[1]).toMatchObject({ seq: 2, changed: [], removed: [] });
    await waitFor('the interval publish', () => published.length >= 3, 2000);
    expect(published[2]).toMatchObject({ seq: 3, changed: [], removed: [] });
    await reporter.stop();
    const count = published.length;
    await reporter.report('applied');
    expect(published).toHaveLength(count);
  });

  it('after changed(): reads through the given read() at the next poll, publishing what changed, however many changes came', async () => {
    const driver = new MemoryDriver('wgmem2');
    const published: DataplaneStateUpdate[] = [];
    let reads = 0;
    reporter = new StateReporter({ driver, node: 'n1', publish: (s) => void published.push(s), intervalMs: 60_000, pollMs: 200, read: () => (reads++, driver.read()) });
    reporter.start();
    await waitFor('the first state', () => published.length === 1);
    const first = reads;
    for (let i = 1; i <= 20; i++) {
      await driver.apply({ upsert: [testPeer(i)], remove: [] });
      reporter.changed();
    }
    await waitFor('the state with every change', () => reporter.current()!.peers.length === 20 && published.reduce((n, u) => n + u.changed.length, 0) === 20, 2000);
    // Twenty changes, one or two reads (a change arriving during a read is read again), not twenty.
    expect(reads - first).toBeLessThanOrEqual(2);
    expect(driver.reads).toBe(reads);
  });

  it('after changed() reads sooner than the poll when the last read is older than a second', async () => {
    const driver = new MemoryDriver('wgmem3');
    const published: DataplaneStateUpdate[] = [];
    reporter = new StateReporter({ driver, node: 'n1', publish: (s) => void published.push(s), intervalMs: 60_000, pollMs: 60_000 });
    reporter.start();
    await waitFor('the first state', () => published.length === 1);
    await driver.apply({ upsert: [testPeer(1)], remove: [] });
    reporter.changed();
    await waitFor('the change, before the 60 s poll', () => published.length === 2, 3000);
    expect(published[1].changed).toHaveLength(1);
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
