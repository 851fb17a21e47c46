import { PeerStore } from '@wgmesh/peer-store';
import { Redis } from 'ioredis';
import { BenchPeer, toPeerRecord } from './peers';

const CHUNK = 500;

export interface SeededMesh {
  mesh: string;
  /** Deletes the mesh's keys and closes the Redis connection. */
  clear(): Promise<void>;
}

/** Writes `peers` into a fresh mesh's peer table (through peer-store, in pipelined chunks). */
export async function seedMesh(redisUrl: string, mesh: string, peers: readonly BenchPeer[]): Promise<SeededMesh> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  const store = new PeerStore(redis, mesh);
  const clear = async () => {
    try {
      await store.clear();
    } finally {
      redis.disconnect();
    }
  };
  try {
    await store.clear();
    for (let i = 0; i < peers.length; i += CHUNK) {
      await Promise.all(peers.slice(i, i + CHUNK).map((p) => store.upsert(toPeerRecord(p))));
    }
    const revision = await store.revision();
    if (revision !== peers.length) throw new Error(`seeded ${peers.length} peers but the revision is ${revision}`);
  } catch (err) {
    await clear();
    throw err;
  }
  return { mesh, clear };
}

/** A mesh name nobody else uses: lowercase letters and digits. */
export function uniqueMeshName(): string {
  return `bench${Date.now() % 100000}${Math.floor(Math.random() * 1000)}`;
}
