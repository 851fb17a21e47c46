import { Controller, INestMicroservice, Module, UseFilters } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { SpanKind, trace } from '@opentelemetry/api';
import { ContractError, parseEnrollRequest, parseSnapshotRequest, PeerSnapshot, parsePeerSnapshot, Patterns, subjectFor } from '@wgmesh/contracts';
import { withSpan } from '@wgmesh/telemetry';
import { connect, NatsConnection } from 'nats';
import { installTestTracing, TestTracing } from '@wgmesh/telemetry/testing';
import { addInboundCounter, InboundCount, MeshBus, MeshExceptionFilter, MeshNatsServer, RemoteError } from './index';
import { MemoryLogger, NATS_URL, uniqueMesh, waitFor } from './testing';

interface Seen {
  value: unknown;
  subject: string;
  traceId?: string;
  spanId?: string;
}

const KEY = 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=';
/** A valid `peers.events` message (the server checks every message against its contract). */
const removal = (revision: number) => ({ type: 'remove', revision, peer: { publicKey: KEY } });

@Controller()
@UseFilters(MeshExceptionFilter)
class PeerController {
  readonly events: Seen[] = [];

  @EventPattern(Patterns.peerEvents)
  onPeerEvent(@Payload() value: unknown, @Ctx() ctx: NatsContext): void {
    const span = trace.getActiveSpan()?.spanContext();
    this.events.push({ value, subject: ctx.getSubject(), traceId: span?.traceId, spanId: span?.spanId });
  }

  @MessagePattern(Patterns.peerSnapshot)
  snapshot(@Payload() value: unknown): PeerSnapshot {
    const req = parseSnapshotRequest(value); // throws ContractError on a bad request
    return { revision: 7, peers: [], nextCursor: req.cursor ?? null };
  }
}

/** Without MeshExceptionFilter: Nest's default filter hides the error. */
@Controller()
class EnrollController {
  @MessagePattern(Patterns.enroll)
  enroll(@Payload() value: unknown): unknown {
    if (parseEnrollRequest(value).name === 'boom') throw new Error('token store down');
    return { address: '10.99.0.2/32' };
  }
}

@Module({ controllers: [PeerController, EnrollController] })
class TestModule {}

describe('MeshNatsServer in a Nest microservice', () => {
  const mesh = uniqueMesh();
  const logger = new MemoryLogger();
  let server: MeshNatsServer;
  let app: INestMicroservice;
  let bus: MeshBus;
  let nc: NatsConnection;
  let tracing: TestTracing;
  let controller: PeerController;

  beforeAll(async () => {
    tracing = installTestTracing();
    server = new MeshNatsServer({ mesh, servers: NATS_URL, name: 'server-int-test', logger });
    app = await NestFactory.createMicroservice(TestModule, { strategy: server, logger: false });
    await app.listen();
    controller = app.get(PeerController);
    bus = await MeshBus.connect({ servers: NATS_URL, mesh, name: 'server-int-test-client', logger });
    nc = await connect({ servers: NATS_URL });
  });

  afterAll(async () => {
    await bus.close();
    await nc.close();
    await app.close();
    await tracing.shutdown();
  });

  beforeEach(() => tracing.reset());

  it('subscribes the mesh subjects of its handlers', () => {
    expect(server.routes()).toEqual(
      expect.arrayContaining([
        { pattern: 'peers.events', subject: `wgmesh.v1.${mesh}.peers.events`, kind: 'event', queue: undefined },
        { pattern: 'peers.snapshot', subject: `wgmesh.v1.${mesh}.peers.snapshot`, kind: 'request', queue: undefined },
        { pattern: 'enroll', subject: `wgmesh.v1.${mesh}.enroll`, kind: 'request', queue: undefined },
      ]),
    );
  });

  it('delivers a published event to the handler', async () => {
    const event = removal(3);
    bus.publish(Patterns.peerEvents, event);
    await waitFor('the event', () => controller.events.length === 1);
    expect(controller.events[0]).toMatchObject({ value: event, subject: `wgmesh.v1.${mesh}.peers.events` });
  });

  it('starts handlers in arrival order', async () => {
    const count = controller.events.length;
    for (let i = 1; i <= 50; i++) bus.publish(Patterns.peerEvents, removal(i));
    await waitFor('50 events', () => controller.events.length === count + 50);
    expect(controller.events.slice(count).map((e) => (e.value as { revision: number }).revision)).toEqual([...Array(50).keys()].map((i) => i + 1));
  });

  it('answers a request with the handler result as plain JSON', async () => {
    expect(await bus.request(Patterns.peerSnapshot, { cursor: 5 }, parsePeerSnapshot)).toEqual({ revision: 7, peers: [], nextCursor: 5 });
    const raw = await nc.request(subjectFor(Patterns.peerSnapshot, { mesh }), '{}');
    expect(raw.string()).toBe('{"revision":7,"peers":[],"nextCursor":null}');
  });

  it('refuses a request its contract refuses with RemoteError invalid_request, before the handler', async () => {
    const before = server.stats().patterns['peers.snapshot']?.rejected ?? 0;
    const failed = bus.request(Patterns.peerSnapshot, { limit: 1e9 }, parsePeerSnapshot);
    await expect(failed).rejects.toBeInstanceOf(RemoteError);
    await expect(failed).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/limit: must be an integer/) });
    expect(server.stats().patterns['peers.snapshot'].rejected).toBe(before + 1);
    expect(logger.warnings.at(-1)).toMatch(/^msg="message rejected" pattern=peers.snapshot .*reason="limit: must be an integer from 1 to 2000" bytes=20$/);
  });

  it('refuses an enroll request the contract refuses even without MeshExceptionFilter', async () => {
    const failed = bus.request(Patterns.enroll, { nope: true }, (v) => v);
    await expect(failed).rejects.toMatchObject({ name: 'RemoteError', code: 'invalid_request', message: expect.stringContaining('nope: is not a known field') });
  });

  it('answers "internal" when Nest default filter hid the error', async () => {
    const proofs = { proof: { id: 'a'.repeat(64), sig: `${'A'.repeat(86)}==` }, possession: { at: Date.now(), nonce: `${'A'.repeat(22)}==`, mac: `${'A'.repeat(43)}=` } };
    const failed = bus.request(Patterns.enroll, { publicKey: KEY, name: 'boom', ...proofs }, (v) => v);
    await expect(failed).rejects.toMatchObject({ name: 'RemoteError', code: 'internal', message: expect.stringContaining('Internal server error') });
  });

  it('counts and logs bad JSON without crashing, and keeps working', async () => {
    const before = server.stats();
    const warnings = logger.warnings.length;
    nc.publish(subjectFor(Patterns.peerEvents, { mesh }), 'not json {secret}');
    const reply = await nc.request(subjectFor(Patterns.peerSnapshot, { mesh }), 'also not json');
    expect(JSON.parse(reply.string())).toEqual({ error: { code: 'invalid_request', message: 'message: is not valid JSON' } });
    await waitFor('the rejection', () => server.stats().rejected === before.rejected + 2);
    expect(server.stats().patterns['peers.events'].rejected).toBe((before.patterns['peers.events']?.rejected ?? 0) + 1);
    const lines = logger.warnings.slice(warnings);
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes('peers.events'))).toMatch(/^msg="message rejected" pattern=peers.events subject=wgmesh\.v1\.\w+\.peers\.events reason="message: is not valid JSON" bytes=17$/);
    expect(lines.join('\n')).not.toContain('secret');

    const count = controller.events.length;
    bus.publish(Patterns.peerEvents, removal(99));
    await waitFor('the next event', () => controller.events.length === count + 1);
  });

  it('continues the publisher trace: handler span is a child of the producer span', async () => {
    const count = controller.events.length;
    const parent = await withSpan('test parent', {}, (span) => {
      bus.publish(Patterns.peerEvents, removal(100));
      return span.spanContext();
    });
    await waitFor('the traced event', () => controller.events.length === count + 1);
    const consumer = await tracing.waitForSpan((s) => s.name === 'peers.events receive');
    const producer = tracing.spans().find((s) => s.name === 'peers.events publish')!;

    expect(producer.kind).toBe(SpanKind.PRODUCER);
    expect(producer.parentSpanContext?.spanId).toBe(parent.spanId);
    expect(consumer.kind).toBe(SpanKind.CONSUMER);
    expect(consumer.spanContext().traceId).toBe(parent.traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': `wgmesh.v1.${mesh}.peers.events`,
      'wgmesh.mesh': mesh,
    });
    // The handler ran inside the consumer span.
    expect(controller.events.at(-1)).toMatchObject({ traceId: parent.traceId, spanId: consumer.spanContext().spanId });
  });

  it('continues the requester trace: SERVER span is a child of the CLIENT span', async () => {
    await bus.request(Patterns.peerSnapshot, {}, parsePeerSnapshot);
    const serverSpan = await tracing.waitForSpan((s) => s.name === 'peers.snapshot process');
    const client = await tracing.waitForSpan((s) => s.name === 'peers.snapshot request');
    expect(serverSpan.kind).toBe(SpanKind.SERVER);
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(serverSpan.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
  });
});

describe('MeshNatsServer routing (without a Nest app)', () => {
  const logger = new MemoryLogger();
  let mesh: string;
  let bus: MeshBus;
  const servers: MeshNatsServer[] = [];

  // These tests are about routing and lifecycle, so they hand any JSON to the handlers.
  const start = async (opts: { node?: string; queue?: string; validate?: boolean }, handlers: [string, (v: unknown) => unknown, boolean][]) => {
    const server = new MeshNatsServer({ mesh, servers: NATS_URL, logger, validate: false, ...opts });
    for (const [pattern, fn, isEvent] of handlers) server.addHandler(pattern, async (v: unknown) => fn(v) as never, isEvent);
    servers.push(server);
    await new Promise<void>((resolve, reject) => server.listen((err) => (err ? reject(err) : resolve())));
    // The subscriptions are on the NATS server once a round trip after them has come back; before
    // that, another connection's message may find no subscriber.
    await server.unwrap<NatsConnection>().flush();
    return server;
  };
  const flushAll = () => Promise.all([bus.flush(), ...servers.map((s) => s.unwrap<NatsConnection>().flush())]);

  beforeEach(async () => {
    mesh = uniqueMesh();
    bus = await MeshBus.connect({ servers: NATS_URL, mesh, logger });
  });
  afterEach(async () => {
    await bus.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('gives every instance every event without a queue group, one instance with one', async () => {
    const seen = { a: 0, b: 0, qa: 0, qb: 0 };
    await start({}, [[Patterns.peerEvents, () => seen.a++, true]]);
    await start({}, [[Patterns.peerEvents, () => seen.b++, true]]);
    const qa = await start({ queue: 'resolvers' }, [[Patterns.memberRemove, () => seen.qa++, true]]);
    await start({ queue: 'resolvers' }, [[Patterns.memberRemove, () => seen.qb++, true]]);
    expect(qa.routes()[0].queue).toBe('resolvers');
    for (let i = 0; i < 10; i++) {
      bus.publish(Patterns.peerEvents, { i });
      bus.publish(Patterns.memberRemove, { i });
    }
    await flushAll();
    await waitFor('all deliveries', () => seen.a === 10 && seen.b === 10 && seen.qa + seen.qb === 10);
    await flushAll();
    expect(seen.qa + seen.qb).toBe(10);
  });

  it('scopes node patterns to its node id', async () => {
    await start({ node: 'site-a' }, [[Patterns.dataplaneApply, (v) => ({ applied: v }), false]]);
    expect(servers[0].routes()[0].subject).toBe(`wgmesh.v1.${mesh}.node.site-a.dataplane.apply`);
    expect(await bus.request(Patterns.dataplaneApply, { x: 1 }, (v) => v, { node: 'site-a' })).toEqual({ applied: { x: 1 } });
    await expect(bus.request(Patterns.dataplaneApply, {}, (v) => v, { node: 'site-b', timeoutMs: 1000 })).rejects.toMatchObject({ code: 'no_responders' });
  });

  it('refuses to listen with a node pattern but no node, or a pattern not in contracts', async () => {
    await expect(start({}, [[Patterns.dataplaneApply, () => null, false]])).rejects.toThrow(/node/);
    await expect(start({}, [['peers.evnts', () => null, true]])).rejects.toThrow(/not one of the contracts' Patterns/);
  });

  it('counts and logs a failing event handler without the payload', async () => {
    const server = await start({}, [[Patterns.peerEvents, () => Promise.reject(new Error('index is broken')), true]]);
    const errors = logger.errors.length;
    bus.publish(Patterns.peerEvents, { token: 'secret-token' });
    await waitFor('the error count', () => server.stats().errors === 1);
    expect(logger.errors.slice(errors)).toEqual([expect.stringMatching(/^msg="event handler failed" pattern=peers.events .*error="index is broken"$/)]);
    expect(logger.errors.join('\n')).not.toContain('secret-token');
  });

  it('lets a running handler reply before close completes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const server = await start({}, [
      [
        Patterns.enroll,
        async () => {
          started = true;
          await gate;
          return { address: '10.99.0.9/32' };
        },
        false,
      ],
    ]);
    const reply = bus.request(Patterns.enroll, {}, (v) => v);
    await waitFor('the handler to start', () => started);
    const closed = server.close();
    release();
    await expect(reply).resolves.toEqual({ address: '10.99.0.9/32' });
    await closed;
  });
  it('checks messages against their contract: refusals never reach the handler and are counted by reason', async () => {
    const counted: InboundCount[] = [];
    const remove = addInboundCounter({ count: (e) => e.mesh === mesh && counted.push(e) });
    try {
      const seen: unknown[] = [];
      const server = await start({ validate: true, node: 'site-a' }, [
        [Patterns.peerEvents, (v) => void seen.push(v), true],
        [
          Patterns.connect,
          (v) => {
            if ((v as { targets?: string[] }).targets?.[0] === 'refuse-me') throw new ContractError('targets[0]', 'is not a member this node knows');
            return { mode: 'full', targets: [], peers: [] };
          },
          false,
        ],
      ]);
      const nc = server.unwrap<NatsConnection>();
      const events = bus.subject(Patterns.peerEvents);
      nc.publish(events, '{"type":');
      bus.publish(Patterns.peerEvents, { type: 'upsert', revision: 1, peer: { publicKey: 'x', allowedIps: [], endpoint: null } });
      bus.publish(Patterns.peerEvents, { type: 'remove', revision: 2, peer: { publicKey: KEY }, extra: 1 });
      bus.publish(Patterns.peerEvents, { type: 'remove', revision: 3, peer: { publicKey: KEY } });
      await expect(bus.request(Patterns.connect, { targets: ['127.0.0.1:1', 'bad target!'] }, (v) => v, { node: 'site-a' })).rejects.toMatchObject({
        code: 'invalid_request',
        message: expect.stringContaining('targets[1]: must be a public key, a tunnel address or a member name'),
      });
      await expect(bus.request(Patterns.connect, { targets: ['refuse-me'] }, (v) => v, { node: 'site-a' })).rejects.toMatchObject({
        code: 'invalid_request',
        message: expect.stringContaining('targets[0]: is not a member this node knows'),
      });
      expect(await bus.request(Patterns.connect, { all: true }, (v) => v, { node: 'site-a' })).toEqual({ mode: 'full', targets: [], peers: [] });
      await waitFor('the valid event', () => seen.length === 1);
      expect(seen).toEqual([{ type: 'remove', revision: 3, peer: { publicKey: KEY } }]);
      await waitFor('every count', () => counted.filter((c) => c.outcome === 'received').length === 7);
      const tally = (outcome: string, reason?: string) => counted.filter((c) => c.outcome === outcome && c.reason === reason).map((c) => c.pattern);
      expect(tally('rejected', 'invalid_json')).toEqual(['peers.events']);
      expect(tally('rejected', 'invalid_message')).toEqual(['peers.events', 'peers.events', 'node.{node}.connect', 'node.{node}.connect']);
      expect(tally('errors')).toEqual([]);
      expect(server.stats()).toMatchObject({ received: 7, rejected: 5, errors: 0 });
    } finally {
      remove();
    }
  });
});
