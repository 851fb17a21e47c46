import type { PeerEvent, PeerRecord } from '@wgmesh/contracts';
import { MirrorChange, PeerMirror, PeerTable } from './mirror';

const key = (n: number) => Buffer.alloc(32, n).toString('base64');
const peer = (n: number, port = 51820): PeerRecord => ({ publicKey: key(n), allowedIps: [`10.0.0.${n}/32`], endpoint: `192.0.2.${n}:${port}` });
const upsert = (revision: number, n: number, port?: number): PeerEvent => ({ type: 'upsert', revision, peer: peer(n, port) });
const remove = (revision: number, n: number): PeerEvent => ({ type: 'remove', revision, peer: { publicKey: key(n) } });

/** The authoritative table, and a replica built only from the mirror's changes. */
function setup(initial: PeerTable) {
  let source = initial;
  const loads: string[] = [];
  let release: (() => void) | null = null;
  let block = false;
  const replica = new Map<string, PeerRecord>();
  const changes: MirrorChange[] = [];
  const mirror = new PeerMirror({
    retryMinMs: 1,
    load: async (reason) => {
      loads.push(reason);
      if (block) await new Promise<void>((r) => (release = r));
      return structuredClone(source);
    },
    apply: (c) => {
      changes.push(c);
      if (c.type === 'reset') {
        replica.clear();
        for (const p of c.peers) replica.set(p.publicKey, p);
      } else if (c.type === 'upsert') replica.set(c.peer.publicKey, c.peer);
      else replica.delete(c.publicKey);
    },
  });
  return {
    mirror,
    replica,
    changes,
    loads,
    setSource: (t: PeerTable) => (source = t),
    blockLoads: () => (block = true),
    releaseLoad: () => {
      block = false;
      release?.();
    },
  };
}

describe('PeerMirror', () => {
  it('loads, then applies events in revision order', async () => {
    const t = setup({ revision: 2, peers: [peer(1), peer(2)] });
    await t.mirror.start();
    t.mirror.handle(upsert(3, 3));
    t.mirror.handle(remove(4, 1));
    expect(t.mirror.revision).toBe(4);
    expect([...t.replica.keys()].sort()).toEqual([key(2), key(3)].sort());
  });

  it('owns its table: the same as a replica built from its changes, which see it already applied', async () => {
    const t = setup({ revision: 2, peers: [peer(1), peer(2)] });
    expect(t.mirror.table.size).toBe(0);
    await t.mirror.start();
    expect(t.mirror.table).toEqual(t.replica);
    t.mirror.handle(upsert(3, 3));
    t.mirror.handle(upsert(4, 2, 40000));
    t.mirror.handle(remove(5, 1));
    expect(t.mirror.table).toEqual(t.replica);
    expect(t.mirror.table.get(key(2))?.endpoint).toBe('192.0.2.2:40000');
    // An upsert says what it replaced; a new peer has nothing there.
    expect(t.changes.filter((c) => c.type === 'upsert')).toEqual([
      { type: 'upsert', revision: 3, peer: peer(3) },
      { type: 'upsert', revision: 4, peer: peer(2, 40000), previous: peer(2) },
    ]);
  });

  it('ignores stale and duplicate events', async () => {
    const t = setup({ revision: 5, peers: [peer(1)] });
    await t.mirror.start();
    t.mirror.handle(remove(5, 1));
    t.mirror.handle(remove(3, 1));
    expect(t.replica.has(key(1))).toBe(true);
    expect(t.mirror.stats().stale).toBe(2);
  });

  it('reloads on a revision gap and replays newer buffered events', async () => {
    const t = setup({ revision: 1, peers: [peer(1)] });
    await t.mirror.start();
    // Revisions 2 and 3 are lost; the source now holds them.
    t.setSource({ revision: 3, peers: [peer(1), peer(2), peer(3)] });
    t.mirror.handle(upsert(4, 4));
    await t.mirror.reload('wait');
    expect(t.loads[1]).toMatch(/gap: have 1, got 4/);
    expect(t.mirror.revision).toBe(4);
    expect(t.replica.size).toBe(4);
  });

  it('buffers events during a load and applies only those after the snapshot', async () => {
    const t = setup({ revision: 10, peers: [peer(1)] });
    t.blockLoads();
    const started = t.mirror.start();
    t.mirror.handle(upsert(9, 9)); // older than the snapshot: dropped
    t.mirror.handle(upsert(12, 3, 1000)); // out of order while loading
    t.mirror.handle(upsert(11, 2));
    t.releaseLoad();
    await started;
    expect(t.mirror.revision).toBe(12);
    expect(t.replica.has(key(9))).toBe(false);
    expect(t.replica.get(key(3))?.endpoint).toBe('192.0.2.3:1000');
  });

  it('reloads when the revision restarts at 1', async () => {
    const t = setup({ revision: 50, peers: [peer(1), peer(2)] });
    await t.mirror.start();
    t.setSource({ revision: 1, peers: [peer(7)] });
    t.mirror.handle(upsert(1, 7));
    await t.mirror.reload('wait');
    expect(t.mirror.revision).toBe(1);
    expect([...t.replica.keys()]).toEqual([key(7)]);
  });

  it('keeps its table when a reload returns an older one (the source lost it), and takes the source once it has it back', async () => {
    const t = setup({ revision: 9, peers: [peer(1), peer(2)] });
    await t.mirror.start();
    t.setSource({ revision: 0, peers: [] }); // Redis flushed: empty until the registry writes the table back
    const reloading = t.mirror.reload('nats reconnected');
    await new Promise((r) => setTimeout(r, 20));
    expect(t.mirror.stats().olderTables).toBeGreaterThan(0);
    expect(t.replica.size).toBe(2); // nothing dropped meanwhile
    t.setSource({ revision: 9, peers: [peer(1), peer(2)] });
    await reloading;
    expect(t.mirror.revision).toBe(9);
    expect(t.changes.filter((c) => c.type === 'reset').map((c) => (c as { peers: unknown[] }).peers.length)).toEqual([2, 2]);
  });

  it('takes an older table after the grace period, or at once after a revision restart', async () => {
    const source: PeerTable = { revision: 3, peers: [peer(3)] };
    const mirror = new PeerMirror({ retryMinMs: 1, retryMaxMs: 2, regressionGraceMs: 30, load: async () => structuredClone(source), apply: () => undefined });
    source.revision = 8;
    await mirror.start();
    source.revision = 3;
    const started = Date.now();
    await mirror.reload('dns-sd disagrees');
    expect(Date.now() - started).toBeGreaterThanOrEqual(30);
    expect(mirror.revision).toBe(3);

    const t = setup({ revision: 40, peers: [peer(1)] });
    await t.mirror.start();
    t.setSource({ revision: 2, peers: [peer(5), peer(6)] });
    t.mirror.handle(upsert(1, 5)); // the registry started over from an empty store
    await t.mirror.reload('wait');
    expect(t.mirror.revision).toBe(2);
    expect(t.mirror.stats().olderTables).toBe(0);
  });

  it('retries a failing load until it succeeds', async () => {
    let failures = 2;
    const applied: MirrorChange[] = [];
    const mirror = new PeerMirror({
      retryMinMs: 1,
      load: async () => {
        if (failures-- > 0) throw new Error('redis down');
        return { revision: 7, peers: [] };
      },
      apply: (c) => applied.push(c),
    });
    await mirror.start();
    expect(mirror.stats().loadFailures).toBe(2);
    expect(applied).toEqual([{ type: 'reset', revision: 7, peers: [] }]);
  });

  it('survives a flood of events during a load by reloading', async () => {
    const t = setup({ revision: 0, peers: [] });
    const table: PeerTable = { revision: 0, peers: [] };
    t.blockLoads();
    const started = t.mirror.start();
    for (let r = 1; r <= 25_000; r++) t.mirror.handle(upsert(r, (r % 200) + 1, 1000 + (r % 50000)));
    table.revision = 25_000;
    table.peers = Array.from({ length: 200 }, (_, i) => peer(i + 1, 42));
    t.setSource(table);
    t.releaseLoad();
    await started;
    expect(t.loads).toHaveLength(2); // the overflowed buffer forced a second load
    expect(t.mirror.revision).toBe(25_000);
    expect(t.replica.size).toBe(200);
  });
});
