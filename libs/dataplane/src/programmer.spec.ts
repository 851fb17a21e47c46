import type { DataplaneApplyRequest } from '@wgmesh/contracts';
import { coalesceRequests, DataplaneProgrammer, pokes, PUNCH_PAUSE_MS, PunchUnsupportedError } from './programmer';
import { MemoryDriver, testKey, testPeer } from './testing';

describe('coalesceRequests', () => {
  const [p1, p2, p3, p4] = [testPeer(1), testPeer(2), testPeer(3), testPeer(4)];

  it.each([
    ['the newest replace discards what came before it', [{ peers: [p1], replace: false }, { peers: [p2], replace: true }, { peers: [p3], replace: true }], { peers: [p3], replace: true }],
    ['upserts after a replace join it', [{ peers: [p1], replace: true }, { peers: [p2], replace: false }], { peers: [p1, p2], replace: true }],
    ['a removal after a replace drops the peer', [{ peers: [p1, p2], replace: true }, { peers: [], replace: false, remove: [p1.publicKey] }], { peers: [p2], replace: true }],
    ['upsert then removal: removed', [{ peers: [p1], replace: false }, { peers: [], replace: false, remove: [p1.publicKey] }], { peers: [], replace: false, remove: [p1.publicKey] }],
    ['removal then upsert: upserted', [{ peers: [], replace: false, remove: [p1.publicKey] }, { peers: [p1], replace: false }], { peers: [p1], replace: false }],
    [
      'a key upserted and removed in one request stays',
      [{ peers: [p1], replace: false, remove: [p1.publicKey, p4.publicKey] }, { peers: [p3], replace: false }],
      { peers: [p1, p3], replace: false, remove: [p4.publicKey] },
    ],
    ['pokes of every request are kept, once', [{ peers: [p1], replace: true, poke: [p1.publicKey] }, { peers: [], replace: false, poke: [p1.publicKey, p2.publicKey] }], { peers: [p1], replace: true, poke: [p1.publicKey, p2.publicKey] }],
    [
      'punches of every request in order, the later of one peer replacing the earlier',
      [
        { peers: [], replace: false, punch: [{ publicKey: p1.publicKey, endpoints: ['198.51.100.1:1'], allowedIps: [], persistentKeepalive: 25 }] },
        { peers: [p2], replace: true, punch: [{ publicKey: p3.publicKey, endpoints: ['198.51.100.3:3'], allowedIps: [], persistentKeepalive: 25 }] },
        { peers: [], replace: false, punch: [{ publicKey: p1.publicKey, endpoints: ['198.51.100.1:2'], allowedIps: [], persistentKeepalive: 5 }] },
      ],
      {
        peers: [p2],
        replace: true,
        punch: [
          { publicKey: p3.publicKey, endpoints: ['198.51.100.3:3'], allowedIps: [], persistentKeepalive: 25 },
          { publicKey: p1.publicKey, endpoints: ['198.51.100.1:2'], allowedIps: [], persistentKeepalive: 5 },
        ],
      },
    ],
    ['the newest replace brings its keep list', [{ peers: [p1], replace: true, keep: [p4.publicKey] }, { peers: [p2], replace: true, keep: [p3.publicKey] }, { peers: [], replace: false }], { peers: [p2], replace: true, keep: [p3.publicKey] }],
    ['the newest revision is kept', [{ peers: [p1], replace: false, revision: 4 }, { peers: [p2], replace: false, revision: 9 }, { peers: [], replace: false }], { peers: [p1, p2], replace: false, revision: 9 }],
  ] as [string, DataplaneApplyRequest[], DataplaneApplyRequest][])('%s', (_what, requests, want) => {
    expect(coalesceRequests(requests)).toEqual(want);
  });

  it('a later upsert of the same key replaces the earlier one', () => {
    const moved = { ...p1, endpoint: '203.0.113.1:1' };
    expect(coalesceRequests([{ peers: [p1, p2], replace: true }, { peers: [moved], replace: false }]).peers).toEqual([moved, p2]);
  });
});

describe('DataplaneProgrammer', () => {
  it('applies a diff once, then reports an identical request as unchanged without touching the device', async () => {
    const driver = new MemoryDriver();
    const changed: unknown[] = [];
    const programmer = new DataplaneProgrammer({ driver, onChanged: (r) => changed.push(r) });
    const req = { peers: [testPeer(1), testPeer(2), testPeer(3)], replace: true, revision: 7 };
    expect(await programmer.apply(req)).toMatchObject({ added: 3, updated: 0, removed: 0, unchanged: 0, revision: 7 });
    expect(await programmer.apply(req)).toMatchObject({ added: 0, updated: 0, removed: 0, unchanged: 3, revision: 7 });
    expect(driver.applied).toHaveLength(1);
    expect(changed).toHaveLength(1);
  });

  it('never removes a protected peer', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver, protect: [testKey(100)] });
    await programmer.apply({ peers: [testPeer(100), testPeer(1)], replace: true });
    expect(await programmer.apply({ peers: [], replace: true })).toMatchObject({ removed: 1 });
    expect(await programmer.apply({ peers: [], replace: false, remove: [testKey(100)] })).toMatchObject({ removed: 0 });
    expect([...driver.peers.keys()]).toEqual([testKey(100)]);
  });

  it('protects the keys setProtect gives from then on, and no longer the ones it leaves out', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver, protect: [testKey(100)] });
    await programmer.apply({ peers: [testPeer(100), testPeer(101), testPeer(1)], replace: true });
    programmer.setProtect([testKey(101)]);
    expect(await programmer.apply({ peers: [], replace: true })).toMatchObject({ removed: 2 });
    expect([...driver.peers.keys()]).toEqual([testKey(101)]);
  });

  it('leaves the peers a replace asks to keep as they are, and does not add them', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [testPeer(1), testPeer(2)], replace: true });
    expect(await programmer.apply({ peers: [testPeer(3)], replace: true, keep: [testKey(2), testKey(4)] })).toMatchObject({ added: 1, removed: 1 });
    expect([...driver.peers.keys()].sort()).toEqual([testKey(2), testKey(3)].sort());
  });

  it('runs one batch at a time and merges the requests that waited into one apply, answering each', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    let release!: () => void;
    driver.gate = new Promise((r) => (release = r));
    const first = programmer.apply({ peers: [testPeer(1)], replace: true, revision: 1 });
    await new Promise((r) => setImmediate(r));
    const waiting = [
      programmer.apply({ peers: [testPeer(2)], replace: false, revision: 2 }),
      programmer.apply({ peers: [testPeer(3), testPeer(4)], replace: true, revision: 3 }),
      programmer.apply({ peers: [testPeer(5)], replace: false, remove: [testKey(3)], revision: 4 }),
    ];
    driver.gate = null;
    release();
    expect(await first).toMatchObject({ added: 1, revision: 1 });
    const results = await Promise.all(waiting);
    expect(results.map((r) => r.revision)).toEqual([2, 3, 4]);
    for (const r of results) expect(r).toMatchObject({ added: 2, removed: 1, updated: 0 });
    expect(driver.applied).toHaveLength(2);
    expect([...driver.peers.keys()].sort()).toEqual([testKey(4), testKey(5)].sort());
    expect(driver.reads).toBe(2);
  });

  it('answers every request of a failed batch with the error, then carries on', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    driver.failNext = new Error('device refused');
    await expect(programmer.apply({ peers: [testPeer(1)], replace: false })).rejects.toThrow('device refused');
    expect(await programmer.apply({ peers: [testPeer(1)], replace: false })).toMatchObject({ added: 1 });
    await programmer.idle();
  });

  it('updates a moved peer and leaves the others alone', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    const req = { peers: [testPeer(1), testPeer(2)], replace: true };
    await programmer.apply(req);
    const moved = { peers: [testPeer(1, 40000), testPeer(2)], replace: true };
    expect(await programmer.apply(moved)).toMatchObject({ updated: 1, unchanged: 1 });
    expect(driver.peers.get(testKey(1))?.endpoint).toBe('198.51.100.2:40000');
  });
});

describe('DataplaneProgrammer punches', () => {
  const spray = (n: number, ports: number[]) => ({ publicKey: testKey(n), endpoints: ports.map((p) => `198.51.100.${n}:${p}`), allowedIps: [], persistentKeepalive: 25 });

  it('after the peers: every endpoint in order in one operation, then the first again after the pause (peers with several)', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    const result = await programmer.apply({ peers: [testPeer(9)], replace: false, punch: [spray(1, [30001, 30002, 30003]), spray(2, [40001])] });
    expect(result).toMatchObject({ added: 1, punched: 2 });
    expect(driver.applied).toHaveLength(1); // the desired peers first
    expect(driver.recreated.map((r) => r.entries.map((e) => e.endpoint))).toEqual([
      ['198.51.100.1:30001', '198.51.100.1:30002', '198.51.100.1:30003', '198.51.100.2:40001'],
      ['198.51.100.1:30001'],
    ]);
    expect(driver.recreated[1].at - driver.recreated[0].at).toBeGreaterThanOrEqual(PUNCH_PAUSE_MS - 1);
    expect(driver.recreated[0].entries[0]).toEqual({ publicKey: testKey(1), endpoint: '198.51.100.1:30001', allowedIps: [], persistentKeepalive: 25 });
    expect(driver.peers.get(testKey(1))).toMatchObject({ endpoint: '198.51.100.1:30001', allowedIps: [], persistentKeepalive: 25 });
  });

  it('sends once to a peer with one endpoint (no second initiation for the other end to drop as a flood)', async () => {
    const driver = new MemoryDriver();
    const programmer = new DataplaneProgrammer({ driver });
    await programmer.apply({ peers: [], replace: false, punch: [spray(1, [30001]), spray(2, [40001])] });
    expect(driver.recreated.map((r) => r.entries.map((e) => e.endpoint))).toEqual([['198.51.100.1:30001', '198.51.100.2:40001']]);
    expect(driver.peers.get(testKey(2))).toMatchObject({ endpoint: '198.51.100.2:40001', allowedIps: [], persistentKeepalive: 25 });
  });

  it('refuses a punch on a driver that cannot, without applying anything', async () => {
    const driver = new MemoryDriver();
    const cannot = Object.assign(Object.create(driver) as MemoryDriver, { recreatePeers: undefined });
    const programmer = new DataplaneProgrammer({ driver: cannot });
    const err = await programmer.apply({ peers: [testPeer(9)], replace: false, punch: [spray(1, [1])] }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(PunchUnsupportedError);
    expect((err as Error).message).toMatch(/the uapi driver cannot punch: it cannot re-create peers/);
    expect(driver.peers.size).toBe(0);
    expect(await programmer.apply({ peers: [testPeer(9)], replace: false })).toMatchObject({ added: 1 });
  });
});

describe('pokes', () => {
  const device = [
    { publicKey: testKey(1), persistentKeepalive: 25 },
    { publicKey: testKey(2), persistentKeepalive: 0 },
    { publicKey: testKey(3), persistentKeepalive: 25 },
  ];
  it('pokes only peers that keep a persistent keepalive and stay on the device, with that keepalive', () => {
    const diff = { upsert: [{ ...testPeer(4), persistentKeepalive: 10 }], remove: [testKey(3)] };
    const req = { peers: [], replace: false, poke: [testKey(1), testKey(2), testKey(3), testKey(4), testKey(5), testKey(1)] };
    expect(pokes(req, device, diff)).toEqual([
      { publicKey: testKey(1), keepalive: 25 },
      { publicKey: testKey(4), keepalive: 10 },
    ]);
  });
});
