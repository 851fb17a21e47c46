import { carrierPeers, RelayCarrier, registriesOf, watchRelayCarrier, withRegistries } from './relay-carrier';
import type { DesiredPeer } from '@wgmesh/contracts';
import type { Enrollment } from './member-state';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const R = [
  { id: 'registry', publicKey: key(1), endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
  { id: 'registry-b', publicKey: key(2), endpoint: '203.0.113.3:51820', address: '10.99.0.254' },
];
const sample = (a: number, b: number) => [
  { publicKey: key(1), rxBytes: a },
  { publicKey: key(2), rxBytes: b },
];

describe('RelayCarrier', () => {
  it('starts on the first registry and keeps it while its counter grows', () => {
    const c = new RelayCarrier({ registries: R, now: 0 });
    expect(c.carrier).toBe(key(1));
    for (let t = 0, rx = 100; t <= 20_000; t += 1000, rx += 32) expect(c.observe(sample(rx, rx), t)).toBeNull();
    expect(c.carrier).toBe(key(1));
  });

  it('moves the CIDR to the next live registry once the carrier is silent for deadAfterMs, and not before', () => {
    const c = new RelayCarrier({ registries: R, now: 0, deadAfterMs: 4000 });
    c.observe(sample(100, 100), 0);
    c.observe(sample(132, 132), 1000); // both grew at 1000
    expect(c.observe(sample(132, 164), 2000)).toBeNull();
    expect(c.observe(sample(132, 196), 4900)).toBeNull(); // 3.9 s silent: still live
    expect(c.observe(sample(132, 228), 5000)).toEqual({ from: key(1), to: key(2), reason: 'dead', silentMs: 4000 });
    expect(c.carrier).toBe(key(2));
    expect(c.liveness().get(key(1))).toBe(false);
  });

  it('moves back to the preferred registry only after it has been live for backAfterMs without a gap', () => {
    const c = new RelayCarrier({ registries: R, now: 0, deadAfterMs: 4000, backAfterMs: 10_000 });
    c.observe(sample(1, 1), 0);
    let b = 1;
    for (let t = 1000; t <= 5000; t += 1000) c.observe(sample(1, (b += 32)), t);
    expect(c.carrier).toBe(key(2));
    // registry comes back at 6000, flaps (silent 4 s) and comes back for good at 12000
    c.observe(sample(50, (b += 32)), 6000);
    c.observe(sample(50, (b += 32)), 10_000); // silent since 6000: dead again
    let a = 50;
    for (let t = 12_000; t < 22_000; t += 1000) expect(c.observe(sample((a += 32), (b += 32)), t)).toBeNull();
    expect(c.observe(sample((a += 32), (b += 32)), 22_000)).toEqual({ from: key(2), to: key(1), reason: 'preferred', silentMs: 0 });
  });

  it('stays where it is when no registry is live', () => {
    const c = new RelayCarrier({ registries: R, now: 0 });
    c.observe(sample(1, 1), 0);
    expect(c.observe(sample(1, 1), 60_000)).toBeNull();
    expect(c.carrier).toBe(key(1));
  });

  it('registry peers: the carrier with the mesh CIDR, the others with their own address', () => {
    expect(carrierPeers(R, '10.99.0.0/16', key(2), 25)).toEqual([
      { publicKey: key(1), endpoint: '203.0.113.1:51820', allowedIps: ['10.99.0.1/32'], persistentKeepalive: 25 },
      { publicKey: key(2), endpoint: '203.0.113.3:51820', allowedIps: ['10.99.0.0/16'], persistentKeepalive: 25 },
    ]);
    expect(registriesOf({ registry: { publicKey: key(1), endpoint: '203.0.113.1:51820', address: '10.99.0.1' } })).toEqual([R[0]]);
  });
});

describe('RelayCarrier, the list changing while it runs', () => {
  const C = { id: 'registry-c', publicKey: key(3), endpoint: '203.0.113.5:51820', address: '10.99.0.253' };
  const three = (a: number, b: number, c: number) => [...sample(a, b), { publicKey: key(3), rxBytes: c }];

  it('an added registry becomes a candidate: it takes the CIDR when the carrier dies', () => {
    const c = new RelayCarrier({ registries: [R[0]], now: 0, deadAfterMs: 4000 });
    expect(c.setRegistries(R, 1000)).toBeNull();
    expect(c.carrier).toBe(key(1));
    expect(c.registries).toEqual(R);
    c.observe(sample(1, 1), 1000);
    let b = 1;
    // the carrier silent since the start (0): dead at 4000
    for (let t = 2000; t < 4000; t += 1000) expect(c.observe(sample(1, (b += 32)), t)).toBeNull();
    expect(c.observe(sample(1, (b += 32)), 4000)).toEqual({ from: key(1), to: key(2), reason: 'dead', silentMs: 4000 });
  });

  it('an added registry that never answers is not a candidate once deadAfterMs has passed', () => {
    const c = new RelayCarrier({ registries: R, now: 0, deadAfterMs: 4000 });
    c.observe(sample(1, 1), 0);
    c.setRegistries([...R, C], 1000);
    let a = 1;
    for (let t = 1000; t <= 5000; t += 1000) c.observe(three((a += 32), 1, 1), t); // only the carrier answers
    // carrier dies at 5000; registry-b and registry-c are silent: it stays (fail-static)
    expect(c.observe(three(a, 1, 1), 10_000)).toBeNull();
    expect(c.liveness().get(key(3))).toBe(false);
  });

  it('a removed registry that does not carry is dropped at once', () => {
    const c = new RelayCarrier({ registries: [...R, C], now: 0 });
    expect(c.setRegistries([R[0], C], 1000)).toBeNull();
    expect(c.registries).toEqual([R[0], C]);
    expect(c.liveness().has(key(2))).toBe(false);
  });

  it('a removed carrier hands the CIDR to the first live registry at once', () => {
    const c = new RelayCarrier({ registries: R, now: 0 });
    c.observe(sample(1, 1), 0);
    expect(c.setRegistries([R[1]], 1000)).toEqual({ from: key(1), to: key(2), reason: 'removed', silentMs: 1000 });
    expect(c.carrier).toBe(key(2));
    expect(c.registries).toEqual([R[1]]);
  });

  it('a removed carrier keeps the CIDR while no other registry is live, and hands it over when one is', () => {
    const c = new RelayCarrier({ registries: R, now: 0, deadAfterMs: 4000 });
    c.observe(sample(1, 1), 0);
    let a = 1;
    for (let t = 1000; t <= 5000; t += 1000) c.observe(sample((a += 32), 1), t); // registry-b silent: dead at 4000
    expect(c.setRegistries([R[1]], 6000)).toBeNull();
    expect(c.carrier).toBe(key(1));
    expect(c.registries).toEqual([R[1], R[0]]); // kept, last
    expect(c.observe(sample((a += 32), 1), 7000)).toBeNull();
    expect(c.observe(sample((a += 32), 33), 8000)).toEqual({ from: key(1), to: key(2), reason: 'removed', silentMs: 0 });
    expect(c.registries).toEqual([R[1]]);
    expect(c.liveness().has(key(1))).toBe(false);
  });

  it('the watch puts an added registry on the device, and takes a removed one off', async () => {
    jest.useFakeTimers();
    try {
      const applied: { peers: DesiredPeer[]; remove: string[] }[] = [];
      const changed: string[][] = [];
      let reads = 0;
      const w = watchRelayCarrier({
        registries: [R[0]], meshCidr: '10.99.0.0/24', keepalive: 25, intervalMs: 100,
        read: async () => (reads++, three(1, 1, 1)),
        apply: async (peers, remove) => void applied.push({ peers, remove }),
        changed: (peers, removed) => void changed.push([...peers.map((p) => p.publicKey), ...removed.map((k) => `-${k}`)]),
      });
      await jest.advanceTimersByTimeAsync(300);
      expect(reads).toBe(0); // one registry: nothing to decide, the device is not sampled
      expect(applied).toEqual([]);
      w.setRegistries([R[0], C]);
      await jest.advanceTimersByTimeAsync(100);
      expect(applied).toEqual([{ peers: carrierPeers([R[0], C], '10.99.0.0/24', key(1), 25), remove: [] }]);
      expect(w.registries()).toEqual([R[0], C]);
      w.setRegistries([C]);
      await jest.advanceTimersByTimeAsync(100);
      expect(applied[1]).toEqual({ peers: carrierPeers([C], '10.99.0.0/24', key(3), 25), remove: [key(1)] });
      expect(w.carrier()).toBe(key(3));
      expect(changed).toEqual([[key(1), key(3)], [key(3), `-${key(1)}`]]);
      await jest.advanceTimersByTimeAsync(300);
      expect(applied).toHaveLength(2);
      w.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('withRegistries', () => {
  const enrolled: Enrollment = { version: 1, name: 'a', publicKey: key(9), enrolledAt: '2026-12-08T00:00:00.000Z', address: '10.99.0.5/32', meshCidr: '10.99.0.0/24', registry: { publicKey: key(1), endpoint: '203.0.113.1:51820', address: '10.99.0.1' } };
  const C = { id: 'registry-c', publicKey: key(3), endpoint: '203.0.113.5:51820', address: '10.99.0.253' };

  it('takes a list with a registry added after enrolment, and says what was added', () => {
    const change = withRegistries(enrolled, R);
    expect(change).toEqual({ enrollment: { ...enrolled, registries: R }, added: [R[1]], removed: [] });
    expect(withRegistries(change!.enrollment, [...R, C])).toMatchObject({ added: [C], removed: [] });
    expect(withRegistries({ ...enrolled, registries: [...R, C] }, R)).toMatchObject({ added: [], removed: [C] });
  });

  it('changes nothing when the list is the one known, or leaves out the registry the member enrolled with', () => {
    expect(withRegistries(enrolled, [R[0]])).toBeNull();
    expect(withRegistries({ ...enrolled, registries: R }, R)).toBeNull();
    expect(withRegistries(enrolled, [R[1], C])).toBeNull();
  });
});
