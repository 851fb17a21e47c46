import type { DataplaneApplyRequest, DesiredPeer, PeerState, PunchSpray } from '@wgmesh/contracts';
import { DataplaneProgrammer, RECONCILE_MS } from './programmer';
import { MemoryDriver, testKey, testPeer } from './testing';

// The programmer's model of the device: deltas are diffed against it (no read of the device),
// with the same effect and the same answers as diffing against a read.

/** A small deterministic PRNG (mulberry32), so that a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROTECTED = 100;
const POOL = [...Array.from({ length: 12 }, (_, i) => i + 1), PROTECTED];

function sorted(peers: readonly PeerState[]): PeerState[] {
  return [...peers].map((p) => ({ ...p, allowedIps: [...p.allowedIps].sort() })).sort((a, b) => a.publicKey.localeCompare(b.publicKey));
}

/** toEqual, named by the step, but cheap when equal (thousands of steps). */
function same(what: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) expect({ what, got }).toEqual({ what, got: want });
}

describe('DataplaneProgrammer model', () => {
  it('over random sequences of deltas, full sets, pokes, punches and outside changes: same answers and device as reading before every apply, and the model equals a fresh read', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
      const some = <T>(xs: readonly T[], p: number): T[] => xs.filter(() => rnd() < p);
      const peer = (n: number): DesiredPeer => {
        const p: DesiredPeer = { ...testPeer(n, pick([51820, 4500, 30001])), endpoint: rnd() < 0.2 ? null : `198.51.100.${n}:${pick([51820, 4500, 30001])}` };
        if (rnd() < 0.3) p.allowedIps = [...p.allowedIps, `10.98.0.${n}/32`];
        if (rnd() < 0.4) p.persistentKeepalive = pick([0, 5, 25]);
        return p;
      };
      const spray = (n: number): PunchSpray => ({ publicKey: testKey(n), endpoints: some([1, 2, 3], 0.6).map((i) => `203.0.113.${n}:${40000 + i}`).concat(`203.0.113.${n}:40009`), allowedIps: [`10.99.0.${n}/32`], persistentKeepalive: 25 });

      const ours = new MemoryDriver();
      const reference = new MemoryDriver();
      const programmer = new DataplaneProgrammer({ driver: ours, protect: [testKey(PROTECTED)] });
      const readsEveryTime = new DataplaneProgrammer({ driver: reference, protect: [testKey(PROTECTED)], reconcileMs: -1 });
      for (let step = 0; step < 40; step++) {
        const r = rnd();
        if (r < 0.07) {
          // Someone changes the device behind the programmer's back (both devices alike); the
          // state reporter's next poll reads it through the programmer.
          const n = pick(POOL);
          const remove = ours.peers.has(testKey(n)) && rnd() < 0.5;
          for (const d of [ours, reference]) {
            if (remove) d.peers.delete(testKey(n));
            else d.peers.set(testKey(n), { publicKey: testKey(n), endpoint: '192.0.2.1:9', allowedIps: ['10.97.0.1/32'], persistentKeepalive: 7, latestHandshake: 0, rxBytes: 0, txBytes: 0 });
          }
          await programmer.read();
          continue;
        }
        let req: DataplaneApplyRequest;
        if (r < 0.2) {
          req = { peers: some(POOL, 0.6).map(peer), replace: true };
          const keep = some(POOL, 0.15).map(testKey);
          if (keep.length) req.keep = keep;
        } else {
          req = { peers: some(POOL, 0.2).map(peer), replace: false };
          const remove = some(POOL, 0.2).map(testKey);
          if (remove.length) req.remove = remove;
        }
        const poke = some(POOL, 0.15).map(testKey);
        if (poke.length) req.poke = poke;
        if (rnd() < 0.04) req.punch = some(POOL, 0.2).map(spray);
        const [got, want] = await Promise.all([programmer.apply(req), readsEveryTime.apply(req)]);
        const what = `seed ${seed} step ${step}: ${JSON.stringify(req)}`;
        same(what, { ...got, durationMs: 0 }, { ...want, durationMs: 0 });
        same(what, sorted((await ours.read()).peers), sorted((await reference.read()).peers));
        same(what, sorted(programmer.modelPeers()!), sorted((await ours.read()).peers));
      }
      // The same changes were sent to both devices, pokes included.
      same(`seed ${seed}: applied`, ours.applied.map((d) => ({ ...d, changed: [...(d.changed ?? [])] })), reference.applied.map((d) => ({ ...d, changed: [...(d.changed ?? [])] })));
      same(`seed ${seed}: punched`, ours.recreated.map((r) => r.entries), reference.recreated.map((r) => r.entries));
      // Only the full sets read the device (and the first apply, and nothing else here).
      expect(programmer.counters.modelDiffs).toBeGreaterThan(0);
      expect(programmer.counters.reads).toBeLessThan(readsEveryTime.counters.reads);
    }
  });

  it('applies a delta without reading the device; a full set reads it', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1), testPeer(2), testPeer(3)], replace: true });
    expect(driver.reads).toBe(1);
    expect(await programmer.apply({ peers: [testPeer(1, 4500)], replace: false })).toMatchObject({ added: 0, updated: 1, unchanged: 0 });
    expect(await programmer.apply({ peers: [testPeer(2), testPeer(4)], replace: false, remove: [testKey(3), testKey(9)] })).toMatchObject({ added: 1, unchanged: 1, removed: 1 });
    expect(await programmer.apply({ peers: [testPeer(2)], replace: false })).toMatchObject({ added: 0, updated: 0, unchanged: 1 });
    expect(driver.reads).toBe(1);
    expect(driver.peers.get(testKey(1))?.endpoint).toBe('198.51.100.2:4500');
    expect([...driver.peers.keys()].sort()).toEqual([1, 2, 4].map(testKey).sort());
    expect(await programmer.apply({ peers: [testPeer(2)], replace: true })).toMatchObject({ unchanged: 1, removed: 2 });
    expect(driver.reads).toBe(2);
  });

  it('sends only what changed for a peer the model has (one endpoint change is one setting)', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1)], replace: true });
    await programmer.apply({ peers: [testPeer(1, 4500)], replace: false });
    expect(driver.applied[1].changed?.get(testKey(1))).toEqual({ endpoint: true, allowedIps: false, persistentKeepalive: false });
  });

  it('never removes a protected peer on a delta', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver, protect: [testKey(100)] });
    await programmer.apply({ peers: [testPeer(100), testPeer(1)], replace: true });
    expect(await programmer.apply({ peers: [], replace: false, remove: [testKey(100), testKey(1)] })).toMatchObject({ removed: 1 });
    expect([...driver.peers.keys()]).toEqual([testKey(100)]);
    expect(driver.reads).toBe(1);
  });

  it('pokes a peer with the keepalive the model has for it', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [{ ...testPeer(1), persistentKeepalive: 25 }, testPeer(2)], replace: true });
    await programmer.apply({ peers: [testPeer(3)], replace: false, poke: [testKey(1), testKey(2)] });
    expect(driver.applied[1].poke).toEqual([{ publicKey: testKey(1), keepalive: 25 }]);
    expect(driver.reads).toBe(1);
  });

  it('repairs a change made behind its back: once a poll has read it, or at the next full set', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1), testPeer(2)], replace: true });
    driver.peers.get(testKey(1))!.endpoint = '192.0.2.1:9'; // `wg set` by hand
    driver.peers.get(testKey(2))!.endpoint = '192.0.2.2:9';
    // Not known yet: the model still has the endpoint the programmer set.
    expect(await programmer.apply({ peers: [testPeer(1)], replace: false })).toMatchObject({ unchanged: 1 });
    await programmer.read(); // the state reporter's poll
    expect(await programmer.apply({ peers: [testPeer(1)], replace: false })).toMatchObject({ updated: 1 });
    expect(driver.peers.get(testKey(1))?.endpoint).toBe(testPeer(1).endpoint);
    driver.peers.delete(testKey(1));
    expect(await programmer.apply({ peers: [testPeer(1), testPeer(2)], replace: true })).toMatchObject({ added: 1, updated: 1 });
    expect([1, 2].map((n) => driver.peers.get(testKey(n))?.endpoint)).toEqual([testPeer(1).endpoint, testPeer(2).endpoint]);
  });

  it('reads the device for a delta once its model is older than reconcileMs', async () => {
    const driver = new MemoryDriver();
    let now = 1_000_000;
    const programmer = new DataplaneProgrammer({ driver, now: () => now });
    await programmer.apply({ peers: [testPeer(1)], replace: true });
    driver.peers.get(testKey(1))!.endpoint = '192.0.2.1:9';
    now += RECONCILE_MS;
    expect(await programmer.apply({ peers: [testPeer(1)], replace: false })).toMatchObject({ unchanged: 1 });
    expect(driver.reads).toBe(1);
    now += 1;
    expect(await programmer.apply({ peers: [testPeer(1)], replace: false })).toMatchObject({ updated: 1 });
    expect(driver.reads).toBe(2);
  });

  it('reads the device after a failed apply, and after invalidate()', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1)], replace: true });
    driver.failNext = new Error('device refused');
    await expect(programmer.apply({ peers: [testPeer(2)], replace: false })).rejects.toThrow('device refused');
    expect(programmer.modelPeers()).toBeNull();
    await programmer.apply({ peers: [testPeer(2)], replace: false });
    expect(driver.reads).toBe(2);
    driver.peers.clear(); // the device was created again, empty
    programmer.invalidate();
    expect(await programmer.apply({ peers: [testPeer(2)], replace: false })).toMatchObject({ added: 1 });
    expect(driver.reads).toBe(3);
  });

  it('does not take a read that overlapped an apply as its model', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1)], replace: true });
    let release!: () => void;
    driver.gate = new Promise((r) => (release = r));
    const applying = programmer.apply({ peers: [testPeer(2)], replace: false });
    await new Promise((r) => setImmediate(r));
    const adopted = programmer.counters.adopted;
    expect((await programmer.read()).peers).toHaveLength(1); // read while the apply waits: peer 2 is not there yet
    expect(programmer.counters.adopted).toBe(adopted);
    driver.gate = null;
    release();
    await applying;
    expect(sorted(programmer.modelPeers()!)).toEqual(sorted((await driver.read()).peers));
    expect(await programmer.apply({ peers: [testPeer(2)], replace: false })).toMatchObject({ unchanged: 1 });
  });

  it('on VPP (which does not punch an established peer) reads the device for a delta naming a punched peer', async () => {
    const driver = new MemoryDriver();
    Object.defineProperty(driver, 'kind', { value: 'vpp' });
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1), testPeer(2)], replace: true });
    await programmer.apply({ peers: [], replace: false, punch: [{ publicKey: testKey(1), endpoints: ['203.0.113.1:40001'], allowedIps: [], persistentKeepalive: 25 }] });
    expect(await programmer.apply({ peers: [testPeer(2, 4500)], replace: false })).toMatchObject({ updated: 1 });
    expect(driver.reads).toBe(1);
    expect(await programmer.apply({ peers: [testPeer(1)], replace: false })).toMatchObject({ updated: 1 });
    expect(driver.reads).toBe(2);
  });
});
