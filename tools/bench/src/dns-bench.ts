import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { formatOptionsHelp, OptionSpec, parseCommand, values } from '@wgmesh/config';
import { AnswerCheck, checkAnswers } from './checks';
import { Cleanup, cleanupOnSignals, interrupted } from './cleanup';
import { CpuMeter, CpuUse } from './cpu';
import { DnsperfLoad, DnsperfSummary, runDnsperf, runDnsperfLatency } from './dnsperf';
import { findKnotd, startKnot } from './knot';
import { BenchPeer, makePeers, peerName, randomQueryLines, serviceName, writeLines } from './peers';
import { findExecutable, runProcess } from './processes';
import { startRegistryRole } from './registry-role';
import { BenchReport, BenchRow, BenchSettings, formatReport } from './report';
import { seedMesh, uniqueMeshName } from './seed';
import { RunningServer } from './server';
import { startWgmesh } from './wgmesh';
import { freePort } from '@wgmesh/testing';

/**
 * `npm run bench:dns`: queries per second and latency of the registry-resolver against Knot DNS
 * serving the same records, for SRV (one peer) and PTR (all peers) questions, with dnsperf.
 */
const HOST = '127.0.0.1';
const ROOT = resolve(__dirname, '../../..');
/** Cores used by other processes during a run above which its numbers are flagged. */
const OTHER_CPU_WARNING = 0.2;

const intList = (min: number, max: number) => (t: string) => {
  const list = t.split(',').map((s) => values.int(min, max)(s.trim()));
  if (list.length === 0) throw new Error('must be a comma-separated list of integers');
  return list;
};
const loopbackUrl = (schemes: string[]) => (t: string) => {
  const url = values.url(schemes)(t);
  if (new URL(url).hostname !== HOST) throw new Error(`"${t}" must point at ${HOST}: the bench sends traffic nowhere else`);
  return url;
};

const options: OptionSpec[] = [
  { key: 'peers', flag: 'peers', value: '<n,n>', parse: intList(1, 1_000_000), default: '1000,10000', description: 'peer counts to measure' },
  { key: 'duration', flag: 'duration', value: '<s>', parse: values.int(1, 3600), default: '10', description: 'seconds per throughput run (dnsperf -l)' },
  { key: 'latencyDuration', flag: 'latency-duration', value: '<s>', parse: values.int(0, 3600), default: '3', description: 'seconds of the separate dnsperf -v run for p50/p99 (0: skip)' },
  { key: 'repeat', flag: 'repeat', value: '<n>', parse: values.int(1, 20), default: '1', description: 'throughput runs per row; the best is reported (for a machine shared with other work)' },
  { key: 'warmup', flag: 'warmup', value: '<s>', parse: values.int(0, 600), default: '2', description: 'seconds of SRV queries before measuring each server (JIT, caches)' },
  { key: 'workers', flag: 'workers', value: '<n,n>', parse: intList(1, 64), default: '2', description: 'resolver --workers values to measure' },
  { key: 'knotWorkers', flag: 'knot-workers', value: '<n>', parse: values.int(1, 64), default: '2', description: 'knotd udp-workers' },
  { key: 'clients', flag: 'clients', value: '<n>', parse: values.int(1, 256), default: '8', description: 'dnsperf -c: client sockets' },
  { key: 'threads', flag: 'threads', value: '<n>', parse: values.int(1, 64), default: '1', description: 'dnsperf -T: threads' },
  { key: 'outstanding', flag: 'outstanding', value: '<n>', parse: values.int(1, 65535), default: '200', description: 'dnsperf -q: queries in flight' },
  { key: 'timeout', flag: 'timeout', value: '<s>', parse: values.int(1, 60), default: '2', description: 'dnsperf -t: seconds before a query counts as lost' },
  { key: 'queries', flag: 'queries', value: '<n>', parse: values.int(1, 10_000_000), default: '100000', description: 'lines in the SRV query file (random peers)' },
  { key: 'zone', flag: 'zone', value: '<zone>', parse: values.zone, default: 'mesh.example.', description: 'zone served by both servers' },
  { key: 'redis', flag: 'redis', value: '<url>', parse: loopbackUrl(['redis']), default: 'redis://127.0.0.1:6379', description: 'Redis to seed the peer table in' },
  { key: 'nats', flag: 'nats', value: '<url>', parse: loopbackUrl(['nats']), default: 'nats://127.0.0.1:4222', description: 'NATS for the resolver' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the results as JSON to this file' },
  { key: 'registryWorkers', flag: 'registry-workers', value: '<n,n>', parse: intList(1, 64), description: 'also measure the registry role as users run it, at the largest --peers: `wgmesh registry up --dns-workers N` over a wireguard-go hub holding the peers, in a network namespace of its own with its own nats-server and redis-server (root; wireguard-go, nats-server, redis-server)' },
  { key: 'noKnot', flag: 'no-knot', parse: values.bool, default: 'false', description: 'skip the Knot DNS reference' },
  { key: 'noWgmesh', flag: 'no-wgmesh', parse: values.bool, default: 'false', description: 'skip the wgmesh resolver (Knot only)' },
];

interface Options {
  peers: number[];
  duration: number;
  latencyDuration: number;
  repeat: number;
  warmup: number;
  workers: number[];
  knotWorkers: number;
  clients: number;
  threads: number;
  outstanding: number;
  timeout: number;
  queries: number;
  zone: string;
  redis: string;
  nats: string;
  json?: string;
  registryWorkers?: number[];
  noKnot: boolean;
  noWgmesh: boolean;
}

const usage = `Usage: npm run bench:dns -- [options]

Measures the wgmesh registry-resolver (and Knot DNS with the same records, as a reference) with
dnsperf over UDP on ${HOST}: SRV queries for random peers and the PTR query listing all peers.
Needs dnsperf, Redis and NATS; knotd is optional. Prints a markdown table.

Options:
${formatOptionsHelp(options)}`;

const progress = (message: string) => process.stderr.write(`${message}\n`);

interface QueryFiles {
  SRV: string;
  PTR: string;
}

async function measure(server: RunningServer, peerList: readonly BenchPeer[], files: QueryFiles, o: Options, dir: string, report: BenchReport): Promise<BenchRow[]> {
  const load: DnsperfLoad = { clients: o.clients, threads: o.threads, outstanding: o.outstanding, timeout: o.timeout };
  const target = { host: server.host, port: server.port, load, netns: server.netns };
  const peers = peerList.length;
  const check = server.netns ? await checkAnswersIn(server.netns, server.host, server.port, o.zone, peers) : await checkAnswers(server.host, server.port, o.zone, peerList);
  for (const p of check.problems) report.warnings.push(`${server.label}, ${peers} peers: ${p}`);
  report.ptr.push({
    label: server.label,
    peers,
    udp: { answers: check.ptrAnswers, truncated: check.ptrTruncated, bytes: check.ptrBytes },
    tcp: check.ptrTcp,
  });
  if (o.warmup > 0) await runDnsperf({ ...target, queryFile: files.SRV, duration: o.warmup });
  const rows: BenchRow[] = [];
  for (const query of ['SRV', 'PTR'] as const) {
    const runs: { summary: DnsperfSummary; cpu: CpuUse }[] = [];
    for (let i = 0; i < o.repeat; i++) {
      const meter = new CpuMeter(server.pid ?? -1);
      const summary = await runDnsperf({ ...target, queryFile: files[query], duration: o.duration }, (pid) => meter.watchClient(pid)).catch((err: Error) => {
        meter.stop();
        throw err;
      });
      runs.push({ summary, cpu: meter.stop() });
    }
    const best = runs.reduce((a, b) => (b.summary.qps > a.summary.qps ? b : a));
    if (best.cpu.other > OTHER_CPU_WARNING) {
      report.warnings.push(`${server.label}, ${peers} peers, ${query}: other processes used ${best.cpu.other.toFixed(2)} cores during the run; its numbers are low`);
    }
    const latency =
      o.latencyDuration > 0 ? await runDnsperfLatency({ ...target, queryFile: files[query], duration: o.latencyDuration }, join(dir, 'dnsperf-v.out')) : null;
    rmSync(join(dir, 'dnsperf-v.out'), { force: true });
    const row: BenchRow = {
      server: server.kind,
      label: server.label,
      workers: server.workers,
      peers,
      query,
      qps: best.summary.qps,
      lostPct: best.summary.lostPct,
      rcodes: best.summary.rcodes,
      avgResponseBytes: best.summary.avgResponseBytes,
      p50Ms: latency ? latency.p50Ms : null,
      p99Ms: latency ? latency.p99Ms : null,
      truncated: query === 'PTR' && check.ptrTruncated,
      cpu: best.cpu,
      throughput: best.summary,
      runs: runs.map((r) => ({ qps: r.summary.qps, cpu: r.cpu })),
      ...(latency ? { latency: { samples: latency.samples, summary: latency.summary } } : {}),
    };
    progress(
      `  ${server.label}, ${peers} peers, ${query}: ${Math.round(row.qps)} q/s, lost ${row.lostPct.toFixed(2)}%` +
        (latency ? `, p50 ${latency.p50Ms.toFixed(3)} ms, p99 ${latency.p99Ms.toFixed(3)} ms` : '') +
        `, CPU server ${best.cpu.server.toFixed(2)} dnsperf ${best.cpu.dnsperf.toFixed(2)} irq ${best.cpu.interrupts.toFixed(2)} other ${best.cpu.other.toFixed(2)}` +
        (runs.length > 1 ? ` (best of ${runs.map((r) => Math.round(r.summary.qps)).join(', ')})` : ''),
    );
    rows.push(row);
  }
  return rows;
}

/** checkAnswers from inside a network namespace (a child process there: the bench's own sockets are outside). */
async function checkAnswersIn(netns: string, host: string, port: number, zone: string, peers: number): Promise<AnswerCheck> {
  const { exit, process: proc } = await runProcess('dns-check', 'ip', ['netns', 'exec', netns, process.execPath, '-r', join(ROOT, 'bin', 'register.js'), join(__dirname, 'dns-check.ts'), host, String(port), zone, String(peers)], {
    cwd: ROOT,
    collectStdout: true,
  });
  if (exit.code !== 0) throw new Error(`checking the answers in ${netns} failed (code ${exit.code}):\n${proc.tail()}`);
  return JSON.parse(proc.stdout()) as AnswerCheck;
}

async function run(o: Options): Promise<BenchReport> {
  const settings: BenchSettings = {
    peers: o.peers,
    duration: o.duration,
    latencyDuration: o.latencyDuration,
    repeat: o.repeat,
    warmup: o.warmup,
    clients: o.clients,
    threads: o.threads,
    outstanding: o.outstanding,
    timeout: o.timeout,
    queries: o.queries,
    zone: o.zone,
    cpus: cpus().length,
  };
  const report: BenchReport = { startedAt: new Date().toISOString(), settings, rows: [], ptr: [], warnings: [] };
  const knotd = o.noKnot ? null : findKnotd();
  if (!o.noKnot && !knotd) report.warnings.push('knotd not found: no Knot DNS reference (install knot, or pass --no-knot)');

  const cleanup = new Cleanup();
  const stopSignals = cleanupOnSignals(cleanup);
  const tmp = mkdtempSync(join(tmpdir(), 'wgmesh-bench-'));
  cleanup.add(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  try {
    for (const count of o.peers) {
      const peers = makePeers(count);
      const files: QueryFiles = { SRV: join(tmp, `srv-${count}.txt`), PTR: join(tmp, 'ptr.txt') };
      await writeLines(files.SRV, randomQueryLines(peers.map((p) => peerName(p, o.zone)), 'SRV', o.queries, count));
      await writeLines(files.PTR, [`${serviceName(o.zone)} PTR`]);

      if (!o.noWgmesh) {
        const mesh = uniqueMeshName();
        progress(`seeding ${count} peers into Redis mesh "${mesh}"…`);
        const seeded = await seedMesh(o.redis, mesh, peers);
        const unseed = cleanup.add(`clear Redis mesh ${mesh}`, () => seeded.clear());
        for (const workers of o.workers) {
          const port = await freePort({ hosts: [HOST] });
          progress(`starting wgmesh resolver, ${workers} worker(s), on ${HOST}:${port}…`);
          const server = await startWgmesh({ root: ROOT, zone: o.zone, mesh, host: HOST, port, redis: o.redis, nats: o.nats, workers, expectPeers: count });
          const stop = cleanup.add(`stop ${server.label} (pid ${server.pid})`, () => server.stop());
          try {
            report.rows.push(...(await measure(server, peers, files, o, tmp, report)));
          } finally {
            await stop();
          }
        }
        await unseed();
      }

      if (o.registryWorkers && count === Math.max(...o.peers)) {
        for (const dnsWorkers of o.registryWorkers) {
          progress(`starting the registry role over a wireguard-go hub of ${count} peers, dns-workers ${dnsWorkers}…`);
          const server = await startRegistryRole({ root: ROOT, zone: o.zone, peers, dnsWorkers, dir: tmp, cleanup, progress });
          try {
            report.rows.push(...(await measure(server, peers, files, o, tmp, report)));
          } finally {
            await server.stop();
          }
        }
      }

      if (knotd) {
        const dir = join(tmp, `knot-${count}`);
        mkdirSync(dir);
        const port = await freePort({ hosts: [HOST] });
        progress(`starting knotd, udp-workers ${o.knotWorkers}, on ${HOST}:${port}…`);
        const server = await startKnot({ knotd, dir, zone: o.zone, peers, host: HOST, port, udpWorkers: o.knotWorkers });
        const stop = cleanup.add(`stop knotd (pid ${server.pid})`, () => server.stop());
        try {
          report.rows.push(...(await measure(server, peers, files, o, tmp, report)));
        } finally {
          await stop();
        }
      }
    }
  } finally {
    await cleanup.runAll();
    stopSignals();
  }
  return report;
}

export async function main(argv: string[]): Promise<number> {
  const command = parseCommand<Options>('bench:dns', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  if (!findExecutable('dnsperf')) {
    process.stderr.write('bench:dns: dnsperf not found (Debian: apt-get install dnsperf)\n');
    return 1;
  }
  if (o.noKnot && o.noWgmesh && !o.registryWorkers) {
    process.stderr.write('bench:dns: --no-knot and --no-wgmesh leave nothing to measure\n');
    return 2;
  }
  const report = await run(o);
  process.stdout.write(`\n${formatReport(report)}\n`);
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    progress(`results written to ${o.json}`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      // After Ctrl-C the signal handler is cleaning up and will exit; the runs it stopped fail.
      if (interrupted()) return;
      process.stderr.write(`bench:dns failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
