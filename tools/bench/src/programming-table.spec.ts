import { formatProgrammingTable, fullMs, median, peersPerSecond, ProgrammingRow } from './programming-table';

describe('programming-rate table', () => {
  const rows: ProgrammingRow[] = [
    { method: 'uapi driver', phase: 'load', measuredPeers: 10000, peers: 10000, readMs: 0.4, diffMs: 3, applyMs: 1200, totalMs: 1204, runs: [1204, 1300, 1100] },
    { method: 'wg addconf', phase: 'load', measuredPeers: 10000, peers: 10000, totalMs: 1100, runs: [1100, 1150, 1000] },
    { method: 'wg set per peer', phase: 'load', measuredPeers: 1000, peers: 10000, totalMs: 2000, runs: [2000] },
  ];

  it('computes medians, rates and extrapolations', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(fullMs(rows[2])).toBe(20000);
    expect(peersPerSecond(rows[2])).toBe(500);
  });

  it('prints one row per measurement, marks extrapolations and compares with the reference', () => {
    const table = formatProgrammingTable(rows, 'wg addconf').split('\n');
    expect(table).toHaveLength(5);
    expect(table[2]).toMatch(/^uapi driver\s+load\s+10000\s+0\.4\s+3\.0\s+1200\s+1204\s+1204 \/ 1300 \/ 1100\s+8,306\s+1\.09×\s+1\.09×$/);
    expect(table[3]).toMatch(/1\.00×\s*$/);
    expect(table[4]).toMatch(/1000→10000\*.*20000\*.*500\s+18\.18×$/);
  });
});
