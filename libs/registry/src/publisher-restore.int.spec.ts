import type { PeerEvent } from '@wgmesh/contracts';
import { PeerStore } from '@wgmesh/peer-store';
import { Redis } from 'ioredis';
import { PeerPublisher } from './publisher';

// The publisher keeps the table it wrote, so a store that lost it (Redis flushed or restarted
// empty; played here by deleting this test's own keys) gets it back at the same revision, and
// the revision of what it publishes never goes back.
const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const peer = (n: number, port = 51820) => ({ publicKey: key(n), allowedIps: [`10.0.0.${n}/32`], endpoint: `192.0.2.${n}:${port}` });
const sortByKey = <T extends { publicKey: string }>(ps: T[]) => [...ps].sort((a, b) => a.publicKey.localeCompare(b.publicKey));

describe('PeerPublisher when the store loses the table (Redis)', () => {
  const redis = new Redis(process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379');
  const store = new PeerStore(redis, `t${process.pid}pr${Date.now() % 100000}`);
  const events: PeerEvent[] = [];
  const publisher = new PeerPublisher(store, (e) => void events.push(e));
  afterAll(async () => {
    await store.clear();
    redis.disconnect();
  });

  it('sync() writes the known table back at its revision', async () => {
    await store.upsert(peer(1)); // written before this publisher existed
    expect(await publisher.sync()).toMatchObject({ revision: 1, restored: false });
    for (let n = 2; n <= 4; n++) await publisher.upsert(peer(n));
    await publisher.remove(key(1));
    expect(publisher.revision).toBe(5);
    expect(await publisher.lost()).toBe(false);
    await store.clear();
    expect(await publisher.lost()).toBe(true);
    const synced = await publisher.sync();
    expect(synced.restored).toBe(true);
    expect(synced.revision).toBe(5);
    expect(sortByKey(synced.peers)).toEqual(sortByKey([peer(2), peer(3), peer(4)]));
    expect(await store.revision()).toBe(5);
    expect(events.map((e) => e.revision)).toEqual([2, 3, 4, 5]); // a restore publishes nothing
  });

  it('a write that lands on the emptied store puts the table back with it, at the next revision', async () => {
    events.length = 0;
    await store.clear();
    expect(await publisher.upsert(peer(7))).toBe(6);
    expect(events).toEqual([{ type: 'upsert', revision: 6, peer: peer(7) }]);
    const snap = await store.snapshot();
    expect(snap.revision).toBe(6);
    expect(sortByKey(snap.peers)).toEqual(sortByKey([peer(2), peer(3), peer(4), peer(7)]));
    // A removal too (on an emptied store it would otherwise find nothing to remove and publish nothing).
    await store.clear();
    expect(await publisher.remove(key(2))).toBe(7);
    expect(events.at(-1)).toEqual({ type: 'remove', revision: 7, peer: { publicKey: key(2) } });
    expect(sortByKey((await store.snapshot()).peers)).toEqual(sortByKey([peer(3), peer(4), peer(7)]));
  });

  it('does not trust its copy once someone else wrote: sync() then takes the store as it is', async () => {
    await store.upsert(peer(20)); // another writer: revision 8
    expect(await publisher.upsert(peer(21))).toBe(9); // not 8 + ours: our copy is now incomplete
    await store.clear();
    expect(await publisher.lost()).toBe(false);
    expect(await publisher.sync()).toMatchObject({ revision: 0, peers: [], restored: false });
  });

  it('republishLast() sends the last event again', async () => {
    await publisher.upsert(peer(30));
    const last = events.at(-1);
    await publisher.republishLast();
    expect(events.at(-1)).toEqual(last);
    expect(events.at(-2)).toEqual(last);
  });
});
