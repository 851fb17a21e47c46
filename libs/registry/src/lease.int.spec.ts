import { connect, NatsConnection } from 'nats';
import { PeerTableLease, openLeaseBucket } from './lease';
import { RegistryBook } from './registries';
import { destroyRegistryState, openRegistryState } from './state';

// The peer-table lease and the registry book against the real NATS JetStream (the tests' shared
// server; a mesh of its own per test, deleted afterwards). Two "registries" are two connections.

const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const key = (n: number) => Buffer.alloc(32, n).toString('base64');

describe('PeerTableLease and RegistryBook (NATS JetStream KV)', () => {
  const conns: NatsConnection[] = [];
  let mesh: string;
  const conn = async () => {
    const nc = await connect({ servers: NATS });
    conns.push(nc);
    return nc;
  };

  beforeEach(() => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  });
  afterEach(async () => {
    await destroyRegistryState(conns[0], mesh);
    await Promise.all(conns.splice(0).map((c) => c.close()));
  });

  it('one holder at a time; a clean release hands it over at once', async () => {
    const a = new PeerTableLease(await openLeaseBucket(await conn(), mesh, { ttlMs: 60_000 }), 'registry', { ttlMs: 60_000 });
    const b = new PeerTableLease(await openLeaseBucket(await conn(), mesh, { ttlMs: 60_000 }), 'registry-b', { ttlMs: 60_000 });
    expect(await a.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    expect(await a.tick()).toBe(true); // renewed
    expect((await b.current())?.holder).toBe('registry');
    await a.release();
    expect(a.held).toBe(false);
    expect(await b.tick()).toBe(true);
    expect(await a.tick()).toBe(false);
  });

  it('a holder that stops renewing loses the lease once it expires; restarted within it, it takes it back', async () => {
    const ttlMs = 1500;
    const a = new PeerTableLease(await openLeaseBucket(await conn(), mesh, { ttlMs }), 'registry', { ttlMs });
    const b = new PeerTableLease(await openLeaseBucket(await conn(), mesh, { ttlMs }), 'registry-b', { ttlMs });
    expect(await a.tick()).toBe(true);
    // a "restart" of a: a new lease object with the same holder, while the entry lives
    const a2 = new PeerTableLease(await openLeaseBucket(await conn(), mesh, { ttlMs }), 'registry', { ttlMs });
    expect(await a2.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    // a2 dies (no more renewals): b takes over after the entry expired
    const deadline = Date.now() + 20_000;
    while (!(await b.tick())) {
      if (Date.now() > deadline) throw new Error('the lease never expired');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await b.current())?.holder).toBe('registry-b');
    expect(await a.tick()).toBe(false); // the old holder's revision is stale: it does not steal it back
  }, 30_000);

  it('records registries in preference order and refuses a second hub with the same address or key', async () => {
    const state = await openRegistryState(await conn(), mesh, { nonceTtlMs: 60_000 });
    const book = new RegistryBook(state.kv);
    await book.register({ id: 'registry-b', publicKey: key(2), endpoint: '203.0.113.3:51820', address: '10.99.0.254' });
    const list = await book.register({ id: 'registry', publicKey: key(1), endpoint: '203.0.113.1:51820', address: '10.99.0.1' });
    expect(list.map((r) => r.id)).toEqual(['registry', 'registry-b']);
    expect((await book.list()).map((r) => r.address)).toEqual(['10.99.0.1', '10.99.0.254']);
    await expect(book.register({ id: 'registry-c', publicKey: key(3), endpoint: '203.0.113.5:51820', address: '10.99.0.1' })).rejects.toThrow(/already has the tunnel address/);
    await expect(book.register({ id: 'registry-c', publicKey: key(1), endpoint: '203.0.113.5:51820', address: '10.99.0.9' })).rejects.toThrow(/already has the hub key/);
    expect((await book.list()).length).toBe(2);
    // a restart of the same registry updates its entry
    await book.register({ id: 'registry-b', publicKey: key(2), endpoint: '203.0.113.4:51820', address: '10.99.0.254' });
    expect((await book.get('registry-b'))?.endpoint).toBe('203.0.113.4:51820');
  });
});
