import { Registry, type Metric } from 'prom-client';
import { defineCounter, defineGauge, FixedHistogram, metricsRegistry, MetricsScope, TableCounter } from './metrics';
import { DnsQueryMetrics, dnsQueryMetrics } from './metrics-dns';
import { countError, meshMetrics, setNatType, setPathCounts, watchNatsServer } from './metrics-mesh';

/** The exposition text of some metrics, through a registry of their own. */
async function render(...metrics: object[]): Promise<string> {
  const r = new Registry();
  for (const m of metrics) r.registerMetric(m as unknown as Metric<string>);
  return r.metrics();
}

/** The sample lines (no # HELP / # TYPE) of a metric family in exposition text. */
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(name));

describe('DnsQueryMetrics', () => {
  it('counts by transport, qtype and rcode, with closed label sets', async () => {
    const m = new DnsQueryMetrics();
    m.record('udp', 33, 0, 0.00002); // SRV NOERROR
    m.record('udp', 33, 0, 0.00003);
    m.record('tcp', 12, 3, 0.0002); // PTR NXDOMAIN
    m.record('udp', 99, 5, 0.00001); // an unknown type → other
    m.record('udp', 65280, 16, 0.00001); // a private type ≥ 256, BADVERS
    m.record('udp', -1, 1, 0.00001); // no question, FORMERR
    m.record('udp', 1, 23, 0.00001); // an rcode we never send → other
    m.record('udp', -1, -1, 0); // dropped
    m.record('tcp', -1, -1, 0);
    m.record('tcp', -1, -1, 0);
    const text = await render(m.queries, m.dropped);
    expect(samples(text, 'wgmesh_dns_queries_total').sort()).toEqual(
      [
        'wgmesh_dns_queries_total{transport="udp",qtype="SRV",rcode="NOERROR"} 2',
        'wgmesh_dns_queries_total{transport="tcp",qtype="PTR",rcode="NXDOMAIN"} 1',
        'wgmesh_dns_queries_total{transport="udp",qtype="other",rcode="REFUSED"} 1',
        'wgmesh_dns_queries_total{transport="udp",qtype="other",rcode="BADVERS"} 1',
        'wgmesh_dns_queries_total{transport="udp",qtype="none",rcode="FORMERR"} 1',
        'wgmesh_dns_queries_total{transport="udp",qtype="A",rcode="other"} 1',
      ].sort(),
    );
    expect(text).toContain('# TYPE wgmesh_dns_queries_total counter');
    expect(samples(text, 'wgmesh_dns_dropped_total').sort()).toEqual(['wgmesh_dns_dropped_total{transport="tcp"} 2', 'wgmesh_dns_dropped_total{transport="udp"} 1']);
    expect(m.queries.value({ transport: 'udp', qtype: 'SRV', rcode: 'NOERROR' })).toBe(2);
    expect(m.duration.count(0)).toBe(6);
    expect(m.duration.count(1)).toBe(1);
  });

  it('exposes latency as a cumulative histogram per transport', async () => {
    const m = new DnsQueryMetrics();
    for (const s of [0.000004, 0.000005, 0.000007, 0.0003, 0.2]) m.record('udp', 1, 0, s);
    const text = await render(m.duration);
    expect(text).toContain('# TYPE wgmesh_dns_query_duration_seconds histogram');
    const udp = samples(text, 'wgmesh_dns_query_duration_seconds');
    // 5 µs holds the first two (le is inclusive), 10 µs one more, 500 µs the 300 µs one, +Inf all.
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="0.000005"} 2');
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="0.00001"} 3');
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="0.00025"} 3');
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="0.0005"} 4');
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="0.1"} 4');
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_bucket{transport="udp",le="+Inf"} 5');
    expect(udp).toContain('wgmesh_dns_query_duration_seconds_count{transport="udp"} 5');
    const sum = Number(udp.find((l) => l.startsWith('wgmesh_dns_query_duration_seconds_sum'))!.split(' ')[1]);
    expect(sum).toBeCloseTo(0.200316, 9);
    expect(udp.some((l) => l.includes('transport="tcp"'))).toBe(false); // no observations, no series
  });

  it('is one instance per process, in the registry', async () => {
    expect(dnsQueryMetrics()).toBe(dnsQueryMetrics());
    expect(metricsRegistry.getSingleMetric('wgmesh_dns_queries_total')).toBe(dnsQueryMetrics().queries);
  });
});

describe('FixedHistogram and TableCounter', () => {
  it('refuses buckets that do not increase', () => {
    expect(() => new FixedHistogram('x', 'x', [1, 1], 'l', ['a'])).toThrow(/increase/);
  });

  it('reset() clears every series', async () => {
    const t = new TableCounter('t_total', 'help', [['a', ['x', 'y']], ['b', ['p', 'q', 'r']]]);
    t.cells[t.index(1, 2)] += 3;
    expect(samples(await render(t), 't_total')).toEqual(['t_total{a="y",b="r"} 3']);
    t.reset();
    expect(samples(await render(t), 't_total')).toEqual([]);
  });
});

describe('MetricsScope', () => {
  const read = async (name: string) => samples(await metricsRegistry.getSingleMetricAsString(name), name);

  it('adds what a source counter grew by at each scrape, and keeps it after dispose', async () => {
    const c = defineCounter('test_scope_reads_total', 'test', ['result']);
    const counters = { ok: 0, failed: 0 };
    const scope = new MetricsScope().counter(c, { result: 'ok' }, () => counters.ok).counter(c, { result: 'failed' }, () => counters.failed);
    counters.ok = 5;
    expect((await read('test_scope_reads_total')).sort()).toEqual(['test_scope_reads_total{result="failed"} 0', 'test_scope_reads_total{result="ok"} 5']);
    counters.ok = 7;
    counters.failed = 1;
    expect((await read('test_scope_reads_total')).sort()).toEqual(['test_scope_reads_total{result="failed"} 1', 'test_scope_reads_total{result="ok"} 7']);
    // A second component counting into the same series: the totals add up.
    const other = { ok: 2 };
    const scope2 = new MetricsScope().counter(c, { result: 'ok' }, () => other.ok);
    expect(await read('test_scope_reads_total')).toContain('test_scope_reads_total{result="ok"} 9');
    counters.ok = 10; // counted since the last scrape: taken by dispose's last reading
    scope.dispose();
    counters.ok = 100; // no longer read
    scope2.dispose();
    expect(await read('test_scope_reads_total')).toContain('test_scope_reads_total{result="ok"} 12');
  });

  it('counts on from a source that went back to zero (a restarted component)', async () => {
    const c = defineCounter('test_scope_restart_total', 'test');
    let n = 4;
    const scope = new MetricsScope().counter(c, {}, () => n);
    expect(await read('test_scope_restart_total')).toEqual(['test_scope_restart_total 4']);
    n = 1;
    expect(await read('test_scope_restart_total')).toEqual(['test_scope_restart_total 4']);
    n = 3;
    expect(await read('test_scope_restart_total')).toEqual(['test_scope_restart_total 6']);
    scope.dispose();
  });

  it('sums gauge sources per label set and drops series whose sources are gone', async () => {
    const g = defineGauge('test_scope_peers', 'test', ['component'], { sourced: true });
    const a = new MetricsScope().gauge(g, { component: 'resolver' }, () => 3);
    const b = new MetricsScope().gauge(g, { component: 'resolver' }, () => 4).gauge(g, { component: 'member' }, () => 1);
    expect((await read('test_scope_peers')).sort()).toEqual(['test_scope_peers{component="member"} 1', 'test_scope_peers{component="resolver"} 7']);
    b.dispose();
    expect(await read('test_scope_peers')).toEqual(['test_scope_peers{component="resolver"} 3']);
    a.dispose();
    expect(await read('test_scope_peers')).toEqual([]);
    expect(() => new MetricsScope().gauge(defineGauge('test_plain', 'test'), {}, () => 1)).toThrow(/not defined as sourced/);
  });
});

describe('mesh metrics', () => {
  const read = async (name: string) => samples(await metricsRegistry.getSingleMetricAsString(name), name).sort();

  it('nat-probe helpers: path counts and a one-hot NAT type', async () => {
    setPathCounts({ direct: 3, relayed: 1 });
    expect(await read('wgmesh_paths')).toEqual(['wgmesh_paths{path="direct"} 3', 'wgmesh_paths{path="relayed"} 1']);
    setNatType('eim');
    setNatType('edm');
    expect(await read('wgmesh_nat_type')).toEqual(['wgmesh_nat_type{nat="edm"} 1', 'wgmesh_nat_type{nat="eim"} 0', 'wgmesh_nat_type{nat="none"} 0', 'wgmesh_nat_type{nat="unknown"} 0']);
  });

  it("reads a NATS server's counters by route kind", async () => {
    const stats = {
      rejected: 2,
      errors: 1,
      patterns: { 'peers.events': { received: 5, rejected: 2, errors: 0 }, 'peers.snapshot': { received: 3, rejected: 0, errors: 1 } },
    };
    const server = {
      stats: () => stats,
      routes: () => [{ pattern: 'peers.events', kind: 'event' as const }, { pattern: 'peers.snapshot', kind: 'request' as const }],
    };
    meshMetrics.errors();
    const before = await read('wgmesh_errors_total');
    const scope = watchNatsServer(new MetricsScope(), server);
    countError('dns_pull');
    expect(await read('wgmesh_events_consumed_total')).toEqual(['wgmesh_events_consumed_total{event="peers.events"} 5']);
    expect(await read('wgmesh_requests_received_total')).toEqual(['wgmesh_requests_received_total{request="peers.snapshot"} 3']);
    expect(before).toEqual([]);
    expect(await read('wgmesh_errors_total')).toEqual(['wgmesh_errors_total{kind="dns_pull"} 1', 'wgmesh_errors_total{kind="handler_error"} 1', 'wgmesh_errors_total{kind="invalid_message"} 2']);
    scope.dispose();
    expect(meshMetrics.errors()).toBe(meshMetrics.errors()); // defined once
  });
});
