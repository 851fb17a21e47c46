import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server, Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOptions } from '@wgmesh/config';
import { DataplaneApplyRequest, DataplaneApplyResult, DataplaneState, DesiredPeer, Patterns } from '@wgmesh/contracts';
import { readDaemonRecord } from '@wgmesh/dataplane';
import { createLogger } from '@wgmesh/log';
import { MeshBus, RemoteError } from '@wgmesh/nats-transport';
import { Service, startWgmesh, waitFor, describeE2E } from '@wgmesh/testing';
import { generatePrivateKey, keyToBase64, parseWgDump, publicKeyFromPrivate, uapiSocketPath } from '@wgmesh/wireguard';
import { isAlive, Lab, labProblems, run, uniqueName } from '@wgmesh/wireguard/testing';
import { dataplaneOptions } from './config';
import { FollowedState, followState } from './follow-state';
import { RunningDataplane, startDataplaneProgrammer } from './run';

// dataplane-programmer end to end: real NATS, a real wireguard-go (started by the programmer
// itself) in a network namespace, requests through MeshBus as peer-discovery sends them.
const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const describeLab = (name: string, body: () => void) => describeE2E(name, labProblems, body);

const peerKey = (n: number) => keyToBase64(publicKeyFromPrivate(Buffer.alloc(32, n)));
const peer = (n: number, port = 51820): DesiredPeer => ({ publicKey: peerKey(n), endpoint: `198.51.100.${n}:${port}`, allowedIps: [`10.99.1.${n}/32`] });
const parseResult = (v: unknown) => v as DataplaneApplyResult;

describeLab('dataplane-programmer', () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-dpp-'));
  const mesh = `t${uniqueName('').slice(0, 6)}`;
  const node = 'member-1';
  const device = uniqueName('wgt');
  const registry = peer(200);
  let ns: string;
  let bus: MeshBus;
  let followed: FollowedState;
  let states: DataplaneState[] = [];
  const logs: { msg: string; [k: string]: unknown }[] = [];
  let running: RunningDataplane | null = null;
  const services: Service[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const cli = () => {
    const svc = startWgmesh(['dataplane', ...argv()]);
    services.push(svc);
    return svc;
  };

  const argv = (nats = NATS) => [
    '--node', node, '--mesh', mesh, '--nats', nats, '--device', device, '--create', '--netns', ns,
    '--private-key-file', join(dir, 'key'), '--listen-port', '51850', '--address', '10.99.0.5/16',
    '--route', '10.98.0.0/16', '--protect', registry.publicKey, '--state-interval', '60000', '--state-dir', dir,
  ];
  const config = (nats = NATS) => parseOptions(dataplaneOptions, { argv: argv(nats), env: {} }).options;
  const log = createLogger({ service: 'dataplane-programmer', level: 'debug', write: (l) => logs.push(JSON.parse(l)) });
  const apply = (req: DataplaneApplyRequest) => bus.request(Patterns.dataplaneApply, req, parseResult, { node, timeoutMs: 10_000 });
  // wireguard-go lists peers in Go map order, which changes from one read to the next.
  const dump = async () => {
    const d = parseWgDump(await run('wg', ['show', device, 'dump']));
    return { publicKey: d.publicKey, listenPort: d.listenPort, peers: d.peers.sort((a, b) => a.publicKey.localeCompare(b.publicKey)) };
  };
  const peerKeys = async () => (await dump()).peers.map((p) => p.publicKey).sort();

  async function start(nats = NATS): Promise<RunningDataplane> {
    running = await startDataplaneProgrammer(config(nats), log);
    const record = readDaemonRecord(device, dir);
    if (record) lab.own(record.pid, device, uapiSocketPath(device));
    return running;
  }

  beforeAll(async () => {
    ns = await lab.netns();
    bus = await MeshBus.connect({ servers: NATS, mesh, name: 'dataplane-e2e' });
    // A consumer of the state as nat-probe is one: updates applied, the whole state asked for on a gap.
    followed = followState(bus, node);
    states = followed.states;
    await bus.flush();
  });

  afterAll(async () => {
    await running?.close();
    for (const svc of services) await svc.stop('SIGKILL');
    for (const undo of cleanups) await undo();
    await bus?.close();
    expect(await lab.cleanup()).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the device, applies a desired set in one batch and publishes the state', async () => {
    const r = await start();
    await r.ready;
    expect(logs.map((l) => l.msg)).toContain('started wireguard-go');
    expect((await dump()).listenPort).toBe(51850);
    const result = await apply({ peers: [registry, peer(1), peer(2), peer(3)], replace: true, revision: 11 });
    expect(result).toMatchObject({ added: 4, updated: 0, removed: 0, unchanged: 0, revision: 11 });
    expect(await peerKeys()).toEqual([registry, peer(1), peer(2), peer(3)].map((p) => p.publicKey).sort());
    const state = await waitFor('a state with 4 peers', () => states.find((s) => s.peers.length === 4));
    expect(state).toMatchObject({ node, driver: 'uapi', device, publicKey: r.publicKey, listenPort: 51850 });
    expect(followed.counts.fetched).toBeGreaterThanOrEqual(1); // the first update (a new epoch) was a gap: fetched
  });

  it('a consumer started after it gets the whole state (dataplane.state.get), applies the updates after it, and fetches again after a lost one', async () => {
    const late = followState(bus, node);
    try {
      await bus.flush();
      await late.fetch();
      const first = late.states.at(-1)!;
      expect(first.peers.map((p) => p.publicKey).sort()).toEqual([registry, peer(1), peer(2), peer(3)].map((p) => p.publicKey).sort());
      expect(first).toMatchObject({ node, driver: 'uapi', device, listenPort: 51850, epoch: expect.any(Number), seq: expect.any(Number) });
      await apply({ peers: [peer(4)], replace: false });
      const added = await waitFor('peer 4 through an update', () => late.states.find((s) => s.peers.some((p) => p.publicKey === peer(4).publicKey)));
      expect(late.counts.applied).toBeGreaterThanOrEqual(1);
      expect(late.counts.fetched).toBe(1);
      const update = late.updates.find((u) => u.changed.some((p) => p.publicKey === peer(4).publicKey))!;
      expect(update.changed.map((p) => p.publicKey)).toEqual([peer(4).publicKey]); // only what changed
      // The next update (peer 4 removed) is lost: the one after it shows the gap, and the whole state is asked for again.
      late.drop.add(added.seq! + 1);
      await apply({ peers: [], replace: false, remove: [peer(4).publicKey] });
      const gone = (s: DataplaneState | undefined) => !!s && !s.peers.some((p) => p.publicKey === peer(4).publicKey);
      await waitFor('the removal published (the other consumer has it)', () => gone(states.at(-1)));
      expect(gone(late.states.at(-1))).toBe(false);
      await apply({ peers: [peer(5)], replace: false });
      const has5 = (s: DataplaneState | undefined) => !!s && s.peers.some((p) => p.publicKey === peer(5).publicKey);
      await waitFor('peer 4 gone and 5 there, through a fetch', () => late.counts.fetched >= 2 && gone(late.states.at(-1)) && has5(late.states.at(-1)), 15_000);
      expect(late.counts.gaps).toBeGreaterThanOrEqual(1);
      await apply({ peers: [], replace: false, remove: [peer(5).publicKey] }); // as the tests after expect it
    } finally {
      late.sub.unsubscribe();
    }
  });

  it('answers an invalid request with invalid_request and changes nothing', async () => {
    const before = await dump();
    const err = (await apply({ peers: [{ ...peer(4), publicKey: 'not-a-key' }], replace: true }).catch((e: Error) => e)) as RemoteError;
    expect(err).toBeInstanceOf(RemoteError);
    expect(err.code).toBe('invalid_request');
    expect(err.message).toMatch(/peers\[0\]\.publicKey/);
    expect(await dump()).toEqual(before);
  });

  it('moves, removes and never removes the protected registry peer', async () => {
    const result = await apply({ peers: [peer(1, 40000), peer(2)], replace: true });
    expect(result).toMatchObject({ added: 0, updated: 1, removed: 1, unchanged: 1 });
    const d = await dump();
    expect(d.peers.map((p) => p.publicKey).sort()).toEqual([registry, peer(1), peer(2)].map((p) => p.publicKey).sort());
    expect(d.peers.find((p) => p.publicKey === peer(1).publicKey)?.endpoint).toBe('198.51.100.1:40000');
    expect(await apply({ peers: [], replace: false, remove: [registry.publicKey] })).toMatchObject({ removed: 0 });
  });

  it('applies deltas in place, and repairs a peer changed by hand (wg set) at the next delta naming it once a state poll has read the device', async () => {
    await apply({ peers: [registry, peer(1), peer(2)], replace: true });
    expect(await apply({ peers: [peer(1, 40001)], replace: false })).toMatchObject({ updated: 1, unchanged: 0 });
    expect(await apply({ peers: [peer(3)], replace: false, remove: [peer(2).publicKey] })).toMatchObject({ added: 1, removed: 1 });
    expect(await peerKeys()).toEqual([registry, peer(1), peer(3)].map((p) => p.publicKey).sort());
    await run('wg', ['set', device, 'peer', peer(3).publicKey, 'endpoint', '192.0.2.9:9']);
    // The programmer's model learns it at the state poll (every second): until then a delta may
    // find the peer unchanged; then it puts the desired endpoint back.
    const repaired = await waitFor('a delta that repairs the peer', async () => ((await apply({ peers: [peer(3)], replace: false })).updated === 1 ? true : undefined), 10_000, 200);
    expect(repaired).toBe(true);
    const d = await dump();
    expect(d.peers.find((p) => p.publicKey === peer(3).publicKey)?.endpoint).toBe(peer(3).endpoint);
    expect(d.peers.find((p) => p.publicKey === peer(1).publicKey)?.endpoint).toBe('198.51.100.1:40001');
  });

  it('serialises concurrent requests, answering each; the device ends as the last one says', async () => {
    const reqs: DataplaneApplyRequest[] = [
      { peers: [registry, ...[5, 6, 7].map((n) => peer(n))], replace: true, revision: 21 },
      { peers: [peer(8)], replace: false, revision: 22 },
      { peers: [registry, peer(9)], replace: true, revision: 23 },
      { peers: [peer(10)], replace: false, remove: [peer(9).publicKey], revision: 24 },
    ];
    const results = await Promise.all(reqs.map(apply));
    expect(results.map((r) => r.revision)).toEqual([21, 22, 23, 24]);
    expect(await peerKeys()).toEqual([registry, peer(10)].map((p) => p.publicKey).sort());
  });

  it('applies 10,000 peers sent in one request and reports them in one state event, both above NATS max_payload (chunked)', async () => {
    const many: DesiredPeer[] = Array.from({ length: 10_000 }, (_, i) => ({
      publicKey: createHash('sha256').update(`peer ${i}`).digest('base64'),
      endpoint: `198.51.100.${(i % 250) + 1}:${40000 + (i % 1000)}`,
      allowedIps: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
      persistentKeepalive: 25,
    }));
    const request = { peers: [registry, ...many], replace: true, revision: 31 };
    const maxPayload = bus.raw.info!.max_payload;
    expect(Buffer.byteLength(JSON.stringify(request))).toBeGreaterThan(maxPayload);
    const seen = states.length;
    expect(await bus.request(Patterns.dataplaneApply, request, parseResult, { node, timeoutMs: 60_000 })).toMatchObject({ added: 10_000, removed: 1, revision: 31 });
    expect((await dump()).peers).toHaveLength(10_001);
    const state = await waitFor('a state of 10,001 peers', () => states.slice(seen).find((st) => st.peers.length === 10_001), 30_000);
    expect(new Set(state.peers.map((p) => p.publicKey))).toEqual(new Set(request.peers.map((p) => p.publicKey)));
    // The update that carried them was above max_payload (chunked); the whole state is paged (each reply under it).
    expect(followed.updates.some((u) => Buffer.byteLength(JSON.stringify(u)) > maxPayload)).toBe(true);
    const late = followState(bus, node);
    await late.fetch();
    late.sub.unsubscribe();
    expect(late.states.at(-1)!.peers).toHaveLength(10_001);
    expect(Buffer.byteLength(JSON.stringify(late.states.at(-1)))).toBeGreaterThan(maxPayload);
    expect(await apply({ peers: [registry, peer(10)], replace: true })).toMatchObject({ added: 1, removed: 10_000 });
  }, 120_000);

  it('keeps the device untouched while NATS is unreachable, and reports again once it is back', async () => {
    await running!.close();
    running = null;
    const proxy = await natsProxy();
    cleanups.push(() => proxy.close());
    const r = await start(`nats://127.0.0.1:${proxy.port}`);
    await r.ready;
    const before = await dump();
    proxy.cut();
    await waitFor('the programmer to notice', () => logs.some((l) => l.msg === 'nats connection' && l.status === 'disconnected'), 10_000);
    await expect(apply({ peers: [], replace: true })).rejects.toThrow(/no responders/);
    expect(await dump()).toEqual(before);
    const seen = states.length;
    await proxy.restore();
    await waitFor('a state after the reconnect', () => states.length > seen, 10_000);
    // The server's own connection comes back on its own schedule: retry while nobody answers.
    const result = await waitFor('applies served again', () => apply({ peers: [registry, peer(10)], replace: true }), 10_000);
    expect(result).toMatchObject({ unchanged: 2, added: 0, removed: 0 });
    await running!.close();
    running = null;
  });

  it('as `wgmesh dataplane`: killed, the device keeps its peers; restarted, it is adopted unchanged', async () => {
    const pid = readDaemonRecord(device, dir)!.pid;
    let svc = cli();
    await svc.waitForLine(/"msg":"dataplane-programmer ready"/);
    expect(svc.lines.join('\n')).not.toMatch(/started wireguard-go|device configured/);
    expect(await apply({ peers: [registry, peer(11), peer(12)], replace: true })).toMatchObject({ added: 2, removed: 1 });

    expect(await svc.stop('SIGKILL')).toBeNull();
    const expected = [registry, peer(11), peer(12)].map((p) => p.publicKey).sort();
    expect(await peerKeys()).toEqual(expected);
    expect(isAlive(pid)).toBe(true);

    svc = cli();
    await svc.waitForLine(/"msg":"dataplane-programmer ready"/);
    expect(svc.lines.join('\n')).not.toMatch(/started wireguard-go|device configured|created a private key/);
    expect(await apply({ peers: [registry, peer(11), peer(12)], replace: true })).toMatchObject({ added: 0, updated: 0, removed: 0, unchanged: 3 });
    expect(await svc.stop('SIGTERM')).toBe(0);
    expect(await peerKeys()).toEqual(expected);
    expect(readDaemonRecord(device, dir)!.pid).toBe(pid);
    expect(isAlive(pid)).toBe(true);
  });

  it('never logs the private key', () => {
    expect(JSON.stringify(logs)).not.toMatch(/PrivateKey|private_key=/i);
  });
});

/** A TCP relay to NATS whose connections the test can cut and restore on the same port. */
async function natsProxy(): Promise<{ port: number; cut(): void; restore(): Promise<void>; close(): Promise<void> }> {
  const target = new URL(NATS);
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = tcpConnect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const stop = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return { port, cut: stop, restore: listen, close: async () => stop() };
}
