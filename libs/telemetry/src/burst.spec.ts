import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { shortKey, TriggerContexts, withSpan } from './index';
import { installTestTracing, TestTracing } from './testing';

describe('TriggerContexts', () => {
  let tracing: TestTracing;
  beforeAll(() => (tracing = installTestTracing()));
  afterAll(() => tracing.shutdown());

  /** Three triggers from three spans (one of them twice), plus one from no span at all. */
  async function triggers(into: TriggerContexts) {
    const ids: string[] = [];
    into.add(ROOT_CONTEXT); // e.g. a periodic pull: no trace to continue
    for (const name of ['t1', 't2', 't3']) {
      await withSpan(name, {}, (span) => {
        ids.push(span.spanContext().spanId);
        into.add();
        if (name === 't2') into.add();
      });
    }
    return ids;
  }

  it('parents a burst to its first traced trigger and links the others once', async () => {
    const burst = new TriggerContexts();
    const [t1, t2, t3] = await triggers(burst);
    const taken = burst.take();
    expect(taken.count).toBe(5);
    expect(trace.getSpanContext(taken.parent)?.spanId).toBe(t1);
    expect(taken.links.map((l) => l.context.spanId)).toEqual([t2, t3]);
    // A run under it is a child of t1 and links t2 and t3.
    await withSpan('run', {}, () => undefined, { parent: taken.parent, links: taken.links });
    const run = await tracing.waitForSpan((s) => s.name === 'run');
    expect(run.parentSpanContext?.spanId).toBe(t1);
    expect(run.links.map((l) => l.context.spanId)).toEqual([t2, t3]);
    // take() starts a new burst.
    expect(burst.take()).toEqual({ parent: context.active(), links: [], count: 0 });
  });

  it('keeps the first (untraced) context when no trigger was traced, and caps the links', async () => {
    const burst = new TriggerContexts(1);
    burst.add(ROOT_CONTEXT);
    expect(burst.take().parent).toBe(ROOT_CONTEXT);
    await triggers(burst);
    expect(burst.take().links).toHaveLength(1);
  });

  it('puts a failed burst back in front of later triggers', async () => {
    const burst = new TriggerContexts();
    const [t1, t2] = await triggers(burst);
    const failed = burst.take();
    let later = '';
    await withSpan('later', {}, (span) => {
      later = span.spanContext().spanId;
      burst.add();
    });
    burst.putBack(failed);
    const retry = burst.take();
    expect(trace.getSpanContext(retry.parent)?.spanId).toBe(t1);
    expect(retry.links.map((l) => l.context.spanId)).toEqual([t2, expect.any(String), later]);
    expect(retry.count).toBe(6);
  });
});

describe('shortKey', () => {
  it('is the start of the base32 DNS-SD name of the key, and never echoes a non-key', () => {
    // The all-zero key is "aaaa…a=" in base32; 0xff… is "7777…".
    expect(shortKey(Buffer.alloc(32).toString('base64'))).toBe('aaaaaaaaaaaa');
    expect(shortKey(Buffer.alloc(32, 0xff).toString('base64'))).toBe('777777777777');
    expect(shortKey('cHJpdmF0ZSB0b2tlbiBkbyBub3QgbG9n')).toBe('invalid');
  });
});
