import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { headers, MsgHdrsImpl } from 'nats';
import { extractTraceContext, injectTraceHeaders, withSpan } from './index';
import { installTestTracing, TestTracing } from './testing';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('trace context over NATS headers', () => {
  it('round-trips a span context without any SDK or provider', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
    const h = injectTraceHeaders(headers(), ctx);
    expect(h.get('traceparent')).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
    // Through the wire encoding, as a receiver decodes it.
    const received = extractTraceContext(MsgHdrsImpl.decode((h as MsgHdrsImpl).encode()));
    expect(trace.getSpanContext(received)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
  });

  it('reads the header case-insensitively and ignores garbage', () => {
    const h = headers();
    h.set('Traceparent', `00-${TRACE_ID}-${SPAN_ID}-00`);
    expect(trace.getSpanContext(extractTraceContext(h))?.traceId).toBe(TRACE_ID);
    const bad = headers();
    bad.set('traceparent', 'not-a-trace');
    expect(trace.getSpanContext(extractTraceContext(bad))).toBeUndefined();
    expect(extractTraceContext(undefined)).toBe(ROOT_CONTEXT);
  });

  it('injects the active context by default', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
    const h = context.with(ctx, () => injectTraceHeaders(headers()));
    expect(h.get('traceparent')).toContain(TRACE_ID);
    expect(injectTraceHeaders(headers(), ROOT_CONTEXT).has('traceparent')).toBe(false);
  });

  describe('with a test tracer provider', () => {
    let tracing: TestTracing;
    beforeAll(() => (tracing = installTestTracing()));
    afterAll(() => tracing.shutdown());
    beforeEach(() => tracing.reset());

    it('makes the receiver span a child of the sender span', async () => {
      const h = headers();
      await withSpan('send', {}, () => void injectTraceHeaders(h), { kind: SpanKind.PRODUCER });
      await withSpan('receive', { 'x.attr': 1 }, () => undefined, { kind: SpanKind.CONSUMER, parent: extractTraceContext(h) });
      const send = tracing.spans().find((s) => s.name === 'send')!;
      const receive = await tracing.waitForSpan((s) => s.name === 'receive');
      expect(receive.spanContext().traceId).toBe(send.spanContext().traceId);
      expect(receive.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
      expect(receive.attributes['x.attr']).toBe(1);
    });

    it('records a thrown error and rethrows it', async () => {
      await expect(withSpan('fails', {}, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      const span = await tracing.waitForSpan((s) => s.name === 'fails');
      expect(span.status).toEqual({ code: 2, message: 'boom' });
      expect(span.events.map((e) => e.name)).toEqual(['exception']);
    });

    it('nests spans through awaits', async () => {
      await withSpan('outer', {}, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        await withSpan('inner', {}, () => undefined);
      });
      const outer = await tracing.waitForSpan((s) => s.name === 'outer');
      const inner = tracing.spans().find((s) => s.name === 'inner')!;
      expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    });
  });
});

