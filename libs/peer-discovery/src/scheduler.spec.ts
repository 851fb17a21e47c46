import { CoalescingScheduler } from './scheduler';

const deferred = () => {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};

describe('CoalescingScheduler', () => {
  it('coalesces a synchronous burst into one run', async () => {
    let runs = 0;
    const s = new CoalescingScheduler(async () => void runs++);
    for (let i = 0; i < 100; i++) s.trigger();
    await s.idle();
    expect(runs).toBe(1);
  });

  it('coalesces triggers during a run into one more run, never two at once', async () => {
    const gates = [deferred(), deferred()];
    let running = 0;
    let max = 0;
    let runs = 0;
    const s = new CoalescingScheduler(async () => {
      running++;
      max = Math.max(max, running);
      await gates[runs++].promise;
      running--;
    });
    s.trigger();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(1);
    for (let i = 0; i < 10; i++) s.trigger();
    gates[0].resolve();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(2);
    gates[1].resolve();
    await s.idle();
    expect([runs, max]).toEqual([2, 1]);
  });

  it('waits delayMs to gather changes', async () => {
    let runs = 0;
    const s = new CoalescingScheduler(async () => void runs++, { delayMs: 15 });
    s.trigger();
    setTimeout(() => s.trigger(), 5);
    await s.idle();
    expect(runs).toBe(1);
  });

  it('retries a failed run with backoff until it succeeds', async () => {
    let runs = 0;
    const errors: number[] = [];
    const s = new CoalescingScheduler(
      async () => {
        if (++runs < 3) throw new Error('programmer unreachable');
      },
      { retryMinMs: 5, onError: (_e, wait) => errors.push(wait) },
    );
    s.trigger();
    await s.idle();
    expect(runs).toBe(3);
    expect(errors).toEqual([5, 10]);
  });
});
