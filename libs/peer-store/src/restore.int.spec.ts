import { Redis } from 'ioredis';
import { PeerStore } from './peer-store';

// PeerStore.restore against the real Redis: a table written back in one step, only over a store
// that went back (its own keys are deleted here to play a FLUSHALL; the shared Redis is not flushed).
const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const peer = (n: number, port = 51820) => ({ publicKey: key(n), allowedIps: [`10.0.0.${n}/32`], endpoint: `192.0.2.${n}:${port}` });

describe('PeerStore.restore (Redis)', () => {
  const redis = new Redis(process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379');
  const store = new PeerStore(redis, `t${process.pid}rst${Date.now() % 100000}`);
  afterAll(async () => {
    await store.clear();
    redis.disconnect();
  });

  it('writes a lost table back at its revision, in one step', async () => {
    for (let n = 1; n <= 5; n++) await store.upsert(peer(n));
    const before = await store.snapshot();
    expect(before.revision).toBe(5);
    await store.clear(); // lost
    expect(await store.restore(before.peers, 5)).toEqual({ changed: true, revision: 5 });
    const after = await store.snapshot();
    expect(after.revision).toBe(5);
    expect(after.peers.sort((a, b) => a.publicKey.localeCompare(b.publicKey))).toEqual(before.peers.sort((a, b) => a.publicKey.localeCompare(b.publicKey)));
    // The next write goes on from there.
    expect(await store.upsert(peer(6))).toEqual({ changed: true, revision: 6 });
  });

  it('replaces whatever was written after the loss, and never writes over a store at or past the revision', async () => {
    await store.clear();
    await store.upsert(peer(9)); // a write that landed on the emptied store: revision 1
    expect(await store.restore([peer(1), peer(2)], 7)).toEqual({ changed: true, revision: 7 });
    expect((await store.snapshot()).peers.map((p) => p.publicKey).sort()).toEqual([key(1), key(2)].sort());
    expect(await store.restore([peer(3)], 7)).toEqual({ changed: false, revision: 7 });
    expect(await store.restore([peer(3)], 5)).toEqual({ changed: false, revision: 7 });
    expect((await store.snapshot()).peers).toHaveLength(2);
    await expect(store.restore([], 0)).rejects.toThrow(/revision 0/);
    await expect(store.restore([{ ...peer(1), publicKey: 'nope' }], 9)).rejects.toThrow();
  });

  it('restores 10,000 peers in one call', async () => {
    await store.clear();
    const peers = Array.from({ length: 10_000 }, (_, i) => ({ publicKey: Buffer.from(`${String(i).padStart(31, '0')}x`).toString('base64'), allowedIps: [`10.1.${i >> 8}.${i & 255}/32`], endpoint: `192.0.2.1:${10000 + i}` }));
    expect(await store.restore(peers, 12_345)).toEqual({ changed: true, revision: 12_345 });
    const snap = await store.snapshot();
    expect(snap.revision).toBe(12_345);
    expect(snap.peers).toHaveLength(10_000);
  });
});
