import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { OtlpReceiver, OtlpSpan, parseOtlpJson, parseOtlpProtobuf, parseOtlpTraces, startOtlpReceiver } from './otlp-receiver';

/** Spans made by the real SDK, with every kind of attribute value, an event, a link, an error. */
function sdkSpans(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'svc', 'wgmesh.mesh': 'lab', 'process.pid': 42 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('test-scope');
  const parent = tracer.startSpan('parent', { kind: SpanKind.PRODUCER });
  const child = tracer.startSpan(
    'child',
    {
      kind: SpanKind.CONSUMER,
      attributes: { s: 'text', i: 7, negative: -3, d: 1.5, b: true, list: ['x', 'y'], nums: [1, 2] },
      links: [{ context: parent.spanContext(), attributes: { why: 'burst' } }],
    },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent('something', { n: 1 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  child.end();
  parent.end();
  return exporter.getFinishedSpans();
}

describe('OTLP parsing', () => {
  const spans = sdkSpans();
  const [child, parent] = spans;

  it('reads the JSON the OTLP/HTTP exporter sends, and the protobuf of the proto exporter, the same way', () => {
    const fromJson = parseOtlpTraces(JsonTraceSerializer.serializeRequest(spans)!, 'application/json');
    const fromProto = parseOtlpTraces(ProtobufTraceSerializer.serializeRequest(spans)!, 'application/x-protobuf');
    expect(fromProto).toEqual(fromJson);
    const [c, p] = fromJson;
    expect(c).toEqual<OtlpSpan>({
      traceId: child.spanContext().traceId,
      spanId: child.spanContext().spanId,
      parentSpanId: parent.spanContext().spanId,
      name: 'child',
      kind: 5,
      service: 'svc',
      resource: { 'service.name': 'svc', 'wgmesh.mesh': 'lab', 'process.pid': 42 },
      scope: 'test-scope',
      attributes: { s: 'text', i: 7, negative: -3, d: 1.5, b: true, list: ['x', 'y'], nums: [1, 2] },
      events: [{ name: 'something', attributes: { n: 1 } }],
      links: [{ traceId: parent.spanContext().traceId, spanId: parent.spanContext().spanId, attributes: { why: 'burst' } }],
      status: { code: 2, message: 'boom' },
      startTimeUnixNano: expect.stringMatching(/^\d{19}$/),
      endTimeUnixNano: expect.stringMatching(/^\d{19}$/),
    });
    expect(BigInt(c.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(c.startTimeUnixNano));
    expect(p).toMatchObject({ name: 'parent', parentSpanId: '', kind: 4, links: [], status: { code: 0, message: '' } });
  });

  it('accepts base64 ids and enum names in JSON (other exporters), and refuses what is not OTLP', () => {
    const [span] = parseOtlpJson({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'x' } }] },
          scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 1).toString('base64'), spanId: Buffer.alloc(8, 2).toString('base64'), name: 'n', kind: 'SPAN_KIND_CLIENT', status: { code: 'STATUS_CODE_OK' }, startTimeUnixNano: 5 }] }],
        },
      ],
    });
    expect(span).toMatchObject({ traceId: '01'.repeat(16), spanId: '02'.repeat(8), kind: 3, status: { code: 1 }, startTimeUnixNano: '5', service: 'x' });
    expect(() => parseOtlpJson({ nope: 1 })).toThrow('no resourceSpans');
    expect(() => parseOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'short', spanId: '' }] }] }] })).toThrow('bad 16-byte id');
    expect(() => parseOtlpProtobuf(Uint8Array.from([0x0a, 0x05, 0x01]))).toThrow('truncated');
    expect(() => parseOtlpTraces(Buffer.from('{'), 'application/json')).toThrow('not JSON');
    expect(() => parseOtlpTraces(Buffer.from('{}'), 'text/plain')).toThrow('unsupported content type');
  });
});

describe('OTLP/HTTP receiver', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => (receiver = await startOtlpReceiver()));
  afterAll(() => receiver.close());

  const post = (path: string, body: Uint8Array, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${receiver.url}${path}`, { method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('collects spans from JSON, gzipped JSON and protobuf posts, and refuses anything else', async () => {
    const spans = sdkSpans();
    const json = JsonTraceSerializer.serializeRequest(spans)!;
    expect(await post('/v1/traces', json, { 'content-type': 'application/json' })).toEqual({ status: 200, body: '{}' });
    expect((await post('/v1/traces', gzipSync(json), { 'content-type': 'application/json', 'content-encoding': 'gzip' })).status).toBe(200);
    expect(await post('/v1/traces', ProtobufTraceSerializer.serializeRequest(spans)!, { 'content-type': 'application/x-protobuf' })).toEqual({ status: 200, body: '' });
    expect((await post('/v1/metrics', json, { 'content-type': 'application/json' })).status).toBe(404);
    expect((await post('/v1/traces', json, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('/v1/traces', Buffer.from('{"resourceSpans": 3'), { 'content-type': 'application/json' })).status).toBe(400);
    const all = await receiver.waitFor((s) => s.length >= 6, 2000);
    expect(all.map((s) => s.name)).toEqual(['child', 'parent', 'child', 'parent', 'child', 'parent']);
    expect(receiver.stats()).toEqual({ accepted: 3, refused: 3 });
  });
});
