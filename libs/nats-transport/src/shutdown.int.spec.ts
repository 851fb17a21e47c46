import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { Patterns } from '@wgmesh/contracts';
import { OwnServer } from '@wgmesh/testing';
import type { NatsConnection } from 'nats';
import { MeshBus, MeshNatsServer, SILENT_MEMORY_MS } from './index';
import { MemoryLogger, uniqueMesh, waitFor } from './testing';

/**
 * Closing while the NATS server does not answer: a member removed at the registry (its hub peer
 * gone, so its NATS connections over the tunnel are cut without a FIN) used to wait on every
 * drain for a round trip that never came, each service up to its 5 s close deadline, and was
 * SIGKILLed by its supervisor before it had stopped. The server here is a nats-server of this
 * test's own, frozen (SIGSTOP): its connections stay open, nothing answers.
 */
describe('closing while the NATS server does not answer (own nats-server, frozen)', () => {
  /** Far more than a drain may wait (DRAIN_ANSWER_MS), far less than a supervisor's kill (15 s in the lab). */
  const BOUND_MS = 8000;
  let nats: OwnServer;
  const logger = new MemoryLogger();
  const open: Array<{ close(): Promise<unknown> }> = [];

  beforeAll(async () => {
    nats = await OwnServer.nats();
    await nats.start();
  });
  afterEach(async () => {
    nats.thaw();
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await nats?.stop();
  });

  const bus = async (mesh = uniqueMesh()) => {
    const b = await MeshBus.connect({ servers: nats.url, mesh, logger });
    open.push(b);
    b.subscribe(Patterns.peerEvents, () => undefined);
    await b.flush();
    return b;
  };
  const microservice = async (): Promise<{ app: INestMicroservice; nc: NatsConnection }> => {
    const server = new MeshNatsServer({ mesh: uniqueMesh(), servers: nats.url, logger });
    const app = await NestFactory.createMicroservice(HandlersModule, { strategy: server, logger: false });
    await app.listen();
    await server.unwrap<NatsConnection>().flush();
    open.push(app);
    return { app, nc: server.unwrap<NatsConnection>() };
  };
  const timed = async <T>(step: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = Date.now();
    const value = await step();
    return { value, ms: Date.now() - started };
  };

  it('MeshBus.drain closes the connection without the drain, and says so', async () => {
    const b = await bus();
    nats.freeze();
    const { value, ms } = await timed(() => b.drain());
    expect(value).toBe(false);
    expect(b.raw.isClosed()).toBe(true);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(logger.warnings).toContainEqual(expect.stringMatching(/did not answer the drain/));
  }, 30_000);

  it("a Nest microservice on MeshNatsServer closes, its connection with it (the app's close returns)", async () => {
    const { app, nc } = await microservice();
    nats.freeze();
    const { ms } = await timed(() => app.close());
    expect(nc.isClosed()).toBe(true);
    expect(ms).toBeLessThan(BOUND_MS);
  }, 30_000);

  it('a role of several services, each with its connections, closes one after the other before a 15 s kill', async () => {
    // As `member up`: peer-discovery, nat-probe and the dataplane-programmer, each a Nest
    // microservice and a bus of its own, closed in turn.
    const services = await Promise.all([0, 1, 2].map(async () => ({ ...(await microservice()), bus: await bus() })));
    nats.freeze();
    const { ms } = await timed(async () => {
      for (const s of services) {
        await s.app.close();
        await s.bus.drain();
      }
    });
    expect(services.every((s) => s.bus.raw.isClosed() && s.nc.isClosed())).toBe(true);
    expect(ms).toBeLessThan(BOUND_MS);
  }, 60_000);

  it('a server that answers again is drained again: what was published goes out before the close', async () => {
    const b = await bus();
    nats.freeze();
    expect(await b.drain()).toBe(false);
    nats.thaw();
    await new Promise((r) => setTimeout(r, SILENT_MEMORY_MS)); // the full wait again
    const mesh = uniqueMesh();
    const sender = await bus(mesh);
    const receiver = await bus(mesh);
    const seen: unknown[] = [];
    receiver.subscribe(Patterns.memberRemove, (v) => void seen.push(v), { validate: false });
    await receiver.flush();
    sender.publish(Patterns.memberRemove, { member: 'c' });
    expect(await sender.drain()).toBe(true);
    expect(sender.raw.isClosed()).toBe(true);
    await waitFor('the message', () => seen.length === 1);
    expect(await receiver.drain()).toBe(true);
  }, 30_000);
});

@Controller()
class Handlers {
  @EventPattern(Patterns.peerEvents)
  onEvent(): void {}

  @MessagePattern(Patterns.peerSnapshot)
  snapshot(): unknown {
    return { revision: 1, peers: [], nextCursor: null };
  }
}

@Module({ controllers: [Handlers] })
class HandlersModule {}
