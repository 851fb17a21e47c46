import { writeFileSync } from 'node:fs';
import { defineOptions, formatOptionsHelp, parseCommand, values } from '@wgmesh/config';
import type { NatType, PathDecision, PeerRecord } from '@wgmesh/contracts';
import { leads, MemberPaths } from '@wgmesh/nat-probe';

/**
 * nat-probe's path planning on one member (MemberPaths, libs/nat-probe), in process: the CPU one
 * peer change costs a member with 1,000 and 10,000 peers. "before": every pair decided again
 * (the table fed whole, as a reset: what every change cost before planning became incremental);
 * "after": the change fed alone (an upsert; the device state update naming the one peer whose
 * handshake changed), only the pairs it touches decided. Prints a table; not a test.
 */
const options = defineOptions([
  { key: 'peers', flag: 'peers', value: '<n,n…>', parse: sizes, default: '1000,10000', description: 'peer table sizes, one run each' },
  { key: 'changes', flag: 'changes', value: '<n>', parse: values.int(1, 100_000), default: '2000', description: 'changes measured incrementally (after), per kind' },
  { key: 'fullChanges', flag: 'full-changes', value: '<n>', parse: values.int(1, 10_000), default: '40', description: 'changes measured with every pair decided (before), per kind' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the results as JSON' },
]);

const usage = `Usage: node -r ./bin/register.js tools/bench/src/planner-bench.ts [options]   (npm run bench:planner)

One member's path planning (libs/nat-probe MemberPaths) with N peers: CPU per peer change,
deciding every pair (before) vs only the pairs the change touches (after). Two kinds of change:
a peer record (its NAT flips), and one handshake changed (before: the whole device state walked;
after: the dataplane.state update that names the one peer). "with outgoing" adds what a changed decision publishes
(MemberPaths.outgoing: the update of the decisions decided since the last one, and the decisions
addressed to followers).

Options:
${formatOptionsHelp(options)}`;

function sizes(t: string): number[] {
  return t.split(',').map((x) => values.int(2, 1_000_000)(x.trim()));
}

const T0 = 1_700_000_000_000;
const key = (i: number) => `P${i.toString(36).padStart(7, '0')}`.padEnd(43, 'x') + '=';
const NATS: NatType[] = ['eim', 'eim', 'edm', 'edm', 'none', 'unknown'];

interface Row {
  peers: number;
  change: 'peer record' | 'handshake';
  mode: 'before' | 'after';
  changes: number;
  /** CPU (user + system) per change, ms. */
  cpuMs: number;
  /** The same with `outgoing` (what is published) after each changed step, ms. */
  cpuWithReportMs: number;
  /** Pairs decided per change. */
  decided: number;
}

function setup(n: number, counter: { decided: number }) {
  const self = key(Math.floor(n / 2));
  const registry = key(n + 1);
  const peers: PeerRecord[] = Array.from({ length: n + 1 }, (_, i) => ({ publicKey: key(i), name: `m${i}`, allowedIps: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`], endpoint: `192.0.2.${i % 250}:${10000 + (i % 50000)}`, nat: NATS[i % NATS.length] }));
  const m = new MemberPaths({ self: { publicKey: self, name: 'self' }, registryKey: registry, startedAt: T0, onDecide: () => counter.decided++ });
  m.classified({ nat: 'eim' });
  m.table({ type: 'reset', peers });
  for (const p of peers) {
    if (p.publicKey === self || !leads(p.publicKey, self) || Number(p.name!.slice(1)) % 2) continue;
    const d: PathDecision = { peer: self, path: 'direct', attempt: false, reason: 'direct: both endpoint-independent (decided by x)', retryAt: null, since: T0, cause: 'rule', why: 'both-eim' };
    m.leader(p.publicKey, d);
  }
  // Fresh handshakes with two peers in three (seconds, as the device reports them).
  const device = peers.map((p, i) => ({ publicKey: p.publicKey, latestHandshake: i % 3 ? (T0 + 50) / 1000 : 0 }));
  m.observe({ peers: device as never });
  m.plan({ now: T0 + 100 });
  return { m, peers, device };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(n: number, change: Row['change'], mode: Row['mode'], changes: number, withReport: boolean): { cpuMs: number; decided: number } {
  const counter = { decided: 0 };
  const { m, peers, device } = setup(n, counter);
  let now = T0 + 200;
  const one = (i: number) => {
    const at = 1 + ((i * 7919) % n);
    now += 1;
    if (change === 'peer record') {
      const p = peers[at];
      peers[at] = { ...p, nat: p.nat === 'eim' ? 'edm' : 'eim' };
      if (mode === 'after') m.table({ type: 'upsert', peer: peers[at] });
      else m.table({ type: 'reset', peers });
    } else {
      device[at] = { publicKey: device[at].publicKey, latestHandshake: T0 / 1000 + 1 + i };
      if (mode === 'after') m.observeChanges([device[at]], []); // a dataplane.state update names the one peer
      else {
        m.observe({ peers: device as never });
        m.table({ type: 'reset', peers });
      }
    }
    const step = m.plan({ now });
    if (withReport && step.changed) m.outgoing(now);
  };
  for (let i = 0; i < Math.min(changes, 20); i++) one(i); // warm-up (JIT)
  counter.decided = 0;
  const start = cpuMs();
  for (let i = 0; i < changes; i++) one(1000 + i);
  return { cpuMs: (cpuMs() - start) / changes, decided: counter.decided / changes };
}

function main(argv: string[]): number {
  const command = parseCommand('planner-bench', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const rows: Row[] = [];
  // Warm-up (JIT) of every path measured, thrown away.
  for (const change of ['peer record', 'handshake'] as const) for (const mode of ['before', 'after'] as const) measure(1000, change, mode, 100, true);
  for (const n of o.peers) {
    for (const change of ['peer record', 'handshake'] as const) {
      for (const mode of ['before', 'after'] as const) {
        const changes = mode === 'before' ? o.fullChanges : o.changes;
        const plain = measure(n, change, mode, changes, false);
        const reported = measure(n, change, mode, changes, true);
        rows.push({ peers: n, change, mode, changes, cpuMs: plain.cpuMs, cpuWithReportMs: reported.cpuMs, decided: plain.decided });
        process.stderr.write(`${n} peers, ${change}, ${mode}: ${plain.cpuMs.toFixed(3)} ms\n`);
      }
    }
  }
  process.stdout.write(`${formatPathsTable(rows)}\n`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ at: new Date().toISOString(), rows }, null, 2));
  return 0;
}

const fmt = (v: number) => (v < 0.1 ? v.toFixed(4) : v < 10 ? v.toFixed(3) : v.toFixed(1));

/** before / after side by side, per size and kind of change. */
export function formatPathsTable(rows: readonly Row[]): string {
  const header = ['peers', 'change', 'pairs decided (before → after)', 'CPU ms before', 'CPU ms after', 'before/after', 'with outgoing: before', 'after'];
  const body: string[][] = [];
  for (const after of rows.filter((r) => r.mode === 'after')) {
    const before = rows.find((r) => r.mode === 'before' && r.peers === after.peers && r.change === after.change);
    if (!before) continue;
    body.push([
      after.peers.toLocaleString('en-US'),
      after.change,
      `${Number(before.decided.toFixed(2))} → ${Number(after.decided.toFixed(2))}`,
      fmt(before.cpuMs),
      fmt(after.cpuMs),
      `${(before.cpuMs / after.cpuMs).toFixed(0)}×`,
      fmt(before.cpuWithReportMs),
      fmt(after.cpuWithReportMs),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const right = (i: number) => i !== 1;
  const line = (r: string[]) => `| ${r.map((c, i) => (right(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (right(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return ['CPU per member per change (user + system, ms), one member\'s MemberPaths in process', '', line(header), rule, ...body.map(line)].join('\n');
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
