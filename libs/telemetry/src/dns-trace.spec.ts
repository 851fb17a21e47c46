import { DNS_SLOW_MS, isDnsOutlier, traceDnsOutlier, withSpan } from './index';
import { installTestTracing, TestTracing } from './testing';

describe('DNS outliers', () => {
  let tracing: TestTracing;
  beforeAll(() => (tracing = installTestTracing()));
  afterAll(() => tracing.shutdown());

  it('gets a root dns.query span only for a failed or slow query, with its real timing', async () => {
    expect([isDnsOutlier(0.01), isDnsOutlier(DNS_SLOW_MS + 1), isDnsOutlier(0.01, new Error('x'))]).toEqual([false, true, true]);
    const started = performance.now();
    await withSpan('unrelated', {}, () => traceDnsOutlier({ transport: 'udp', startedMs: started, durationMs: 80, qtype: 33, rcode: 0 }));
    traceDnsOutlier({ transport: 'tcp', startedMs: started, durationMs: 0.02, error: new Error('responder bug') });
    const [slow, failed] = tracing.spans().filter((s) => s.name === 'dns.query');
    expect(slow.parentSpanContext).toBeUndefined(); // not a child of whatever was active
    expect(slow.attributes).toEqual({ 'network.transport': 'udp', 'dns.question.type': 33, 'dns.response.code': 0, 'wgmesh.dns.slow': true });
    expect(slow.duration[0] * 1000 + slow.duration[1] / 1e6).toBeCloseTo(80, 3);
    expect(failed.status).toEqual({ code: 2, message: 'responder bug' });
    expect(failed.attributes['wgmesh.dns.slow']).toBe(false);
  });
});
