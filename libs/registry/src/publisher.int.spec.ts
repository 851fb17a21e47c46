import type { PeerEvent } from '@wgmesh/contracts';
import { PeerStore } from '@wgmesh/peer-store';
import { Redis } from 'ioredis';
import { PeerPublisher } from './publisher';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const peer = (n: number, port = 51820) => ({ publicKey: key(n), allowedIps: [`10.0.0.${n}/32`], endpoint: `192.0.2.${n}:${port}` });

describe('PeerPublisher (Redis)', () => {
  const redis = new Redis(process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379');
  const store = new PeerStore(redis, `t${process.pid}pub${Date.now() % 100000}`);
  afterAll(async () => {
    await store.clear();
    redis.disconnect();
  });

  it('publishes each real change once, in revision order', async () => {
    const events: PeerEvent[] = [];
    const publisher = new PeerPublisher(store, (e) => {
      events.push(e);
    });
    await Promise.all(Array.from({ length: 50 }, (_, i) => publisher.upsert(peer((i % 10) + 1, 1000 + i))));
    expect(await publisher.upsert(peer(1, 1040))).toBeNull(); // identical to the last write for peer 1
    expect(await publisher.remove(key(99))).toBeNull();
    expect(await publisher.remove(key(2))).toBe(51);
    expect(events.map((e) => e.revision)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(events.at(-1)).toEqual({ type: 'remove', revision: 51, peer: { publicKey: key(2) } });
    const snapshot = await store.snapshot();
    expect(snapshot.revision).toBe(51);
    expect(snapshot.peers).toHaveLength(9);
  });

  it('keeps going after a failed publish', async () => {
    let fail = true;
    const publisher = new PeerPublisher(store, () => {
      if (fail) throw new Error('nats down');
    });
    await expect(publisher.upsert(peer(20))).rejects.toThrow('nats down');
    fail = false;
    await expect(publisher.upsert(peer(21))).resolves.toBeGreaterThan(0);
  });
});
