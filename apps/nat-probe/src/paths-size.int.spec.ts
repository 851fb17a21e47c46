import { MAX_PATH_DECISIONS, parsePathReport, parsePathsGetRequest, parsePathUpdate, PathReportView, PATHS_PAGE_MAX, Patterns, PeerRecord, readPathReport } from '@wgmesh/contracts';
import { MemberPaths } from '@wgmesh/nat-probe';
import { MeshBus } from '@wgmesh/nats-transport';

// A member of a 10,001-member mesh: its whole report (MAX_PATH_DECISIONS decisions, ~2.4 MB, over
// NATS' 1 MiB max_payload, which a reply cannot exceed: the transport chunks requests and events
// only) goes through paged `paths.get` requests on the real NATS (readPathReport), each reply
// accepted by the parser; an update after one change is one small message, and applied to the
// report read it gives the report MemberPaths holds.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const key = (i: number) => {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(i + 1, 0);
  b[31] = 0x5a;
  return b.toString('base64');
};

describe('paths.get at MAX_PATH_DECISIONS decisions over NATS', () => {
  const mesh = `t${Math.random().toString(36).slice(2, 10)}`;
  let bus: MeshBus;

  beforeAll(async () => {
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'paths-size-int-test', node: 'site-0' });
  });
  afterAll(async () => {
    await bus?.close();
  });

  it('reads the whole report in pages, parses it, and follows it with a small update', async () => {
    const n = MAX_PATH_DECISIONS + 1;
    const table: PeerRecord[] = Array.from({ length: n }, (_, i) => ({ publicKey: key(i), name: `site-${i}`, allowedIps: [`10.${(i >> 8) & 255}.${i & 255}.1/32`], endpoint: `198.51.${(i >> 8) & 255}.${i & 255}:51820`, nat: (['eim', 'edm', 'none'] as const)[i % 3] }));
    const m = new MemberPaths({ self: { publicKey: key(0), name: 'site-0' }, registryKey: key(n + 5), startedAt: 1 });
    m.classified({ nat: 'eim' });
    m.table({ type: 'reset', peers: table });
    m.plan({ now: 10_000 });
    m.outgoing(10_000);
    const pages: number[] = [];
    bus.subscribe(Patterns.pathsGet, (req) => {
      const r = parsePathsGetRequest(req);
      const page = m.current(Date.now(), r.peer, r);
      pages.push(Buffer.byteLength(JSON.stringify(page)));
      return page;
    });
    const updates: unknown[] = [];
    bus.subscribe(Patterns.paths, (u) => void updates.push(u));
    await bus.flush();

    // Asked as one (no paging): a first page, and where to go on.
    const first = await bus.request(Patterns.pathsGet, {}, parsePathReport, { timeoutMs: 20_000 });
    expect(first.decisions).toHaveLength(PATHS_PAGE_MAX);
    expect(first.next).toBe(first.decisions.at(-1)!.peer);

    const reply = await readPathReport((req) => bus.request(Patterns.pathsGet, req, parsePathReport, { timeoutMs: 20_000 }));
    expect(reply.decisions).toHaveLength(MAX_PATH_DECISIONS);
    expect(new Set(reply.decisions.map((d) => d.peer)).size).toBe(MAX_PATH_DECISIONS);
    expect(Buffer.byteLength(JSON.stringify(reply))).toBeGreaterThan(1024 * 1024);
    expect(reply).toMatchObject({ node: 'site-0', publicKey: key(0), epoch: 1, seq: 1 });
    expect(reply.next).toBeUndefined();
    expect(pages).toHaveLength(1 + MAX_PATH_DECISIONS / PATHS_PAGE_MAX);
    expect(Math.max(...pages)).toBeLessThan(1024 * 1024 - 4096);

    // One member moves behind another NAT: one update, of that decision alone.
    const j = table.findIndex((p, i) => i > 0 && p.nat === 'eim');
    m.table({ type: 'upsert', peer: { ...table[j]!, nat: 'edm' } });
    m.plan({ now: 10_100 });
    const out = m.outgoing(10_100);
    bus.publish(Patterns.paths, out.update);
    await bus.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(updates).toHaveLength(1);
    const update = parsePathUpdate(updates[0]);
    expect(update.changed.map((d) => d.peer)).toContain(key(j));
    // (also the pairs it follows whose leader's decision it has not had yet: decided again meanwhile)
    expect(update.changed.length).toBeLessThan(MAX_PATH_DECISIONS / 100);
    expect(Buffer.byteLength(JSON.stringify(update))).toBeLessThan(Buffer.byteLength(JSON.stringify(reply)) / 100);
    const view = new PathReportView();
    view.full(reply);
    expect(view.update(update)).toBe('applied');
    expect(new Map(view.report!.decisions.map((d) => [d.peer, d]))).toEqual(new Map(m.decisions().map((d) => [d.peer, d])));
  }, 60_000);
});
