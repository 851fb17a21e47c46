import { Attributes, context } from '@opentelemetry/api';
import { Attr, Burst, TriggerContexts, withSpan } from '@wgmesh/telemetry';

/**
 * Runs `work` after changes, coalescing a burst into one run: triggers within `delayMs` of the
 * first (or while a run is in flight) lead to a single (next) run, and at most one run is in
 * flight. A failed run is retried with backoff until it succeeds or a new trigger comes.
 */
export interface SchedulerOptions {
  /** How long to gather changes before running; 0 runs after the current microtasks. */
  delayMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  onError?: (err: Error, retryInMs: number) => void;
  /**
   * Runs `work` in a span of this name, child of the first traced trigger of the burst (the timer
   * would lose it) and linked to the others; `wgmesh.triggers` counts them. Without it, `work`
   * still runs in the first trigger's context. A retry continues the failed run's trace.
   */
  span?: { name: string; attributes?: Attributes };
}

export class CoalescingScheduler {
  private timer: NodeJS.Timeout | null = null;
  private pending = false;
  private running: Promise<void> | null = null;
  private dirty = false;
  private stopped = false;
  private retrying = false;
  private retryMs: number;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly triggers = new TriggerContexts();
  runs = 0;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.retryMs = opts.retryMinMs ?? 250;
  }

  trigger(): void {
    if (this.stopped) return;
    this.triggers.add();
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.pending) {
      if (this.timer && this.retrying) this.schedule(this.opts.delayMs ?? 0); // a change beats a backoff wait
      return;
    }
    this.schedule(this.opts.delayMs ?? 0);
  }

  /** Resolves once nothing is scheduled or running. */
  idle(): Promise<void> {
    if (!this.pending && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = false;
    this.settle();
  }

  private schedule(delayMs: number, retrying = false): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = true;
    this.retrying = retrying;
    if (delayMs <= 0) queueMicrotask(() => this.fire(null));
    else {
      const t: NodeJS.Timeout = setTimeout(() => this.fire(t), delayMs);
      this.timer = t;
    }
  }

  private fire(timer: NodeJS.Timeout | null): void {
    if (this.stopped || !this.pending || timer !== this.timer) return;
    this.timer = null;
    this.pending = false;
    this.retrying = false;
    this.dirty = false;
    this.runs++;
    const burst = this.triggers.take();
    this.running = this.traced(burst).then(
      () => {
        this.retryMs = this.opts.retryMinMs ?? 250;
        this.running = null;
        if (this.dirty) this.schedule(this.opts.delayMs ?? 0);
        else this.settle();
      },
      (err: Error) => {
        this.running = null;
        this.triggers.putBack(burst);
        const wait = this.dirty ? this.opts.delayMs ?? 0 : this.retryMs;
        this.opts.onError?.(err, wait);
        if (!this.dirty) this.retryMs = Math.min(this.retryMs * 2, this.opts.retryMaxMs ?? 10_000);
        if (!this.stopped) this.schedule(wait, !this.dirty);
        else this.settle();
      },
    );
  }

  private traced(burst: Burst): Promise<void> {
    const span = this.opts.span;
    if (!span) return context.with(burst.parent, () => this.work());
    return withSpan(span.name, { ...span.attributes, [Attr.triggers]: burst.count }, () => this.work(), { parent: burst.parent, links: burst.links });
  }

  private settle(): void {
    if (this.pending || this.running) return;
    this.idleWaiters.splice(0).forEach((w) => w());
  }
}
