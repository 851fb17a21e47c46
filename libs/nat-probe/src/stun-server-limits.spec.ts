import { createLogger } from '@wgmesh/log';
import { SourceRateLimiter, ThrottledLog } from './stun-server-limits';

describe('per-source rate limit', () => {
  it('allows a burst, then perSecond, per source', () => {
    let now = 0;
    const limiter = new SourceRateLimiter({ perSecond: 10, burst: 5 }, 100, () => now);
    const burst = Array.from({ length: 8 }, () => limiter.allow('192.0.2.1'));
    expect(burst).toEqual([true, true, true, true, true, false, false, false]);
    expect(limiter.allow('192.0.2.2')).toBe(true); // another source has its own bucket
    now += 100; // 0.1 s at 10/s: one more token
    expect([limiter.allow('192.0.2.1'), limiter.allow('192.0.2.1')]).toEqual([true, false]);
    now += 10_000; // refills to the burst, not beyond
    expect(Array.from({ length: 6 }, () => limiter.allow('192.0.2.1')).filter(Boolean)).toHaveLength(5);
  });

  it('stays bounded under spoofed random sources: idle sources are forgotten, newcomers share an overflow bucket', () => {
    let now = 0;
    const limiter = new SourceRateLimiter({ perSecond: 1, burst: 2 }, 3, () => now);
    for (const s of ['a', 'b', 'c']) expect(limiter.allow(s)).toBe(true);
    expect(limiter.size).toBe(3);
    // The table is full and no bucket has refilled: newcomers share one bucket of 2.
    expect(['d', 'e', 'f'].map((s) => limiter.allow(s))).toEqual([true, true, false]);
    expect(limiter.size).toBe(3);
    expect(limiter.allow('a')).toBe(true); // known sources are unaffected
    now += 5000; // everything refilled: the idle entries go, the newcomer gets its own bucket
    expect(limiter.allow('g')).toBe(true);
    expect(limiter.size).toBe(1);
  });

  it('refuses a limit that would block everything', () => {
    expect(() => new SourceRateLimiter({ perSecond: 0, burst: 1 })).toThrow(RangeError);
  });
});

describe('throttled warnings', () => {
  it('logs a key at most once per interval and reports how many were suppressed', () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const t = new ThrottledLog(createLogger({ service: 't', write: (l) => lines.push(JSON.parse(l)) }), 1000, () => now);
    for (let i = 0; i < 50; i++) t.warn('drop:not-stun', 'dropped a datagram', { i });
    t.error('drop:internal', 'internal', {});
    expect(lines.map((l) => [l.level, l.msg, l.i])).toEqual([
      ['warn', 'dropped a datagram', 0],
      ['error', 'internal', undefined],
    ]);
    now = 1500;
    t.warn('drop:not-stun', 'dropped a datagram', { i: 50 });
    expect(lines[2]).toMatchObject({ i: 50, suppressed: 49 });
    now = 1600;
    t.warn('drop:not-stun', 'dropped a datagram', { i: 51 });
    expect(lines).toHaveLength(3);
  });
});
