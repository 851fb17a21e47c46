import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { DataplaneState } from '@wgmesh/contracts';
import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
import { DataplaneProgrammer, stateFingerprint, UapiDriver } from '@wgmesh/dataplane';
import { generatePrivateKey } from '@wgmesh/wireguard';
import { Lab, labAvailable, LabDevice } from '@wgmesh/wireguard/testing';
import { parseProcStat, TICKS_PER_SECOND } from './cpu';
import { makePeers } from './driver-timing';
import { median } from './programming-table';

/**
 * What one peer change costs a member's dataplane-programmer: a wireguard-go device in a network
 * namespace holding N peers (1,000 and 10,000), then one delta request at a time (`replace:
 * false`, one peer's endpoint changed, as peer-discovery sends it) through a DataplaneProgrammer
 *   - before: the device read whole before every apply and diffed against (reconcileMs -1: what
 *     every apply did before the programmer kept a model of the device),
 *   - after: the delta diffed against the programmer's model (no read),
 * each on a device of its own (after first: before's reads make garbage whose collection would
 * land in after's samples). Per change: wall time and this process's CPU
 * (median, p95), and wireguard-go's CPU (its /proc ticks over all changes, per change). Also what
 * the state report after an apply cost before (a read, its fingerprint and the message as JSON,
 * which NATS then carried: ~1.5 MB at 10,000 peers); it is now made by the state poll, at most
 * once a second whatever the number of changes.
 * Run: npm run bench:delta-apply -- [--peers 1000,10000] [--changes 100]
 */
const intList = (min: number, max: number) => (t: string) => t.split(',').map((s) => values.int(min, max)(s.trim()));

const options = defineOptions([
  { key: 'peers', flag: 'peers', value: '<n,…>', parse: intList(1, 100_000), default: '1000,10000', description: 'peers on the device, one run each' },
  { key: 'changes', flag: 'changes', value: '<n>', parse: values.int(1, 10_000), default: '100', description: 'delta requests measured per run and method' },
  { key: 'netnsPrefix', flag: 'netns-prefix', value: '<p>', parse: values.string, default: 'wgb', description: 'prefix of the network namespace made for the devices' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the rows as JSON' },
]);

interface Options {
  peers: number[];
  changes: number;
  netnsPrefix: string;
  json?: string;
}

export interface DeltaRow {
  peers: number;
  method: 'before' | 'after' | 'state report (before)';
  wallMs: number;
  wallP95Ms: number;
  cpuMs: number;
  cpuP95Ms: number;
  /** wireguard-go's CPU per change (its ticks over the run / changes). */
  daemonCpuMs: number;
  reads: number;
  bytes?: number;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

function ticksOf(pid: number): number {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).ticks;
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)];
}

async function device(lab: Lab, ns: string, listenPort: number): Promise<{ dev: LabDevice; programmer: DataplaneProgrammer; driver: UapiDriver; daemonPid: number }> {
  const dev = await lab.wireguardGo(ns);
  await dev.uapi.set({ privateKey: generatePrivateKey(), listenPort });
  const driver = new UapiDriver(dev.name, { socketPath: dev.socketPath });
  // wireguard-go's PID: the lab starts it through `ip netns exec`, which execs it (same PID).
  return { dev, driver, programmer: new DataplaneProgrammer({ driver }), daemonPid: dev.pid };
}

async function run(lab: Lab, ns: string, n: number, changes: number): Promise<DeltaRow[]> {
  const peers = makePeers(n, 20000, 'delta-apply');
  const before = await device(lab, ns, 52001);
  const after = await device(lab, ns, 52002);
  const beforeProgrammer = new DataplaneProgrammer({ driver: before.driver, reconcileMs: -1 });
  for (const d of [before, after]) await d.programmer.apply({ peers, replace: true });
  const samples = { before: { wall: [] as number[], cpu: [] as number[] }, after: { wall: [] as number[], cpu: [] as number[] }, report: { wall: [] as number[], cpu: [] as number[] } };
  const daemonTicks = { before: 0, after: 0 };
  let bytes = 0;
  const request = (i: number) => ({ peers: [{ ...peers[(i * 7919) % n], endpoint: `192.0.2.${(i % 250) + 1}:${40000 + i}` }], replace: false });
  // After first, then before: the before's reads of the whole device make garbage whose
  // collection would otherwise land in the after's samples.
  for (const [label, d, programmer] of [['after', after, after.programmer], ['before', before, beforeProgrammer]] as const) {
    const ticks = ticksOf(d.daemonPid);
    for (let i = 0; i < changes; i++) {
      const cpu = process.cpuUsage();
      const t = performance.now();
      const result = await programmer.apply(request(i));
      const wall = performance.now() - t;
      const used = process.cpuUsage(cpu);
      if (result.updated !== 1) throw new Error(`${label}: change ${i} updated ${result.updated} peers, not 1`);
      samples[label].wall.push(wall);
      samples[label].cpu.push((used.user + used.system) / 1000);
    }
    daemonTicks[label] = ticksOf(d.daemonPid) - ticks;
  }
  // What the state report after every apply cost before: read, fingerprint, the message as JSON.
  for (let i = 0; i < changes; i++) {
    const cpu = process.cpuUsage();
    const t = performance.now();
    const state = await before.driver.read();
    stateFingerprint(state);
    const message: DataplaneState = { node: 'bench', driver: 'uapi', device: before.dev.name, publicKey: state.publicKey ?? '', listenPort: state.listenPort, peers: state.peers, at: Date.now() };
    bytes = Buffer.byteLength(JSON.stringify(message));
    samples.report.wall.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    samples.report.cpu.push((used.user + used.system) / 1000);
  }
  // Untimed: both devices have what was asked, and the model what the device has.
  const [a, b] = [await before.driver.read(), await after.driver.read()];
  const endpoints = (s: typeof a) => new Map(s.peers.map((p) => [p.publicKey, p.endpoint]));
  const [ea, eb] = [endpoints(a), endpoints(b)];
  for (const [key, e] of ea) if (eb.get(key) !== e) throw new Error(`the two devices differ at ${key}: ${e} / ${eb.get(key)}`);
  const model = new Map(after.programmer.modelPeers()!.map((p) => [p.publicKey, p.endpoint]));
  for (const [key, e] of eb) if (model.get(key) !== e) throw new Error(`the model differs from the device at ${key}: ${model.get(key)} / ${e}`);
  const reads = { before: beforeProgrammer.counters.reads, after: after.programmer.counters.reads - 1 };
  for (const d of [before, after]) await d.dev.stop();
  const row = (method: DeltaRow['method'], s: { wall: number[]; cpu: number[] }, daemon: number, r: number): DeltaRow => ({
    peers: n,
    method,
    wallMs: median(s.wall),
    wallP95Ms: p95(s.wall),
    cpuMs: median(s.cpu),
    cpuP95Ms: p95(s.cpu),
    daemonCpuMs: ((daemon / TICKS_PER_SECOND) * 1000) / changes,
    reads: r,
  });
  return [
    row('before', samples.before, daemonTicks.before, reads.before),
    row('after', samples.after, daemonTicks.after, reads.after),
    { ...row('state report (before)', samples.report, NaN, changes), bytes },
  ];
}

export function formatDeltaTable(rows: readonly DeltaRow[], changes: number): string {
  const head = ['peers', 'one delta apply', 'wall ms (median)', 'p95', 'CPU ms (median)', 'p95', 'wireguard-go CPU ms', `device reads / ${changes}`, 'state bytes'];
  const body = rows.map((r) => [
    r.peers.toLocaleString('en-US'),
    r.method,
    r.wallMs.toFixed(2),
    r.wallP95Ms.toFixed(2),
    r.cpuMs.toFixed(2),
    r.cpuP95Ms.toFixed(2),
    Number.isNaN(r.daemonCpuMs) ? '' : r.daemonCpuMs.toFixed(2),
    String(r.reads),
    r.bytes ? `${(r.bytes / 1e6).toFixed(2)} MB` : '',
  ]);
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

async function main(o: Options): Promise<void> {
  if (!labAvailable) throw new Error('needs root, ip, wireguard-go and wg (see DESIGN.md, "The network-namespace lab")');
  const lab = new Lab();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up…\n`);
    void lab.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const load = loadavg()[0].toFixed(2);
  const rows: DeltaRow[] = [];
  try {
    const ns = await lab.netns(o.netnsPrefix);
    for (const n of o.peers) {
      progress(`${n} peers: ${o.changes} delta requests, before and after…`);
      rows.push(...(await run(lab, ns, n, o.changes)));
    }
  } finally {
    const problems = await lab.cleanup();
    for (const p of problems) process.stderr.write(`cleanup: ${p}\n`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  process.stdout.write(
    [
      '',
      `One peer change (a delta request: one peer's endpoint) applied by a DataplaneProgrammer to a wireguard-go device over UAPI`,
      `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${load} before, ${loadavg()[0].toFixed(2)} after, node ${process.version}; ${o.changes} changes per row`,
      '',
      formatDeltaTable(rows, o.changes),
      '',
      'before: the device read whole (UAPI get) and diffed before every apply; after: the delta diffed against the',
      "programmer's model of the device. CPU: this process (the programmer); wireguard-go CPU: the daemon's, per change.",
      'state report (before): the read, fingerprint and JSON message the state reporter made after every apply that changed',
      'the device; now the state poll (once a second) reads and publishes, however many changes came.',
      '',
    ].join('\n'),
  );
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ at: new Date().toISOString(), options: o, rows }, null, 2)}\n`);
}

const usage = `Usage: npm run bench:delta-apply -- [options]

Time and CPU of one peer change (a delta request) in a member's dataplane-programmer, on a
wireguard-go device holding N peers: reading the whole device before the apply (before) against
the programmer's model of the device (after). Needs root, ip and wireguard-go; everything runs
in a network namespace of its own and is removed at the end (or on Ctrl-C).

Options:
${formatOptionsHelp(options)}`;

if (require.main === module) {
  const command = parseCommand('bench:delta-apply', usage, options, { argv: process.argv.slice(2), env: {} });
  if ('exit' in command) process.exitCode = command.exit;
  else
    main(command.options).catch((err: Error) => {
      process.stderr.write(`bench:delta-apply: ${err.message}\n`);
      process.exitCode = 1;
    });
}
