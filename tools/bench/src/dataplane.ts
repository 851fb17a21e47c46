import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
import { readDaemonRecord } from '@wgmesh/dataplane';
import { Lab, Mesh, missingMeshTools, missingRequirements, startMesh } from '@wgmesh/lab';
import { vppAvailability } from '@wgmesh/vpp-live';
import { parseProcStat, TICKS_PER_SECOND } from './cpu';
import { median } from './programming-table';

/**
 * The seed's demo as a benchmark: TCP throughput through direct tunnels of one lab, for each kind
 * of pair (wireguard-go ↔ wireguard-go, wireguard-go ↔ VPP both ways, VPP ↔ VPP), with the CPU
 * the two ends' dataplanes spent (wireguard-go processes, VPP's main thread) per Gbit carried.
 * Four public members (no NAT routers in the path: they would cost CPU of their own), a
 * wireguard-go registry; every pair direct before anything is measured. iperf3 (Debian: iperf3)
 * binds both ends to the tunnel addresses; the VPP nodes' hosts reach the mesh through their host
 * interface (a veth into VPP where there is no vhost-net). Prints a table; not a test.
 * Run: npm run bench:dataplane -- [--seconds 10] [--repeat 3] [--json <file>]
 */
const options = defineOptions([
  { key: 'seconds', flag: 'seconds', value: '<s>', parse: values.int(2, 120), default: '10', description: 'length of each iperf3 run' },
  { key: 'repeat', flag: 'repeat', value: '<n>', parse: values.int(1, 10), default: '3', description: 'runs per pair; medians are reported' },
  { key: 'vppPollSleep', flag: 'vpp-poll-sleep', value: '<µs|off>', parse: (t) => (t === 'off' ? null : values.int(1, 100_000)(t)), default: 'off', description: "VPP's main loop sleep per turn (the lab's default is 1000, for idle CPU); off: VPP's own loop, which waits in epoll and wakes on packets" },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write every run as JSON' },
]);

interface Options {
  seconds: number;
  repeat: number;
  vppPollSleep: number | null;
  json?: string;
}

const usage = `Usage: npm run bench:dataplane -- [options]

iperf3 (TCP, one stream) through direct WireGuard tunnels in the netns lab: wireguard-go to
wireguard-go, wireguard-go to VPP and back, VPP to VPP, all in one lab. Prints Mbit/s and the
dataplane CPU (both ends) per Gbit carried. Needs root, the lab's packages, iperf3, and VPP
(WGMESH_VPP_BIN / WGMESH_VPP_API_DIR, or vpp on PATH).

Options:
${formatOptionsHelp(options)}`;

const MEMBERS = [
  { name: 'w1', nat: 'public' as const },
  { name: 'w2', nat: 'public' as const },
  { name: 'v1', nat: 'public' as const, dataplane: 'vpp' as const },
  { name: 'v2', nat: 'public' as const, dataplane: 'vpp' as const },
];
const CASES: Array<{ label: string; from: string; to: string }> = [
  { label: 'wireguard-go → wireguard-go', from: 'w1', to: 'w2' },
  { label: 'wireguard-go → VPP', from: 'w1', to: 'v1' },
  { label: 'VPP → wireguard-go', from: 'v1', to: 'w1' },
  { label: 'VPP → VPP', from: 'v1', to: 'v2' },
];

export interface DataplaneRun {
  label: string;
  mbps: number;
  /** CPU seconds of both ends' dataplane processes during the run. */
  cpuSeconds: number;
  seconds: number;
  retransmits: number;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** utime + stime of a process, in seconds. */
function cpuSecondsOf(pid: number): number {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).ticks / TICKS_PER_SECOND;
}

/** The process carrying a member's WireGuard: its wireguard-go, or its node's VPP. */
function dataplanePid(mesh: Mesh, name: string): number {
  const m = mesh.member(name);
  if (m.host.dataplane === 'vpp') return Number(readFileSync(join(mesh.vppNodeOf(name).runtimeDir, 'vpp.pid'), 'utf8').trim());
  const record = readDaemonRecord(m.device);
  if (!record) throw new Error(`no wireguard-go record for ${m.device}`);
  return record.pid;
}

async function iperf(mesh: Mesh, from: string, to: string, seconds: number): Promise<{ mbps: number; retransmits: number }> {
  const server = mesh.lab.spawn(to, 'iperf3', ['-s', '-1', '--forceflush', '-B', mesh.member(to).address, '-p', '5201']);
  try {
    await server.waitForLine(/Server listening/, 10_000);
    const { stdout } = await mesh.lab.exec(from, 'iperf3', ['-c', mesh.member(to).address, '-B', mesh.member(from).address, '-p', '5201', '-t', String(seconds), '-J'], { timeoutMs: (seconds + 30) * 1000 });
    const result = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    return { mbps: result.end.sum_received.bits_per_second / 1e6, retransmits: result.end.sum_sent.retransmits ?? 0 };
  } finally {
    await server.stop();
  }
}

async function measure(mesh: Mesh, c: (typeof CASES)[number], seconds: number): Promise<DataplaneRun> {
  const pids = [dataplanePid(mesh, c.from), dataplanePid(mesh, c.to)];
  const before = pids.map(cpuSecondsOf);
  const started = performance.now();
  const { mbps, retransmits } = await iperf(mesh, c.from, c.to, seconds);
  const elapsed = (performance.now() - started) / 1000;
  const cpuSeconds = pids.map(cpuSecondsOf).reduce((sum, v, i) => sum + v - before[i], 0);
  return { label: c.label, mbps, cpuSeconds, seconds: elapsed, retransmits };
}

/** The table: per pair kind the median Mbit/s and dataplane CPU per Gbit over the runs. */
export function formatDataplaneTable(runs: readonly DataplaneRun[]): string {
  const rows = [['path', 'Mbit/s (median)', 'range', 'dataplane CPU (cores)', 'CPU s per Gbit']];
  for (const label of [...new Set(runs.map((r) => r.label))]) {
    const mine = runs.filter((r) => r.label === label);
    const mbps = mine.map((r) => r.mbps);
    const perGbit = mine.map((r) => r.cpuSeconds / ((r.mbps * r.seconds) / 1000));
    const cores = mine.map((r) => r.cpuSeconds / r.seconds);
    rows.push([label, median(mbps).toFixed(0), `${Math.min(...mbps).toFixed(0)}–${Math.max(...mbps).toFixed(0)}`, median(cores).toFixed(2), median(perGbit).toFixed(2)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

async function main(o: Options): Promise<void> {
  const problems = [...missingRequirements(), ...missingMeshTools()];
  const vpp = vppAvailability();
  if (vpp.reason) problems.push(vpp.reason);
  if (problems.length > 0) throw new Error(`cannot run the dataplane benchmark here:\n  ${problems.join('\n  ')}`);
  const load = loadavg().map((l) => l.toFixed(2)).join(', ');
  const lab = await Lab.up({ members: MEMBERS }, { vppPollSleepUsec: o.vppPollSleep });
  let mesh: Mesh | undefined;
  const onSignal = () => void (mesh?.down() ?? Promise.resolve()).finally(() => lab.down().finally(() => process.exit(130)));
  process.once('SIGINT', onSignal);
  try {
    mesh = await startMesh(lab);
    progress(`lab ${lab.id} up; waiting for every pair to be direct…`);
    await mesh.waitForMesh(60_000);
    const runs: DataplaneRun[] = [];
    for (let i = 0; i < o.repeat; i++) {
      for (const c of CASES) {
        const run = await measure(mesh, c, o.seconds);
        progress(`${c.label}: ${run.mbps.toFixed(0)} Mbit/s, dataplane ${(run.cpuSeconds / run.seconds).toFixed(2)} cores`);
        runs.push(run);
      }
    }
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    process.stdout.write(
      [
        `Dataplane throughput: iperf3 TCP, 1 stream, ${o.seconds} s, median of ${o.repeat}, direct tunnels in the netns lab (4 public members, MTU 1420); VPP ${o.vppPollSleep === null ? "in its own epoll loop (no poll-sleep-usec)" : `with poll-sleep-usec ${o.vppPollSleep}`}`,
        `machine: ${cpus().length} cores (${cpu}), load average before ${load}, after ${loadavg().map((l) => l.toFixed(2)).join(', ')}`,
        '',
        formatDataplaneTable(runs),
        '',
        'dataplane CPU: the wireguard-go processes, or VPP (its main thread: VPP runs no workers here), of both ends, in cores while iperf3 ran',
        '',
      ].join('\n'),
    );
    if (o.json) writeFileSync(o.json, `${JSON.stringify({ runs, load }, null, 2)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    await mesh?.down();
    await lab.down();
  }
}

if (require.main === module) {
  const command = parseCommand('bench:dataplane', usage, options, { argv: process.argv.slice(2) });
  if ('exit' in command) process.exitCode = command.exit;
  else
    main(command.options).catch((err: Error) => {
      process.stderr.write(`bench:dataplane: ${err.message}\n`);
      process.exitCode = 1;
    });
}
