import type { Logger } from '@wgmesh/log';

/**
 * Per-source token buckets: each source IP may have `perSecond` replies a second, in bursts of up
 * to `burst`. The table is bounded (`maxSources`): when it is full, sources whose bucket has
 * refilled are forgotten first (they are indistinguishable from new ones), and if none has, the
 * newcomer shares one overflow bucket, so a flood from spoofed random sources cannot grow memory
 * or starve known sources. `now` is injectable for tests.
 */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 50, burst: 100 };

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly overflow: Bucket;

  constructor(
    readonly limit: RateLimit,
    private readonly maxSources = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) throw new RangeError('rate limit: perSecond must be > 0 and burst >= 1');
    this.overflow = { tokens: limit.burst, at: now() };
  }

  /** Takes one token for `source`; false when it has none left. */
  allow(source: string): boolean {
    const t = this.now();
    let bucket = this.buckets.get(source);
    if (!bucket) {
      if (this.buckets.size >= this.maxSources) this.prune(t);
      if (this.buckets.size >= this.maxSources) return this.take(this.overflow, t);
      bucket = { tokens: this.limit.burst, at: t };
      this.buckets.set(source, bucket);
    }
    return this.take(bucket, t);
  }

  get size(): number {
    return this.buckets.size;
  }

  private take(b: Bucket, t: number): boolean {
    b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.perSecond);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(k);
    }
  }
}

/**
 * Warnings that could repeat per packet (a flood of garbage) are logged at most once per
 * `intervalMs` per key; the next one that gets through carries how many were suppressed.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  warn(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('warn', key, msg, fields);
  }

  error(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('error', key, msg, fields);
  }

  private emit(level: 'warn' | 'error', key: string, msg: string, fields: Record<string, unknown>): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.last.set(key, { at: t, suppressed: 0 });
    if (this.last.size > 1000) this.last.clear(); // keys are a small fixed set in practice
    this.log[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }
}
