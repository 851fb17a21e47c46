import type { DesiredPeer, PeerRecord } from '@wgmesh/contracts';
import { desiredPeers, DesiredOptions } from './desired';
import { DesiredSet } from './desired-set';
import { refusedPeers } from './guard';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const ctx = { meshCidr: '10.99.0.0/16', registryAddress: '10.99.0.1', selfAddress: '10.99.0.2/32', selfKey: key(2), registryKey: key(1) };
const peer = (n: number, extra: Partial<PeerRecord> = {}): PeerRecord => ({ publicKey: key(n), allowedIps: [`10.99.0.${n}/32`], endpoint: `198.51.100.${n}:51820`, name: `m${n}`, ...extra });

/** The whole computation the member did on every change before: guard over the table, then desiredPeers. */
function whole(table: Map<string, PeerRecord>, opts: DesiredOptions) {
  const peers = [...table.values()];
  const refused = refusedPeers(peers, ctx);
  return { refused, desired: desiredPeers(peers.filter((p) => !refused.has(p.publicKey)), { publicKey: ctx.selfKey }, opts) };
}

/** A device fed only with deltas (and a whole set at first): must end up with the whole desired set. */
function applyTo(device: Map<string, DesiredPeer>, set: DesiredSet) {
  if (set.needsWhole) {
    device.clear();
    const peers = set.list();
    for (const p of peers) device.set(p.publicKey, p);
    set.commitWhole(peers, set.version);
    return;
  }
  const d = set.delta();
  for (const k of d.remove) device.delete(k);
  for (const p of d.upsert) device.set(p.publicKey, p);
  set.commit(d);
}

describe('DesiredSet: the desired peers kept incrementally', () => {
  const opts: DesiredOptions = { keepalive: 25, registryKey: ctx.registryKey };

  it('after every random change equals the guard + desiredPeers over the whole table, and its deltas keep a device equal to it', () => {
    // Deterministic pseudo-random changes: endpoints move, peers come and go, clash on an
    // address, leave the mesh, claim a routed prefix (the guard's slow path) and drop it again.
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const table = new Map<string, PeerRecord>();
    for (let n = 1; n <= 40; n++) table.set(key(n), peer(n));
    const set = new DesiredSet(ctx, opts);
    set.reset([...table.values()]);
    const device = new Map<string, DesiredPeer>();
    applyTo(device, set);
    for (let step = 0; step < 600; step++) {
      const n = 1 + rand(45);
      const op = rand(10);
      if (op === 0) {
        table.delete(key(n));
        set.remove(key(n));
      } else {
        const ips = [[`10.99.0.${n}/32`], [`10.99.0.${1 + rand(45)}/32`], [`10.98.0.${n}/32`], [`10.99.${n}.0/24`], [], [`10.99.0.${n}/32`, `10.99.1.${n}/32`]][op < 5 ? 0 : rand(6)];
        const p = peer(n, { allowedIps: ips, endpoint: rand(8) === 0 ? null : `198.51.100.${n}:${20000 + rand(3)}` });
        table.set(p.publicKey, p);
        set.upsert(p);
      }
      const expected = whole(table, opts);
      expect([...set.refused.keys()].sort()).toEqual([...expected.refused.keys()].sort());
      expect(set.list()).toEqual(expected.desired);
      if (rand(3) === 0) {
        applyTo(device, set);
        expect([...device.values()].sort((a, b) => (a.publicKey < b.publicKey ? -1 : 1))).toEqual(expected.desired);
      }
    }
  });

  it('hands out only what changed: one moved endpoint is one upsert, marked moved', () => {
    const set = new DesiredSet(ctx, opts);
    set.reset([3, 4, 5].map((n) => peer(n)));
    expect(set.needsWhole).toBe(true);
    set.commitWhole(set.list(), set.version);
    expect(set.delta()).toEqual({ upsert: [], remove: [], moved: [], at: expect.any(Number) });
    set.upsert(peer(4, { endpoint: '203.0.113.4:4000' }));
    expect(set.delta()).toEqual({ upsert: [{ publicKey: key(4), endpoint: '203.0.113.4:4000', allowedIps: ['10.99.0.4/32'], persistentKeepalive: 25 }], remove: [], moved: [key(4)], at: expect.any(Number) });
    set.commit(set.delta());
    set.remove(key(5));
    set.upsert(peer(6));
    expect(set.delta()).toEqual({ upsert: [expect.objectContaining({ publicKey: key(6) })], remove: [key(5)], moved: [], at: expect.any(Number) });
  });

  it('keeps a change made while an apply was in flight for the next delta', () => {
    const set = new DesiredSet(ctx, opts);
    set.reset([3, 4].map((n) => peer(n)));
    set.commitWhole(set.list(), set.version);
    set.upsert(peer(3, { endpoint: '203.0.113.3:1' }));
    const sent = set.delta();
    set.upsert(peer(4, { endpoint: '203.0.113.4:1' })); // arrives during the apply
    set.upsert(peer(3, { endpoint: '203.0.113.3:2' }));
    set.commit(sent);
    expect(set.delta().upsert.map((p) => p.endpoint).sort()).toEqual(['203.0.113.3:2', '203.0.113.4:1']);
    const whole = set.list();
    const at = set.version;
    set.upsert(peer(5)); // during a whole apply
    set.commitWhole(whole, at);
    expect(set.delta().upsert.map((p) => p.publicKey)).toEqual([key(5)]);
  });

  it('a clash refuses both peers (their removal in the delta) and lifting it brings the other back', () => {
    const set = new DesiredSet(ctx, opts);
    set.reset([3, 4].map((n) => peer(n)));
    set.commitWhole(set.list(), set.version);
    set.upsert(peer(5, { allowedIps: ['10.99.0.4/32'] }));
    expect(set.takeNewlyRefused().map(([k]) => k).sort()).toEqual([key(4), key(5)].sort());
    expect(set.delta().remove).toEqual([key(4)]); // (5 was never on the device)
    set.commit(set.delta());
    set.upsert(peer(5));
    expect(set.delta().upsert.map((p) => p.publicKey).sort()).toEqual([key(4), key(5)].sort());
  });

  it('leaves undecided peers alone, and removes one the last whole apply left alone once it is no longer kept (a whole set would)', () => {
    const decided = new Set([key(3)]);
    const set = new DesiredSet(ctx, { ...opts, decided });
    set.reset([3, 4, 5].map((n) => peer(n)));
    set.commitWhole(set.list(), set.version, [key(4), key(5)]); // 4 and 5 undecided: left as the device has them
    set.upsert(peer(4, { endpoint: '203.0.113.4:1' }));
    expect(set.delta((k) => k === key(4))).toEqual({ upsert: [], remove: [], moved: [], at: expect.any(Number) });
    set.remove(key(4));
    set.remove(key(6)); // never on the device: nothing to send
    expect(set.delta(() => false).remove).toEqual([key(4)]);
  });

  it('never wants another registry of the mesh as a member', () => {
    const set = new DesiredSet(ctx, opts, new Set([ctx.registryKey, key(9)]));
    set.reset([3, 9].map((n) => peer(n)));
    expect(set.list().map((p) => p.publicKey)).toEqual([key(3)]);
    set.upsert(peer(9, { endpoint: '203.0.113.9:1' }));
    expect(set.delta().upsert.map((p) => p.publicKey)).toEqual([key(3)]); // (3 from the reset, never applied; not 9)
  });

  it('new options recompute every entry', () => {
    const set = new DesiredSet(ctx, opts);
    set.reset([3, 4, 5].map((n) => peer(n)));
    set.commitWhole(set.list(), set.version);
    set.setOptions({ ...opts, relayed: new Set([key(4)]), attempt: new Set(), punched: new Set([key(5)]) });
    const table = new Map([3, 4, 5].map((n) => [key(n), peer(n)]));
    expect(set.list()).toEqual(whole(table, { ...opts, relayed: new Set([key(4)]), punched: new Set([key(5)]) }).desired);
    expect(set.delta()).toEqual({ upsert: [expect.objectContaining({ publicKey: key(5), endpoint: null })], remove: [key(4)], moved: [], at: expect.any(Number) });
  });
});
