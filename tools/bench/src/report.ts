import type { CpuUse } from './cpu';
import type { DnsperfSummary } from './dnsperf';

/** One measured (server, peer count, query type). */
export interface BenchRow {
  server: 'wgmesh' | 'knot';
  /** "wgmesh workers 2", "knot udp-workers 2". */
  label: string;
  workers: number;
  peers: number;
  query: 'SRV' | 'PTR';
  /** From the quiet run. */
  qps: number;
  lostPct: number;
  rcodes: Record<string, number>;
  avgResponseBytes: number;
  /** From the separate -v run (null when it was skipped). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** TC bit in the probe answer (UDP, no EDNS: 512 bytes). */
  truncated: boolean;
  /** Cores used during the reported throughput run. */
  cpu: CpuUse;
  throughput: DnsperfSummary;
  /** Every throughput run (with --repeat), the best of which is reported. */
  runs: { qps: number; cpu: CpuUse }[];
  latency?: { samples: number; summary: DnsperfSummary };
}

export interface BenchSettings {
  peers: number[];
  duration: number;
  latencyDuration: number;
  repeat: number;
  warmup: number;
  clients: number;
  threads: number;
  outstanding: number;
  timeout: number;
  queries: number;
  zone: string;
  cpus: number;
}

/** What a client gets for the PTR question (all peers) from one server. */
export interface PtrCheck {
  label: string;
  peers: number;
  udp: { answers: number; truncated: boolean; bytes: number };
  tcp: { rcode: string; answers: number; truncated: boolean; bytes: number } | { error: string };
}

export interface BenchReport {
  startedAt: string;
  settings: BenchSettings;
  rows: BenchRow[];
  ptr: PtrCheck[];
  /** Problems seen while checking answers before measuring. */
  warnings: string[];
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number | null) => (n === null || Number.isNaN(n) ? '–' : n.toFixed(3));
const fmtPct = (n: number) => (n === 0 ? '0' : n < 0.01 ? '<0.01' : n.toFixed(2));

/** Share of each RCODE, e.g. "NOERROR 100%"; several codes comma-separated. */
export function formatRcodes(rcodes: Record<string, number>): string {
  const total = Object.values(rcodes).reduce((a, b) => a + b, 0);
  if (total === 0) return 'none';
  return Object.entries(rcodes)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ${((100 * n) / total).toFixed(n === total ? 0 : 1)}%`)
    .join(', ');
}

export function formatTable(rows: readonly BenchRow[]): string {
  const head = ['server', 'peers', 'query', 'queries/s', 'p50 ms', 'p99 ms', 'lost %', 'resp bytes', 'CPU server', 'CPU dnsperf', 'q/s per server core', 'rcodes'];
  const body = rows.map((r) => [
    r.label,
    fmtInt(r.peers),
    r.query + (r.truncated ? ' (TC)' : ''),
    fmtInt(r.qps),
    fmtMs(r.p50Ms),
    fmtMs(r.p99Ms),
    fmtPct(r.lostPct),
    fmtInt(r.avgResponseBytes),
    r.cpu.server.toFixed(2),
    r.cpu.dnsperf.toFixed(2),
    fmtInt(perCore(r)),
    formatRcodes(r.rcodes),
  ]);
  return markdownTable(head, body, [1, 3, 4, 5, 6, 7, 8, 9, 10]);
}

/** A Markdown table, columns padded to their widest cell; the columns in `right` (numbers) right-aligned. */
export function markdownTable(head: readonly string[], body: readonly (readonly string[])[], right: readonly number[] = []): string {
  const alignRight = new Set(right);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => (alignRight.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (alignRight.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** Queries per second per core the server used: comparable when the client, not the server, was the limit. */
export function perCore(r: BenchRow): number {
  return r.cpu.server > 0 ? r.qps / r.cpu.server : NaN;
}

function find(rows: readonly BenchRow[], label: string, peers: number, query: string): BenchRow | undefined {
  return rows.find((r) => r.label === label && r.peers === peers && r.query === query);
}

/** "wgmesh/knot" at each size and "largest vs smallest" for each wgmesh configuration. */
export function formatRatios(rows: readonly BenchRow[]): string[] {
  const out: string[] = [];
  const labels = (kind: string) => [...new Set(rows.filter((r) => r.server === kind).map((r) => r.label))];
  const sizes = [...new Set(rows.map((r) => r.peers))].sort((a, b) => a - b);
  const knots = labels('knot');
  for (const query of ['SRV', 'PTR'] as const) {
    for (const peers of sizes) {
      for (const knot of knots) {
        const k = find(rows, knot, peers, query);
        if (!k) continue;
        for (const w of labels('wgmesh')) {
          const m = find(rows, w, peers, query);
          if (!m) continue;
          out.push(
            `${query} q/s ${w} / ${knot} at ${fmtInt(peers)} peers: ${(m.qps / k.qps).toFixed(2)} (${fmtInt(m.qps)} / ${fmtInt(k.qps)}); ` +
              `per server core: ${(perCore(m) / perCore(k)).toFixed(2)}`,
          );
        }
      }
    }
  }
  if (sizes.length > 1) {
    const [small, large] = [sizes[0], sizes[sizes.length - 1]];
    for (const w of [...labels('wgmesh'), ...knots]) {
      for (const query of ['SRV', 'PTR'] as const) {
        const a = find(rows, w, small, query);
        const b = find(rows, w, large, query);
        if (a && b) out.push(`${query} q/s ${w}, ${fmtInt(large)} vs ${fmtInt(small)} peers: ${(b.qps / a.qps).toFixed(2)}`);
      }
    }
  }
  return out;
}

export function formatReport(report: BenchReport): string {
  const s = report.settings;
  const lines = [
    formatTable(report.rows),
    '',
    ...formatRatios(report.rows).map((l) => `- ${l}`),
    '',
    `dnsperf -c ${s.clients} -T ${s.threads} -q ${s.outstanding} -t ${s.timeout}, ${s.duration} s per throughput run` +
      `${s.repeat > 1 ? ` (best of ${s.repeat})` : ''}, ` +
      `p50/p99 from a separate ${s.latencyDuration} s \`-v\` run, ${s.warmup} s warm-up per server; UDP without EDNS; ` +
      `${s.cpus} CPUs shared by dnsperf and the server; CPU columns are cores used on average during the throughput run.`,
  ];
  if (report.rows.some((r) => r.truncated)) {
    lines.push(
      'PTR (TC): the PTR answer (all peers) does not fit a 512-byte UDP response, so the server sends a truncated one (TC bit); ' +
        'dnsperf counts it as an answer and does not retry over TCP, so PTR rows measure truncated responses.',
    );
  }
  if (report.ptr.length > 0) {
    lines.push('', 'PTR for all peers, as a client sees it (UDP without EDNS, then TCP):');
    for (const c of report.ptr) lines.push(`- ${formatPtrCheck(c)}`);
  }
  for (const w of report.warnings) lines.push(`WARNING: ${w}`);
  return lines.join('\n');
}

export function formatPtrCheck(c: PtrCheck): string {
  const udp = `UDP ${c.udp.truncated ? 'TC, ' : ''}${fmtInt(c.udp.answers)} records (${fmtInt(c.udp.bytes)} bytes)`;
  const tcp =
    'error' in c.tcp
      ? `TCP failed: ${c.tcp.error}`
      : `TCP ${c.tcp.rcode}${c.tcp.truncated ? ' TC' : ''}, ${fmtInt(c.tcp.answers)} of ${fmtInt(c.peers)} records (${fmtInt(c.tcp.bytes)} bytes)`;
  return `${c.label}, ${fmtInt(c.peers)} peers: ${udp}; ${tcp}`;
}
