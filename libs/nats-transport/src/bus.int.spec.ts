import { createHash } from 'node:crypto';
import { ContractError, DataplaneStateUpdate, parseDataplaneApplyRequest, parseDataplaneStateUpdate, parseEnrollRequest, Patterns } from '@wgmesh/contracts';
import { ChildProcess, spawn } from 'node:child_process';
import { connect, headers, NatsConnection } from 'nats';
import { CHUNK_HEADER } from './chunks';
import { encodeJson } from './json';
import { BusStatus, MeshBus, RemoteError, RequestError } from './index';
import { MemoryLogger, NATS_URL, uniqueMesh, waitFor } from './testing';
import { freePort } from '@wgmesh/testing';

describe('MeshBus', () => {
  const logger = new MemoryLogger();
  let mesh: string;
  let bus: MeshBus;
  let responder: MeshBus;
  let nc: NatsConnection;

  beforeEach(async () => {
    mesh = uniqueMesh();
    bus = await MeshBus.connect({ servers: NATS_URL, mesh, name: 'bus-int-test', logger });
    responder = await MeshBus.connect({ servers: [NATS_URL], mesh, logger });
    nc = await connect({ servers: NATS_URL });
  });
  afterEach(async () => {
    await Promise.all([bus.close(), responder.drain(), nc.close()]);
  });

  it('carries a 10,000-peer apply request and state event, each above max_payload, whole and checked by their contracts', async () => {
    const key = (i: number) => createHash('sha256').update(`peer ${i}`).digest('base64');
    const peers = Array.from({ length: 10_000 }, (_, i) => ({ publicKey: key(i), endpoint: `198.51.100.${(i % 250) + 1}:${40000 + (i % 1000)}`, allowedIps: [`10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`], persistentKeepalive: 25 }));
    const request = { peers, replace: true, revision: 7 };
    expect(encodeJson(request).length).toBeGreaterThan(bus.raw.info!.max_payload);
    responder.subscribe(Patterns.dataplaneApply, (value) => ({ peers: parseDataplaneApplyRequest(value).peers.length }), { node: 'n1' });
    const states: DataplaneStateUpdate[] = [];
    responder.subscribe(Patterns.dataplaneState, (value) => void states.push(parseDataplaneStateUpdate(value)), { node: 'n1' });
    await responder.flush();
    expect(await bus.request(Patterns.dataplaneApply, request, (v) => v, { node: 'n1', timeoutMs: 10_000 })).toEqual({ peers: 10_000 });
    // An update with every peer changed (a device filled at once).
    const state: DataplaneStateUpdate = { node: 'n1', driver: 'vpp', device: 'wg0', publicKey: key(-1), listenPort: 51820, epoch: 1, seq: 2, changed: peers.map((p) => ({ ...p, latestHandshake: 1_700_000_000, rxBytes: 123456789, txBytes: 987654321, persistentKeepalive: 25 })), removed: [], at: Date.now() };
    expect(encodeJson(state).length).toBeGreaterThan(2 * bus.raw.info!.max_payload);
    bus.publish(Patterns.dataplaneState, state, { node: 'n1' });
    await waitFor('the state event', () => states.length === 1, 10_000);
    expect(states[0]).toEqual(state);
    expect(responder.stats().patterns['node.{node}.dataplane.state']).toEqual({ received: 1, rejected: 0, errors: 0 });
  }, 30_000);

  it('refuses a chunk that cannot be put together, naming the header', async () => {
    responder.subscribe(Patterns.dataplaneApply, () => 'handled', { node: 'n1' });
    await responder.flush();
    const h = headers();
    h.set(CHUNK_HEADER, 'AAAAAAAAAAAAAAAA 1 2');
    const reply = await nc.request(responder.subject(Patterns.dataplaneApply, 'n1'), Buffer.from('{}'), { headers: h, timeout: 2000 });
    expect(JSON.parse(Buffer.from(reply.data).toString())).toEqual({ error: { code: 'invalid_request', message: expect.stringMatching(/^Wgmesh-Chunk: chunk 1 of message AAAAAAAAAAAAAAAA, whose first chunk never came/) } });
    expect(responder.stats().patterns['node.{node}.dataplane.apply']).toMatchObject({ rejected: 1 });
  });

  it('names the subject when nobody answers', async () => {
    const failed = bus.request(Patterns.enroll, {}, (v) => v);
    await expect(failed).rejects.toBeInstanceOf(RequestError);
    await expect(failed).rejects.toMatchObject({ code: 'no_responders', subject: `wgmesh.v1.${mesh}.enroll`, message: expect.stringContaining(`wgmesh.v1.${mesh}.enroll`) });
  });

  it('names the subject and the wait on a timeout', async () => {
    nc.subscribe(bus.subject(Patterns.enroll)); // listens, never answers
    await nc.flush();
    await expect(bus.request(Patterns.enroll, {}, (v) => v, { timeoutMs: 150 })).rejects.toMatchObject({
      name: 'RequestError',
      code: 'timeout',
      message: `request on wgmesh.v1.${mesh}.enroll timed out after 150 ms`,
    });
  });

  it('serves requests from subscribe: result, ContractError, other errors', async () => {
    responder.subscribe(Patterns.enroll, (value) => {
      const req = parseEnrollRequest(value);
      if (req.name === 'boom') throw new Error('database down');
      return { address: '10.99.0.5/32', registry: req.name };
    });
    await responder.flush();
    const key = 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=';
    const proofs = { proof: { id: 'a'.repeat(64), sig: `${'A'.repeat(86)}==` }, possession: { at: 1, nonce: `${'A'.repeat(22)}==`, mac: `${'A'.repeat(43)}=` } };
    expect(await bus.request(Patterns.enroll, { publicKey: key, name: 'a', ...proofs }, (v) => v)).toEqual({ address: '10.99.0.5/32', registry: 'a' });
    await expect(bus.request(Patterns.enroll, { publicKey: 'x', name: 'a', ...proofs }, (v) => v)).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringContaining('publicKey: must be a WireGuard public key'),
    });
    const internal = bus.request(Patterns.enroll, { publicKey: key, name: 'boom', ...proofs }, (v) => v);
    await expect(internal).rejects.toBeInstanceOf(RemoteError);
    await expect(internal).rejects.toMatchObject({ code: 'internal', message: expect.stringContaining('database down') });
    // The bad key is refused by the contract (rejected); the handler's own failure is an error.
    expect(responder.stats().patterns.enroll).toEqual({ received: 3, rejected: 1, errors: 1 });
  });

  it('validates replies with the parse function', async () => {
    responder.subscribe(Patterns.peerSnapshot, () => ({ revision: -1 }));
    await responder.flush();
    await expect(bus.request(Patterns.peerSnapshot, {}, (v) => {
      throw new ContractError('revision', 'must be positive');
    })).rejects.toThrow(ContractError);
  });

  it('delivers events with their subject; counts and logs bad JSON', async () => {
    const got: [unknown, string][] = [];
    responder.subscribe(Patterns.nat, (value, msg) => void got.push([value, msg.subject]), { node: '*' });
    await responder.flush();
    const warnings = logger.warnings.length;
    const report = {
      node: 'site-b',
      publicKey: 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=',
      nat: 'eim',
      mapping: 'endpoint-independent',
      filtering: 'address-and-port-dependent',
      mappedAddress: '198.51.100.7:40000',
      server: '203.0.113.1:3478',
      method: 'test',
      at: 1,
    };
    nc.publish(bus.subject(Patterns.nat, 'site-b'), '{"half":');
    bus.publish(Patterns.nat, { type: 'eim' }, { node: 'site-b' }); // refused by the NatReport contract
    bus.publish(Patterns.nat, report, { node: 'site-b' });
    await waitFor('the event', () => got.length === 1);
    expect(got).toEqual([[report, `wgmesh.v1.${mesh}.node.site-b.nat`]]);
    await waitFor('the counts', () => responder.stats().received === 3);
    expect(responder.stats()).toMatchObject({ received: 3, rejected: 2, errors: 0 });
    // (Two connections published them: `nc` and the bus; NATS orders messages per connection only.)
    expect(logger.warnings.slice(warnings)).toHaveLength(2);
    expect(logger.warnings.slice(warnings)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^msg="message rejected" pattern=node.\{node\}.nat .*reason="message: is not valid JSON" bytes=8$/),
        expect.stringMatching(/^msg="message rejected" pattern=node.\{node\}.nat .*reason="type: is not a known field" bytes=14$/),
      ]),
    );
  });

  it('refuses what it cannot address or encode', () => {
    expect(() => bus.publish('peers.evnts', {})).toThrow(/not one of the contracts' Patterns/);
    expect(() => bus.publish(Patterns.nat, {})).toThrow(/node/);
    expect(() => bus.publish(Patterns.peerEvents, { big: 'x'.repeat(2 * 1024 * 1024) })).not.toThrow(); // in chunks
    expect(() => bus.publish(Patterns.peerEvents, { big: 'x'.repeat(40 * 1024 * 1024) })).toThrow(/of 419430\d\d bytes is above the 33554432 bytes \(64 chunks\) one may have/);
  });
});

describe('MeshBus connection lifecycle (own nats-server)', () => {
  let nats: ChildProcess | undefined;
  let port: number;

  const startNats = async () => {
    nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  };
  const stopNats = async () => {
    const child = nats!;
    nats = undefined;
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };

  beforeAll(async () => {
    port = await freePort({ udp: false });
  });
  afterAll(async () => {
    if (nats) await stopNats();
  });

  it('waits for NATS to come up, reports disconnect and reconnect, then closed', async () => {
    const connecting = MeshBus.connect({ servers: `nats://127.0.0.1:${port}`, mesh: uniqueMesh(), logger: new MemoryLogger() });
    await startNats();
    const bus = await connecting;
    const seen: BusStatus[] = [];
    bus.status.subscribe((s) => seen.push(s));

    await stopNats();
    await waitFor('disconnected', () => seen.includes('disconnected'));
    await startNats();
    await waitFor('reconnected', () => seen.includes('reconnected'), 10_000);

    await bus.close();
    await waitFor('closed', () => seen.at(-1) === 'closed');
    expect(seen[0]).toBe('disconnected');
  });
});

