import { withSpan } from '@wgmesh/telemetry';
import { installTestTracing, TestTracing } from '@wgmesh/telemetry/testing';
import { CoalescingScheduler } from './scheduler';

/** The coalescing timer loses the trigger's context: the run must be parented explicitly. */
describe('CoalescingScheduler tracing', () => {
  let tracing: TestTracing;
  beforeAll(() => (tracing = installTestTracing()));
  afterAll(() => tracing.shutdown());
  beforeEach(() => tracing.reset());

  /** Triggers `s` from inside a new span; resolves with that span's id. */
  const triggerFrom = (s: CoalescingScheduler, name: string) => withSpan(name, {}, (span) => (s.trigger(), span.spanContext().spanId));
  const spans = (name: string) => tracing.spans().filter((s) => s.name === name);

  it('runs a burst in one span: child of the first trigger, linked to the others', async () => {
    const s = new CoalescingScheduler(() => withSpan('work', {}, () => undefined), { delayMs: 10, span: { name: 'apply', attributes: { 'wgmesh.node': 'a' } } });
    const ids = [await triggerFrom(s, 'event-1'), await triggerFrom(s, 'event-2'), await triggerFrom(s, 'event-3')];
    s.trigger(); // and one from no trace at all
    await s.idle();
    const [apply] = spans('apply');
    expect(spans('apply')).toHaveLength(1);
    const first = spans('event-1')[0];
    expect(apply.spanContext().traceId).toBe(first.spanContext().traceId);
    expect(apply.parentSpanContext?.spanId).toBe(ids[0]);
    expect(apply.links.map((l) => l.context.spanId)).toEqual(ids.slice(1));
    expect(apply.attributes).toEqual({ 'wgmesh.node': 'a', 'wgmesh.triggers': 4 });
    expect(spans('work')[0].parentSpanContext?.spanId).toBe(apply.spanContext().spanId);
  });

  it('parents the next run to the triggers that came during a run', async () => {
    let release!: () => void;
    let runs = 0;
    const s = new CoalescingScheduler(() => (runs++ === 0 ? new Promise<void>((r) => (release = r)) : Promise.resolve()), { span: { name: 'apply' } });
    const firstTrigger = await triggerFrom(s, 'before');
    await new Promise((r) => setImmediate(r));
    const during = await triggerFrom(s, 'during');
    release();
    await s.idle();
    expect(spans('apply').map((a) => a.parentSpanContext?.spanId)).toEqual([firstTrigger, during]);
  });

  it('keeps the trace of a failed run for its retry', async () => {
    let fail = true;
    const s = new CoalescingScheduler(
      async () => {
        if (fail) {
          fail = false;
          throw new Error('programmer unreachable');
        }
      },
      { retryMinMs: 1, span: { name: 'apply' } },
    );
    const id = await triggerFrom(s, 'event');
    await new Promise((r) => setTimeout(r, 20));
    await s.idle();
    const applies = spans('apply');
    expect(applies.map((a) => a.status.code)).toEqual([2, 0]);
    expect(applies.map((a) => a.parentSpanContext?.spanId)).toEqual([id, id]);
  });

  it('without a span option still runs the work in the first trigger’s context', async () => {
    const s = new CoalescingScheduler(() => withSpan('work', {}, () => undefined), { delayMs: 5 });
    const id = await triggerFrom(s, 'event');
    await s.idle();
    expect(spans('work')[0].parentSpanContext?.spanId).toBe(id);
  });
});
