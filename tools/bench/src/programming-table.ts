/** One measured (method, phase): times are medians over the repeats. */
export interface ProgrammingRow {
  method: string;
  phase: 'load' | 'update';
  /** Peers the timing covers (may be fewer than `peers` for capped methods). */
  measuredPeers: number;
  /** Peers in the phase (the extrapolation target). */
  peers: number;
  readMs?: number;
  diffMs?: number;
  applyMs?: number;
  totalMs: number;
  /** Every repeat's total, for the spread. */
  runs: number[];
  note?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Time for all `peers`, extrapolated linearly when fewer were measured. */
export function fullMs(row: ProgrammingRow): number {
  return (row.totalMs * row.peers) / row.measuredPeers;
}

export function peersPerSecond(row: ProgrammingRow): number {
  return row.measuredPeers / (row.totalMs / 1000);
}

const ms = (v: number | undefined) => (v === undefined ? '' : v < 10 ? v.toFixed(1) : v.toFixed(0));

/** The results table; `reference` names the method each row is compared with (per phase). */
export function formatProgrammingTable(rows: ProgrammingRow[], reference: string): string {
  const ref = new Map(rows.filter((r) => r.method === reference).map((r) => [r.phase, fullMs(r)]));
  const header = ['method', 'phase', 'peers', 'read ms', 'diff ms', 'apply ms', 'total ms', 'runs (total ms)', 'peers/s', `total vs ${reference}`, 'diff+apply vs'];
  const body = rows.map((r) => {
    const base = ref.get(r.phase);
    const total = r.measuredPeers === r.peers ? ms(r.totalMs) : `${ms(fullMs(r))}*`;
    return [
      r.method,
      r.phase,
      r.measuredPeers === r.peers ? String(r.peers) : `${r.measuredPeers}→${r.peers}*`,
      ms(r.readMs),
      ms(r.diffMs),
      ms(r.applyMs),
      total,
      r.runs.map((x) => ms(x)).join(' / '),
      Math.round(peersPerSecond(r)).toLocaleString('en-US'),
      base === undefined ? '' : `${(fullMs(r) / base).toFixed(2)}×`,
      base === undefined || r.diffMs === undefined || r.applyMs === undefined ? '' : `${((r.diffMs + r.applyMs) / base).toFixed(2)}×`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
