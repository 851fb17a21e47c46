import { DnsperfSummary } from './dnsperf';
import { parseIntervalLine, soakVerdict } from './dns-soak';

const summary = (over: Partial<DnsperfSummary> = {}): DnsperfSummary => ({
  sent: 1000, completed: 1000, lost: 0, lostPct: 0, rcodes: { NOERROR: 1000 }, avgRequestBytes: 80, avgResponseBytes: 250,
  runTimeSec: 60, qps: 16.6, avgLatencyMs: 1, minLatencyMs: 0.1, maxLatencyMs: 5, ...over,
});

describe('dns-soak', () => {
  it('reads dnsperf -S lines and nothing else', () => {
    expect(parseIntervalLine('1795582782.770585: 45123.450000')).toEqual({ at: 1795582782.770585, qps: 45123.45 });
    expect(parseIntervalLine('[Status] Sending queries (to 127.0.0.1:1)')).toBeNull();
    expect(parseIntervalLine('  Queries sent:         1000')).toBeNull();
  });

  it('holds only with nothing lost, only NOERROR, a right canary and right answers after', () => {
    expect(soakVerdict(summary(), { sent: 60, wrong: [] }, [])).toEqual({ ok: true, problems: [] });
    const bad = soakVerdict(summary({ lost: 3, rcodes: { NOERROR: 990, SERVFAIL: 7 } }), { sent: 60, wrong: ['x: timeout'] }, ['PTR: 0 answers']);
    expect(bad.ok).toBe(false);
    expect(bad.problems).toEqual([
      '3 of 1000 queries lost',
      'answers other than NOERROR: SERVFAIL 7',
      '1 of 60 canary answers wrong or missing (first: x: timeout)',
      'after the run: PTR: 0 answers',
    ]);
    expect(soakVerdict(summary({ completed: 0, sent: 0, rcodes: {} }), { sent: 0, wrong: [] }, []).problems).toEqual(['no query completed']);
  });
});
