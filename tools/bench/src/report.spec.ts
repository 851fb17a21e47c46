import type { DnsperfSummary } from './dnsperf';
import { BenchRow, formatPtrCheck, formatRatios, formatRcodes, formatTable, markdownTable } from './report';

const summary = {} as DnsperfSummary;
const row = (server: 'wgmesh' | 'knot', label: string, peers: number, query: 'SRV' | 'PTR', qps: number): BenchRow => ({
  server,
  label,
  workers: 2,
  peers,
  query,
  qps,
  lostPct: 0,
  rcodes: { NOERROR: 10 },
  avgResponseBytes: 316,
  p50Ms: 1.5,
  p99Ms: null,
  truncated: query === 'PTR',
  cpu: { server: 1, dnsperf: 0.8, interrupts: 0.1, other: 0 },
  throughput: summary,
  runs: [],
});

describe('report', () => {
  const rows = [
    row('wgmesh', 'wgmesh workers 2', 1000, 'SRV', 80000),
    row('wgmesh', 'wgmesh workers 2', 10000, 'SRV', 60000),
    row('knot', 'knot udp-workers 2', 1000, 'SRV', 160000),
    row('knot', 'knot udp-workers 2', 10000, 'SRV', 150000),
    row('knot', 'knot udp-workers 2', 10000, 'PTR', 200000),
  ];

  it('prints a markdown table, numbers right-aligned, TC marked', () => {
    const lines = formatTable(rows).split('\n');
    expect(lines[0]).toMatch(/^\| server +\| +peers \| query +\| queries\/s \| p50 ms \| p99 ms \| lost % \| resp bytes \| CPU server \| CPU dnsperf \| q\/s per server core \| rcodes +\|$/);
    expect(lines[1]).toMatch(/^\|-+\|-+:\|-+\|-+:\|/);
    expect(lines[2]).toContain('|  1,000 | SRV      |    80,000 |  1.500 |      – |      0 |');
    expect(lines[6]).toContain('| PTR (TC) |');
  });

  it('gives wgmesh/knot at each size and largest vs smallest size', () => {
    expect(formatRatios(rows)).toEqual([
      'SRV q/s wgmesh workers 2 / knot udp-workers 2 at 1,000 peers: 0.50 (80,000 / 160,000); per server core: 0.50',
      'SRV q/s wgmesh workers 2 / knot udp-workers 2 at 10,000 peers: 0.40 (60,000 / 150,000); per server core: 0.40',
      'SRV q/s wgmesh workers 2, 10,000 vs 1,000 peers: 0.75',
      'SRV q/s knot udp-workers 2, 10,000 vs 1,000 peers: 0.94',
    ]);
  });

  it('shows response codes as shares', () => {
    expect(formatRcodes({ NOERROR: 3, NXDOMAIN: 1 })).toBe('NOERROR 75.0%, NXDOMAIN 25.0%');
    expect(formatRcodes({})).toBe('none');
  });

  it('tells what a client gets for PTR over UDP and TCP', () => {
    expect(
      formatPtrCheck({ label: 'knot udp-workers 2', peers: 1000, udp: { answers: 0, truncated: true, bytes: 46 }, tcp: { rcode: 'SERVFAIL', answers: 0, truncated: false, bytes: 46 } }),
    ).toBe('knot udp-workers 2, 1,000 peers: UDP TC, 0 records (46 bytes); TCP SERVFAIL, 0 of 1,000 records (46 bytes)');
    expect(formatPtrCheck({ label: 'x', peers: 2, udp: { answers: 2, truncated: false, bytes: 200 }, tcp: { error: 'refused' } })).toBe(
      'x, 2 peers: UDP 2 records (200 bytes); TCP failed: refused',
    );
  });
});

describe('markdownTable', () => {
  it('pads columns to their widest cell, right-aligning the numeric ones', () => {
    expect(markdownTable(['name', 'n'], [['a', '1'], ['bb', '1,000']], [1]).split('\n')).toEqual(['| name |     n |', '|------|------:|', '| a    |     1 |', '| bb   | 1,000 |']);
  });
});
