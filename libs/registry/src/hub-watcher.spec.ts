import type { PeerState } from '@wgmesh/contracts';
import { changeReason, HubWatcher, MemberInfo, peerRecordFromState } from './hub-watcher';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const state = (n: number, extra: Partial<PeerState> = {}): PeerState => ({
  publicKey: key(n),
  endpoint: `192.0.2.${n}:51820`,
  allowedIps: [`10.99.0.${n}/32`],
  latestHandshake: 0,
  rxBytes: 0,
  txBytes: 0,
  persistentKeepalive: 0,
  ...extra,
});
const names = new Map([[key(1), 'site-a']]);
const nameOf = (k: string) => (names.has(k) ? { name: names.get(k) } : undefined);
const REFRESH = 300_000;

describe('peerRecordFromState', () => {
  it('keeps what the resolver and status need, canonical and sorted', () => {
    expect(peerRecordFromState(state(1, { allowedIps: ['fd00::7', '10.99.0.1/32', '10.1.2.3/24'], persistentKeepalive: 25, latestHandshake: 1700000000, rxBytes: 9 }), { name: 'site-a' })).toEqual({
      publicKey: key(1),
      allowedIps: ['10.1.2.0/24', '10.99.0.1/32', 'fd00::7/128'],
      endpoint: '192.0.2.1:51820',
      name: 'site-a',
      persistentKeepalive: 25,
      latestHandshake: 1700000000,
    });
  });

  it('carries the NAT nat-probe reported', () => {
    expect(peerRecordFromState(state(1), { name: 'a', nat: 'eim' })).toMatchObject({ name: 'a', nat: 'eim' });
    expect(peerRecordFromState(state(1), { name: 'a' })).not.toHaveProperty('nat');
  });

  it.each([null, '', '(none)', '127.0.0.1:51820', '[fe80::1]:51820'])('publishes endpoint %p as null', (endpoint) => {
    expect(peerRecordFromState(state(2, { endpoint })).endpoint).toBeNull();
  });
});

describe('changeReason', () => {
  const base = peerRecordFromState(state(3, { latestHandshake: 1000 }));
  it.each([
    ['nothing changed', base, REFRESH * 10, null],
    ['new endpoint', { ...base, endpoint: '198.51.100.3:4000' }, 0, 'endpoint'],
    ['endpoint lost', { ...base, endpoint: null }, 0, 'endpoint'],
    ['allowed IPs', { ...base, allowedIps: ['10.99.0.3/32', '10.200.0.0/24'] }, 0, 'allowed-ips'],
    ['keepalive', { ...base, persistentKeepalive: 25 }, 0, 'keepalive'],
    ['name', { ...base, name: 'x' }, 0, 'name'],
    ['NAT classified', { ...base, nat: 'edm' as const }, 0, 'nat'],
    ['re-handshake soon after the last publication', { ...base, latestHandshake: 1120 }, REFRESH - 1, null],
    ['re-handshake after the refresh interval', { ...base, latestHandshake: 1120 }, REFRESH, 'handshake-refresh'],
    ['handshake back to 0 (hub restarted)', { ...base, latestHandshake: 0 }, 0, 'handshake-reset'],
  ])('%s', (_what, next, since, reason) => {
    expect(changeReason(base, next, since, REFRESH)).toBe(reason);
  });

  it('publishes the first handshake at once', () => {
    const never = { ...base, latestHandshake: 0 };
    expect(changeReason(never, { ...never, latestHandshake: 1700000000 }, 0, REFRESH)).toBe('came-up');
    expect(changeReason(undefined, base, 0, REFRESH)).toBe('new');
  });
});

describe('HubWatcher', () => {
  it('publishes new, changed and removed peers, and holds back handshake ticks', () => {
    const w = new HubWatcher({ handshakeRefreshMs: REFRESH });
    let t = 1_000_000;
    const first = w.update([state(1), state(2, { endpoint: null })], nameOf, t);
    expect(first.map((c) => [c.type, c.type === 'upsert' ? c.reason : '', c.type === 'upsert' ? c.peer.name : ''])).toEqual([
      ['upsert', 'new', 'site-a'],
      ['upsert', 'new', undefined],
    ]);
    expect(w.update([state(1), state(2, { endpoint: null })], nameOf, (t += 500))).toEqual([]);
    // Member 2 handshakes: its endpoint appears and its handshake goes from 0 to a time.
    const up = w.update([state(1), state(2, { latestHandshake: 1700000000 })], nameOf, (t += 500));
    expect(up).toEqual([{ type: 'upsert', reason: 'endpoint', peer: expect.objectContaining({ endpoint: '192.0.2.2:51820', latestHandshake: 1700000000 }) }]);
    // Re-handshakes within the refresh interval publish nothing; after it, the latest time once.
    expect(w.update([state(1), state(2, { latestHandshake: 1700000120 })], nameOf, (t += 120_000))).toEqual([]);
    expect(w.update([state(1), state(2, { latestHandshake: 1700000240 })], nameOf, (t += 120_000))).toEqual([]);
    const refresh = w.update([state(1), state(2, { latestHandshake: 1700000240 })], nameOf, (t += 60_000));
    expect(refresh).toEqual([{ type: 'upsert', reason: 'handshake-refresh', peer: expect.objectContaining({ latestHandshake: 1700000240 }) }]);
    // NAT rebinding: a new endpoint is published at once, whatever the handshake timing.
    const moved = w.update([state(1), state(2, { endpoint: '192.0.2.2:40000', latestHandshake: 1700000250 })], nameOf, (t += 10));
    expect(moved).toEqual([{ type: 'upsert', reason: 'endpoint', peer: expect.objectContaining({ endpoint: '192.0.2.2:40000' }) }]);
    expect(w.update([state(2, { endpoint: '192.0.2.2:40000', latestHandshake: 1700000250 })], nameOf, (t += 10))).toEqual([{ type: 'remove', publicKey: key(1) }]);
    expect(w.table().map((p) => p.publicKey)).toEqual([key(2)]);
  });

  it('reconciles with the store on start: the device is the truth', () => {
    const w = new HubWatcher();
    const stored = [peerRecordFromState(state(1), { name: 'site-a' }), peerRecordFromState(state(5)), peerRecordFromState(state(6, { latestHandshake: 10 }))];
    w.seed(stored);
    const changes = w.update([state(1), state(6, { latestHandshake: 20 }), state(7)], nameOf, 5);
    expect(changes).toEqual([
      // a stored handshake time is refreshed at once after a restart (seeded records count as old)
      { type: 'upsert', reason: 'handshake-refresh', peer: expect.objectContaining({ publicKey: key(6), latestHandshake: 20 }) },
      { type: 'upsert', reason: 'new', peer: expect.objectContaining({ publicKey: key(7) }) },
      { type: 'remove', publicKey: key(5) },
    ]);
  });

  describe('reads that change nothing (10,000 peers read every watch interval)', () => {
    const bigKey = (i: number) => {
      const b = Buffer.alloc(32, 7);
      b.writeUInt32BE(i);
      return b.toString('base64');
    };
    const many = (n: number) => Array.from({ length: n }, (_, i) => state(i + 1, { publicKey: bigKey(i), endpoint: `198.51.100.${(i % 250) + 1}:${1024 + i}`, allowedIps: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`] }));
    const info = new Map<string, MemberInfo>();
    const infoOf = (k: string) => info.get(k);

    it('publish nothing; a changed peer among them is published alone, at once', () => {
      const w = new HubWatcher({ handshakeRefreshMs: REFRESH });
      const device = many(10_000);
      expect(w.update(device, infoOf, 1000)).toHaveLength(10_000);
      // Fresh objects with the same fields (each read parses the device anew).
      expect(w.update(many(10_000), infoOf, 1500)).toEqual([]);
      expect(w.update(many(10_000), infoOf, 2000)).toEqual([]);
      const moved = many(10_000);
      moved[4321] = { ...moved[4321], endpoint: '203.0.113.9:7777' };
      expect(w.update(moved, infoOf, 2500)).toEqual([{ type: 'upsert', reason: 'endpoint', peer: expect.objectContaining({ publicKey: moved[4321].publicKey, endpoint: '203.0.113.9:7777' }) }]);
      const readdressed = many(10_000);
      readdressed[17] = { ...readdressed[17], endpoint: '203.0.113.9:7777', allowedIps: ['10.77.0.1/32'] };
      const changes = w.update(readdressed, infoOf, 3000);
      expect(changes.map((c) => c.type === 'upsert' && [c.peer.publicKey, c.reason])).toEqual([
        [readdressed[17].publicKey, 'endpoint'],
        [moved[4321].publicKey, 'endpoint'], // back to its old endpoint
      ]);
      expect(w.update(readdressed, infoOf, 3500)).toEqual([]);
    });

    it('publish what the registry learnt beyond the device (a name, a NAT type) though the device is unchanged', () => {
      const w = new HubWatcher();
      const device = many(3);
      w.update(device, infoOf, 0);
      info.set(device[1].publicKey, { name: 'site-b' });
      expect(w.update(many(3), infoOf, 1)).toEqual([{ type: 'upsert', reason: 'name', peer: expect.objectContaining({ name: 'site-b' }) }]);
      info.set(device[1].publicKey, { name: 'site-b', nat: 'eim' });
      expect(w.update(many(3), infoOf, 2)).toEqual([{ type: 'upsert', reason: 'nat', peer: expect.objectContaining({ nat: 'eim' }) }]);
      expect(w.update(many(3), infoOf, 3)).toEqual([]);
      info.clear();
    });

    it('publish a peer that left and came back with the same fields, and a peer after a reseed from the store', () => {
      const w = new HubWatcher();
      const device = many(3);
      w.update(device, infoOf, 0);
      expect(w.update([device[0], device[2]], infoOf, 1)).toEqual([{ type: 'remove', publicKey: device[1].publicKey }]);
      expect(w.update(many(3), infoOf, 2)).toEqual([{ type: 'upsert', reason: 'new', peer: expect.objectContaining({ publicKey: device[1].publicKey }) }]);
      // The store lost a peer (Redis flushed and written back without it): the next read puts it back.
      w.seed(w.table().filter((p) => p.publicKey !== device[2].publicKey));
      expect(w.update(many(3), infoOf, 3)).toEqual([{ type: 'upsert', reason: 'new', peer: expect.objectContaining({ publicKey: device[2].publicKey }) }]);
    });
  });
});
