import { Patterns } from '@wgmesh/contracts';
import { MeshBus, RequestError } from './index';
import { OwnServer } from '@wgmesh/testing';
import { MemoryLogger, uniqueMesh, waitFor } from './testing';

/**
 * A NATS restart under MeshBus, with a nats-server of this test's own (killed by its PID; the
 * shared one on 4222 is not touched). nats.js drops what is written while it is disconnected
 * (each dial resets its outbound buffer), so a request sent then used to wait out its whole
 * timeout; it now waits for the reconnect and is answered.
 */
describe('MeshBus across a NATS restart (own nats-server)', () => {
  let nats: OwnServer;
  let bus: MeshBus;
  let responder: MeshBus;
  const logger = new MemoryLogger();
  const start = () => nats.start();
  const kill = () => nats.stop('SIGKILL');

  beforeAll(async () => {
    nats = await OwnServer.nats();
    await start();
    const mesh = uniqueMesh();
    bus = await MeshBus.connect({ servers: nats.url, mesh, logger });
    responder = await MeshBus.connect({ servers: nats.url, mesh, logger });
    responder.subscribe(Patterns.peerSnapshot, () => ({ revision: 1, peers: [], nextCursor: null }));
    await responder.flush();
  });
  afterAll(async () => {
    await bus?.close();
    await responder?.close();
    await nats?.stop();
  });

  it('a request made while NATS is down is sent once it is back, and answered', async () => {
    expect(await bus.request(Patterns.peerSnapshot, {}, (v) => v)).toMatchObject({ revision: 1 });
    await kill();
    await waitFor('the bus to notice', () => !bus.connected);
    const sent = Date.now();
    const reply = bus.request(Patterns.peerSnapshot, {}, (v) => v, { timeoutMs: 8000 });
    await new Promise((r) => setTimeout(r, 500));
    await start();
    expect(await reply).toMatchObject({ revision: 1 });
    const ms = Date.now() - sent;
    process.stderr.write(`nats-transport: a request sent while NATS was down was answered ${ms} ms later (NATS back after 500 ms)\n`);
    expect(ms).toBeLessThan(4000);
    expect(bus.connected).toBe(true);
  }, 20_000);

  it('fails with a timeout, on time, when NATS stays down', async () => {
    await kill();
    await waitFor('the bus to notice', () => !bus.connected);
    const sent = Date.now();
    const err = await bus.request(Patterns.peerSnapshot, {}, (v) => v, { timeoutMs: 300 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ code: 'timeout', message: expect.stringMatching(/stayed disconnected for 300 ms/) });
    expect(Date.now() - sent).toBeLessThan(1500);
    await start();
  }, 20_000);
});
