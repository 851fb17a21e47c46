import { ContractError, PeerRecord } from '@wgmesh/contracts';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { Redis } from 'ioredis';
import { PeerStore, PeerStoreError } from './index';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const newKey = () => keyToBase64(publicKeyFromPrivate(generatePrivateKey()));
const newPeer = (n: number, extra: Partial<PeerRecord> = {}): PeerRecord => ({
  publicKey: newKey(),
  allowedIps: [`10.99.${n >> 8}.${n & 255}/32`],
  endpoint: `192.0.2.${(n % 250) + 1}:51820`,
  ...extra,
});

describe('PeerStore (Redis)', () => {
  let redis: Redis;
  let other: Redis;
  let mesh: string;
  let store: PeerStore;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    other = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await Promise.all([redis.quit(), other.quit()]);
  });
  beforeEach(() => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
    store = new PeerStore(redis, mesh);
  });
  afterEach(async () => {
    await store.clear();
    expect(await redis.exists(store.keys.peers, store.keys.revision)).toBe(0);
  });

  it('starts empty at revision 0', async () => {
    expect(await store.revision()).toBe(0);
    expect(await store.snapshot()).toEqual({ revision: 0, peers: [] });
    expect(await store.snapshotPage(0, 10)).toEqual({ revision: 0, peers: [], nextCursor: null });
  });

  it('bumps the revision once per real change', async () => {
    const a = newPeer(1);
    const b = newPeer(2);
    expect(await store.upsert(a)).toEqual({ revision: 1, changed: true });
    expect(await store.upsert(b)).toEqual({ revision: 2, changed: true });
    expect(await store.upsert({ ...a, endpoint: '198.51.100.9:4242' })).toEqual({ revision: 3, changed: true });
    expect(await store.remove(b.publicKey)).toEqual({ revision: 4, changed: true });
    expect(await store.remove(b.publicKey)).toEqual({ revision: 4, changed: false });
    expect(await store.revision()).toBe(4);
    expect(await store.snapshot()).toEqual({ revision: 4, peers: [{ ...a, endpoint: '198.51.100.9:4242' }] });
  });

  it('treats an identical record as a no-op, whatever its field order or spelling', async () => {
    const a = newPeer(3, { name: 'site-a', nat: 'eim' });
    expect(await store.upsert(a)).toEqual({ revision: 1, changed: true });
    const reordered = { nat: 'eim', name: 'site-a', endpoint: a.endpoint, allowedIps: ['10.99.0.3'], publicKey: a.publicKey } as PeerRecord;
    expect(await store.upsert(reordered)).toEqual({ revision: 1, changed: false });
    expect(await store.revision()).toBe(1);
  });

  it('validates what it stores and never stores unknown fields', async () => {
    await expect(store.upsert({ ...newPeer(4), privateKey: 'x' } as PeerRecord)).rejects.toThrow(ContractError);
    await expect(store.upsert({ ...newPeer(4), endpoint: '127.0.0.1:1' })).rejects.toThrow(/loopback/);
    await expect(store.remove('nope')).rejects.toThrow(ContractError);
    expect(await store.revision()).toBe(0);
    expect(() => new PeerStore(redis, 'Bad.Mesh')).toThrow(/mesh/);
  });

  it('gives concurrent upserts from two clients distinct consecutive revisions', async () => {
    const second = new PeerStore(other, mesh);
    const peers = Array.from({ length: 60 }, (_, i) => newPeer(i + 10));
    const results = await Promise.all(peers.map((p, i) => (i % 2 ? store : second).upsert(p)));
    expect(results.every((r) => r.changed)).toBe(true);
    expect(results.map((r) => r.revision).sort((x, y) => x - y)).toEqual(peers.map((_, i) => i + 1));
    const snap = await second.snapshot();
    expect(snap.revision).toBe(60);
    expect(snap.peers).toHaveLength(60);
  });

  it('reads a snapshot at one revision while writers race it', async () => {
    const writes = Array.from({ length: 40 }, (_, i) => store.upsert(newPeer(i + 100)));
    const snaps: { revision: number; peers: PeerRecord[] }[] = [];
    for (let i = 0; i < 10; i++) snaps.push(await new PeerStore(other, mesh).snapshot());
    await Promise.all(writes);
    // With one peer added per revision, a consistent snapshot has exactly `revision` peers.
    for (const s of [...snaps, await store.snapshot()]) expect(s.peers).toHaveLength(s.revision);
  });

  it('serves sorted pages with a cursor', async () => {
    const peers = Array.from({ length: 5 }, (_, i) => newPeer(i + 200));
    for (const p of peers) await store.upsert(p);
    const sorted = peers.map((p) => p.publicKey).sort();
    const first = await store.snapshotPage(0, 2);
    const second = await store.snapshotPage(first.nextCursor!, 2);
    const third = await store.snapshotPage(second.nextCursor!, 2);
    expect([first.nextCursor, second.nextCursor, third.nextCursor]).toEqual([2, 4, null]);
    expect([...first.peers, ...second.peers, ...third.peers].map((p) => p.publicKey)).toEqual(sorted);
    expect(third.revision).toBe(5);
  });

  it('serves pages from one read per revision, and sees another writer’s change at once', async () => {
    const reader = new PeerStore(other, mesh);
    await store.upsert(newPeer(300));
    const reads = jest.spyOn(reader, 'snapshot');
    const pages = await Promise.all(Array.from({ length: 20 }, () => reader.snapshotPage(0, 10)));
    expect(reads).toHaveBeenCalledTimes(1);
    expect(new Set(pages.map((p) => p.revision))).toEqual(new Set([1]));
    const added = newPeer(301);
    await store.upsert(added); // through another client: the revision moves, the copy is dropped
    const next = await reader.snapshotPage(0, 10);
    expect(next.revision).toBe(2);
    expect(next.peers.map((p) => p.publicKey)).toContain(added.publicKey);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('skips and reports invalid stored entries', async () => {
    const invalid: [string, Error][] = [];
    store = new PeerStore(redis, mesh, { onInvalid: (key, err) => invalid.push([key, err]) });
    const good = newPeer(5);
    const moved = newPeer(6);
    await store.upsert(good);
    await redis.hset(store.keys.peers, 'garbage', '{not json', moved.publicKey, JSON.stringify(newPeer(7)), 'k', '{"publicKey":1}');
    const snap = await store.snapshot();
    expect(snap.peers).toEqual([good]);
    expect(invalid.map(([k]) => k).sort()).toEqual(['garbage', 'k', moved.publicKey].sort());
    expect(invalid.find(([k]) => k === 'garbage')![1]).toBeInstanceOf(ContractError);
    expect(invalid.find(([k]) => k === moved.publicKey)![1]).toBeInstanceOf(PeerStoreError);
  });

  it('refuses a corrupt revision with a named error', async () => {
    await redis.set(store.keys.revision, 'eleven');
    await expect(store.revision()).rejects.toThrow(PeerStoreError);
    await expect(store.snapshot()).rejects.toThrow(/not a non-negative integer/);
  });
});
