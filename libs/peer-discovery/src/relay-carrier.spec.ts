import { carrierPeers, RelayCarrier, registriesOf, withRegistries } from './relay-carrier';
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
