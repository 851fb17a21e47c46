/**
 * The full classification (with the filtering tests, which decide nothing about paths) comes this
 * long after the mapping tests alone: first the punches the new NAT type starts, which its NAT
 * lock would otherwise hold up.
 */
export const FILTERING_AFTER_MS = 2000;

export interface ClassifyScheduleOptions {
  /** One classification; `quick`: the mapping tests alone. Never rejects (failures are its to log). */
  run: (reason: string, quick: boolean) => Promise<void>;
  /** Between full classifications (ms): --nat-interval. */
  intervalMs: number;
}

/**
 * When nat-probe classifies this node's NAT: once at a time (a request during a run runs again
 * after it); except on the interval, the mapping tests run alone first, so the NAT type (and the
 * paths that depend on it) is known in a few round trips, and the full classification with
 * filtering follows FILTERING_AFTER_MS later; then every `intervalMs`.
 */
export class ClassifySchedule {
  private running: Promise<void> | null = null;
  private again = false;
  private fullPending = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: ClassifyScheduleOptions) {}

  /** Classifies now, or after the run under way; resolves when that run ends. */
  request(reason: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const quick = reason !== 'interval' && reason !== 'with filtering';
    this.fullPending = quick;
    this.running = this.opts.run(reason, quick).finally(() => {
      this.running = null;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        void this.request('requested during a classification');
        return;
      }
      if (this.timer) clearTimeout(this.timer);
      const [next, delay] = this.fullPending ? ['with filtering', FILTERING_AFTER_MS] : ['interval', this.opts.intervalMs];
      this.timer = setTimeout(() => void this.request(next), delay);
      this.timer.unref();
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
