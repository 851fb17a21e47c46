import { waitFor } from '@wgmesh/testing';
import { connect, NatsConnection } from 'nats';
import { PrefixWatch } from './kv-watch';
import { destroyRegistryState, openRegistryState } from './state';

// PrefixWatch against the real NATS JetStream KV (the tests' shared server; a mesh of its own,
// deleted afterwards).

const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';

describe('PrefixWatch (NATS JetStream KV)', () => {
  let nc: NatsConnection;
  let mesh: string;
  let watch: PrefixWatch | undefined;

  beforeEach(async () => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
    nc = await connect({ servers: NATS });
  });
  afterEach(async () => {
    watch?.stop();
    await destroyRegistryState(nc, mesh);
    await nc.close();
  });

  const follow = async (kv: Awaited<ReturnType<typeof openRegistryState>>['kv']) => {
    const seen = { initials: [] as string[][], puts: [] as string[], dels: [] as string[], now: new Map<string, string>() };
    watch = new PrefixWatch(kv, 'members', {
      initial: (entries) => {
        seen.initials.push([...entries.keys()].sort());
        seen.now = new Map([...entries].map(([k, e]) => [k, e.string()]));
      },
      put: (e) => (seen.puts.push(e.key), seen.now.set(e.key, e.string())),
      del: (k) => (seen.dels.push(k), seen.now.delete(k)),
      failed: () => undefined,
    });
    await watch.start();
    return seen;
  };

  it('starts from the live keys under the prefix only, then follows puts and deletes', async () => {
    const { kv } = await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 });
    await kv.put('members.a', '1');
    await kv.put('members.b', '1');
    await kv.put('members.a', '2');
    await kv.delete('members.b');
    await kv.put('keys.x', 'not a member');
    const seen = await follow(kv);
    expect(seen.initials).toEqual([['members.a']]);
    expect(seen.now.get('members.a')).toBe('2');
    await kv.put('members.c', '1');
    await kv.delete('members.a');
    await kv.put('keys.y', 'not a member');
    await waitFor('the changes', () => seen.dels.length === 1);
    expect(seen.puts).toEqual(['members.c']);
    expect(seen.dels).toEqual(['members.a']);
    expect([...seen.now.keys()]).toEqual(['members.c']);
  });

  it('an empty prefix gives an empty initial at once; restart() reads everything again', async () => {
    const { kv } = await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 });
    const seen = await follow(kv);
    expect(seen.initials).toEqual([[]]);
    await kv.put('members.a', '1');
    await waitFor('the put', () => seen.puts.length === 1);
    watch!.restart();
    await waitFor('a second initial', () => seen.initials.length === 2);
    expect(seen.initials[1]).toEqual(['members.a']);
    await kv.put('members.b', '1');
    await waitFor('the put after the restart', () => seen.puts.includes('members.b'));
  });
});
