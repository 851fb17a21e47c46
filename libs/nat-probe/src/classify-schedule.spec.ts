import { ClassifySchedule, FILTERING_AFTER_MS } from './classify-schedule';

describe('ClassifySchedule', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function schedule(intervalMs = 60_000) {
    const runs: Array<{ reason: string; quick: boolean; done: () => void }> = [];
    const s = new ClassifySchedule({
      intervalMs,
      run: (reason, quick) => new Promise<void>((done) => runs.push({ reason, quick, done })),
    });
    return { s, runs };
  }
  /** Ends the latest run and lets its `finally` schedule the next. */
  async function finish(runs: Array<{ done: () => void }>) {
    runs[runs.length - 1].done();
    await jest.advanceTimersByTimeAsync(0);
  }

  it('runs the mapping tests alone first, the full classification FILTERING_AFTER_MS later, then on the interval', async () => {
    const { s, runs } = schedule();
    void s.request('start');
    expect(runs.map((r) => [r.reason, r.quick])).toEqual([['start', true]]);
    await finish(runs);
    await jest.advanceTimersByTimeAsync(FILTERING_AFTER_MS - 1);
    expect(runs).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(runs.map((r) => [r.reason, r.quick])).toEqual([['start', true], ['with filtering', false]]);
    await finish(runs);
    await jest.advanceTimersByTimeAsync(59_999);
    expect(runs).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(runs[2]).toMatchObject({ reason: 'interval', quick: false });
    s.stop();
  });

  it('runs once at a time: requests during a run make one more run after it', async () => {
    const { s, runs } = schedule();
    void s.request('start');
    void s.request('interface addresses changed');
    void s.request('the registry sees this node at a new endpoint');
    expect(runs).toHaveLength(1);
    await finish(runs);
    expect(runs.map((r) => [r.reason, r.quick])).toEqual([['start', true], ['requested during a classification', true]]);
    await finish(runs);
    await jest.advanceTimersByTimeAsync(FILTERING_AFTER_MS);
    expect(runs.map((r) => r.reason)).toEqual(['start', 'requested during a classification', 'with filtering']);
    s.stop();
  });

  it('schedules nothing after stop', async () => {
    const { s, runs } = schedule();
    void s.request('start');
    s.stop();
    await finish(runs);
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    expect(runs).toHaveLength(1);
  });
});
