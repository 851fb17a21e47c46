import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { headers } from 'nats';
import { activeService, extractTraceContext, injectTraceHeaders, startTelemetry, Telemetry, withSpan, withSpanSync } from './index';

/** Two services in one process, as `wgmesh registry up` runs them. */
describe('several services in one process', () => {
  let a: { telemetry: Telemetry; exporter: InMemorySpanExporter };
  let b: { telemetry: Telemetry; exporter: InMemorySpanExporter };
  const saved = process.env.OTEL_SERVICE_NAME;

  const start = async (serviceName: string, attributes?: Record<string, string>) => {
    const exporter = new InMemorySpanExporter();
    return { telemetry: await startTelemetry({ serviceName, attributes, exporter }), exporter };
  };
  const ended = async (x: typeof a): Promise<ReadableSpan[]> => {
    await x.telemetry.forceFlush();
    return x.exporter.getFinishedSpans();
  };
  const names = async (x: typeof a) => (await ended(x)).map((s) => s.name).sort();

  beforeAll(async () => {
    delete process.env.OTEL_SERVICE_NAME;
    a = await start('svc-a', { 'wgmesh.mesh': 'lab' });
    b = await start('svc-b');
  });
  afterAll(async () => {
    await a.telemetry.shutdown();
    await b.telemetry.shutdown();
    if (saved !== undefined) process.env.OTEL_SERVICE_NAME = saved;
  });
  beforeEach(() => {
    a.exporter.reset();
    b.exporter.reset();
  });

  it("exports each service's spans under its own resource", async () => {
    await a.telemetry.run(() => withSpan('in-a', {}, () => undefined));
    await b.telemetry.run(() => withSpan('in-b', {}, () => undefined));
    const [spanA] = await ended(a);
    const [spanB] = await ended(b);
    expect([spanA.name, spanB.name]).toEqual(['in-a', 'in-b']);
    expect(spanA.resource.attributes).toMatchObject({ 'service.name': 'svc-a', 'service.namespace': 'wgmesh', 'wgmesh.mesh': 'lab', 'process.pid': process.pid });
    expect(spanB.resource.attributes['service.name']).toBe('svc-b');
  });

  it('keeps the service through timers and awaits started inside run()', async () => {
    await b.telemetry.run(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise<void>((resolve) => setImmediate(() => resolve(withSpanSync('after-timer', {}, () => undefined))));
    });
    expect(await names(b)).toEqual(['after-timer']);
    expect(await names(a)).toEqual([]);
  });

  it('routes a received message to the receiving service, as a child of the sender span', async () => {
    const h = headers();
    await a.telemetry.run(() => withSpan('send', {}, () => void injectTraceHeaders(h), { kind: SpanKind.PRODUCER }));
    // The receiver's callback runs in its own service's context (its NATS connection was made in
    // it), under whatever span happened to be active: the extracted context drops that span, not the service.
    await b.telemetry.run(() =>
      withSpan('unrelated', {}, () =>
        withSpan('receive', {}, () => withSpan('handler', {}, () => expect(activeService()).toBe('svc-b')), { kind: SpanKind.CONSUMER, parent: extractTraceContext(h) }),
      ),
    );
    const send = (await ended(a)).find((s) => s.name === 'send')!;
    const spansB = await ended(b);
    const receive = spansB.find((s) => s.name === 'receive')!;
    const handler = spansB.find((s) => s.name === 'handler')!;
    expect(receive.spanContext().traceId).toBe(send.spanContext().traceId);
    expect(receive.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(spansB.map((s) => s.name).sort()).toEqual(['handler', 'receive', 'unrelated']);
    expect(handler.parentSpanContext?.spanId).toBe(receive.spanContext().spanId);
  });

  it('sends spans started outside any service to the first one started', async () => {
    await context.with(context.active(), () => withSpan('nowhere', {}, () => undefined));
    expect(await names(a)).toEqual(['nowhere']);
  });

  it('never exports the command line (a --token may be on it)', async () => {
    await a.telemetry.run(() => withSpan('x', {}, () => undefined));
    const keys = Object.keys((await ended(a))[0].resource.attributes);
    expect(keys.filter((k) => k.startsWith('process.'))).toEqual(['process.pid', 'process.runtime.name', 'process.runtime.version']);
  });
});

describe('shutting services down one by one', () => {
  it('keeps the others exporting, and records nothing once all are down', async () => {
    const ea = new InMemorySpanExporter();
    const eb = new InMemorySpanExporter();
    const a = await startTelemetry({ serviceName: 'first', exporter: ea });
    const b = await startTelemetry({ serviceName: 'second', exporter: eb });
    await a.shutdown();
    await a.run(() => withSpan('a-after-shutdown', {}, () => undefined));
    await b.run(() => withSpan('b-still', {}, () => undefined));
    await b.forceFlush();
    expect(ea.getFinishedSpans()).toEqual([]);
    // A span of a service that is gone goes to one still running rather than nowhere.
    expect(eb.getFinishedSpans().map((s) => s.name).sort()).toEqual(['a-after-shutdown', 'b-still']);
    await b.shutdown();
    await b.shutdown(); // twice is fine
    expect(trace.getTracer('x').startSpan('after').isRecording()).toBe(false);
  });

  it('shares one provider between two starts of the same service until both shut down', async () => {
    const e1 = new InMemorySpanExporter();
    const one = await startTelemetry({ serviceName: 'same', exporter: e1 });
    const two = await startTelemetry({ serviceName: 'same', exporter: new InMemorySpanExporter() });
    await one.shutdown();
    await two.run(() => withSpan('still-on', {}, () => undefined));
    await two.forceFlush();
    expect(e1.getFinishedSpans().map((s) => s.name)).toEqual(['still-on']);
    await two.shutdown();
  });
});
