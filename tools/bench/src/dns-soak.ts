import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
import { checkAnswers } from './checks';
import { Cleanup, cleanupOnSignals, interrupted } from './cleanup';
import { CpuMeter, CpuUse } from './cpu';
import { dnsperfArgs, DnsperfSummary, parseDnsperfSummary } from './dnsperf';
import { probe } from './dns-probe';
import { BenchPeer, makePeers, peerName, randomQueryLines, writeLines } from './peers';
import { findExecutable, startProcess } from './processes';
import { seedMesh, uniqueMeshName } from './seed';
import { startWgmesh } from './wgmesh';
import { freePort } from '@wgmesh/testing';

/**
 * `npm run bench:dns-soak`: the load the registry-resolver holds. dnsperf sends SRV queries for
 * random peers for --duration seconds (60 by default) while a canary checks one answer every
 * second; the run passes only with no query lost, every answer NOERROR, every canary answer
 * right, and the answers still right afterwards. It reports the average and the lowest
 * per-second rate, CPU use and the resolver's memory (RSS) from start to end.
 */
const HOST = '127.0.0.1';
const ROOT = resolve(__dirname, '../../..');

const loopbackUrl = (schemes: string[]) => (t: string) => {
  const url = values.url(schemes)(t);
  if (new URL(url).hostname !== HOST) throw new Error(`"${t}" must point at ${HOST}: the bench sends traffic nowhere else`);
  return url;
};

const options = defineOptions([
  { key: 'peers', flag: 'peers', value: '<n>', parse: values.int(1, 1_000_000), default: '1000', description: 'peers in the table' },
  { key: 'duration', flag: 'duration', value: '<s>', parse: values.int(5, 3600), default: '60', description: 'seconds of load (dnsperf -l)' },
  { key: 'workers', flag: 'workers', value: '<n>', parse: values.int(1, 64), default: '2', description: 'resolver --workers' },
  { key: 'clients', flag: 'clients', value: '<n>', parse: values.int(1, 256), default: '8', description: 'dnsperf -c: client sockets' },
  { key: 'outstanding', flag: 'outstanding', value: '<n>', parse: values.int(1, 65535), default: '100', description: 'dnsperf -q: queries in flight' },
  { key: 'maxQps', flag: 'max-qps', value: '<n>', parse: values.int(0, 10_000_000), default: '0', description: 'dnsperf -Q: hold this rate (0: as fast as answered)' },
  { key: 'timeout', flag: 'timeout', value: '<s>', parse: values.int(1, 60), default: '2', description: 'dnsperf -t: seconds before a query counts as lost' },
  { key: 'queries', flag: 'queries', value: '<n>', parse: values.int(1, 10_000_000), default: '100000', description: 'lines in the SRV query file (random peers)' },
  { key: 'zone', flag: 'zone', value: '<zone>', parse: values.zone, default: 'mesh.example.', description: 'zone served' },
  { key: 'redis', flag: 'redis', value: '<url>', parse: loopbackUrl(['redis']), default: 'redis://127.0.0.1:6379', description: 'Redis to seed the peer table in' },
  { key: 'nats', flag: 'nats', value: '<url>', parse: loopbackUrl(['nats']), default: 'nats://127.0.0.1:4222', description: 'NATS for the resolver' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the results as JSON to this file' },
]);

interface Options {
  peers: number;
  duration: number;
  workers: number;
  clients: number;
  outstanding: number;
  maxQps: number;
  timeout: number;
  queries: number;
  zone: string;
  redis: string;
  nats: string;
  json?: string;
}

const usage = `Usage: npm run bench:dns-soak -- [options]

Holds the wgmesh registry-resolver under dnsperf load (UDP, SRV queries for random peers, on
${HOST}) for --duration seconds with a canary checking one answer per second, and reports the
sustained rate: average and lowest per-second queries/s, losses, wrong answers, CPU and RSS.
Exits 1 when anything was lost or wrong. Needs dnsperf, Redis and NATS.

Options:
${formatOptionsHelp(options)}`;

/** One `-S 1` line of dnsperf: "<unix time>: <queries/s>". */
export function parseIntervalLine(line: string): { at: number; qps: number } | null {
  const m = /^(\d+(?:\.\d+)?): (\d+(?:\.\d+)?)$/.exec(line.trim());
  return m ? { at: Number(m[1]), qps: Number(m[2]) } : null;
}

export interface SoakVerdict {
  ok: boolean;
  problems: string[];
}

/** Whether a soak held: nothing lost, only NOERROR, canary always right, answers right after. */
export function soakVerdict(summary: DnsperfSummary, canary: { sent: number; wrong: string[] }, after: string[]): SoakVerdict {
  const problems: string[] = [];
  if (summary.lost > 0) problems.push(`${summary.lost} of ${summary.sent} queries lost`);
  const other = Object.entries(summary.rcodes).filter(([rcode]) => rcode !== 'NOERROR');
  if (other.length > 0) problems.push(`answers other than NOERROR: ${other.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  if (summary.completed === 0) problems.push('no query completed');
  if (canary.wrong.length > 0) problems.push(`${canary.wrong.length} of ${canary.sent} canary answers wrong or missing (first: ${canary.wrong[0]})`);
  problems.push(...after.map((p) => `after the run: ${p}`));
  return { ok: problems.length === 0, problems };
}

/** Resident memory (KB) of every process in a process group (the resolver and its workers). */
function groupRssKb(pgid: number): number {
  let kb = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kb;
}

export interface SoakReport {
  startedAt: string;
  commandLine: string;
  settings: Options & { cpus: number; loadBefore: number[] };
  summary: DnsperfSummary;
  perSecond: number[];
  minQps: number;
  medianQps: number;
  cpu: CpuUse;
  rssKb: { start: number; peak: number; end: number };
  canary: { sent: number; wrong: string[] };
  verdict: SoakVerdict;
}

async function soak(o: Options): Promise<SoakReport> {
  const loadBefore = loadavg();
  const cleanup = new Cleanup();
  const stopSignals = cleanupOnSignals(cleanup);
  const tmp = mkdtempSync(join(tmpdir(), 'wgmesh-soak-'));
  cleanup.add(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  try {
    const peers: BenchPeer[] = makePeers(o.peers);
    const queryFile = join(tmp, 'srv.txt');
    await writeLines(queryFile, randomQueryLines(peers.map((p) => peerName(p, o.zone)), 'SRV', o.queries, o.peers));
    const mesh = uniqueMeshName();
    process.stderr.write(`seeding ${o.peers} peers into Redis mesh "${mesh}"…\n`);
    const seeded = await seedMesh(o.redis, mesh, peers);
    cleanup.add(`clear Redis mesh ${mesh}`, () => seeded.clear());
    const port = await freePort({ hosts: [HOST] });
    const server = await startWgmesh({ root: ROOT, zone: o.zone, mesh, host: HOST, port, redis: o.redis, nats: o.nats, workers: o.workers, expectPeers: o.peers });
    cleanup.add(`stop ${server.label} (pid ${server.pid})`, () => server.stop());
    const before = await checkAnswers(HOST, port, o.zone, peers);
    if (before.problems.length > 0) throw new Error(`wrong answers before the run: ${before.problems.join('; ')}`);

    const args = dnsperfArgs({ host: HOST, port, queryFile, duration: o.duration, load: { clients: o.clients, threads: 1, outstanding: o.outstanding, timeout: o.timeout } });
    args.push('-S', '1');
    if (o.maxQps > 0) args.push('-Q', String(o.maxQps));
    const commandLine = `dnsperf ${args.join(' ')}`;
    process.stderr.write(`${server.label}, ${o.peers} peers: ${commandLine}\n`);

    const pgid = server.pid ?? -1;
    const rss = { start: groupRssKb(pgid), peak: 0, end: 0 };
    rss.peak = rss.start;
    const meter = new CpuMeter(pgid);
    const dnsperf = startProcess('dnsperf', 'dnsperf', args, { collectStdout: true });
    meter.watchClient(dnsperf.pid);
    // The canary: one SRV of a random peer per second, checked exactly (port and target).
    const canary = { sent: 0, wrong: [] as string[] };
    let canaryRunning = true;
    const canaryLoop = (async () => {
      for (let i = 0; canaryRunning; i++) {
        const peer = peers[(i * 7919) % peers.length];
        const name = peerName(peer, o.zone);
        canary.sent++;
        try {
          const a = await probe(HOST, port, name, 'SRV', 1500);
          const srv = a.answers.find((r) => r.type === 'SRV');
          if (a.rcode !== 'NOERROR' || !srv || srv.type !== 'SRV' || srv.data.port !== peer.endpointPort) canary.wrong.push(`${name}: rcode ${a.rcode}, ${a.answers.length} answers`);
        } catch (err) {
          canary.wrong.push(`${name}: ${(err as Error).message}`);
        }
        rss.peak = Math.max(rss.peak, groupRssKb(pgid));
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const exit = await dnsperf.exited;
    canaryRunning = false;
    await canaryLoop;
    const cpu = meter.stop();
    if (exit.code !== 0) throw new Error(`dnsperf exited with code ${exit.code}:\n${dnsperf.tail()}`);
    const out = dnsperf.stdout();
    const summary = parseDnsperfSummary(out);
    const perSecond = out.split('\n').map(parseIntervalLine).filter((x): x is { at: number; qps: number } => x !== null).map((x) => x.qps);
    // The first and last intervals are cut short by the start and end of the run.
    const full = perSecond.length > 3 ? perSecond.slice(1, -1) : perSecond;
    const sorted = [...full].sort((a, b) => a - b);
    rss.end = groupRssKb(pgid);
    const after = await checkAnswers(HOST, port, o.zone, peers);
    const verdict = soakVerdict(summary, canary, after.problems);
    return {
      startedAt: new Date().toISOString(),
      commandLine,
      settings: { ...o, cpus: cpus().length, loadBefore },
      summary,
      perSecond,
      minQps: sorted[0] ?? 0,
      medianQps: sorted[Math.floor(sorted.length / 2)] ?? 0,
      cpu,
      rssKb: rss,
      canary,
      verdict,
    };
  } finally {
    await cleanup.runAll();
    stopSignals();
  }
}

export function formatSoak(r: SoakReport): string {
  const s = r.summary;
  const lines = [
    `DNS soak: wgmesh resolver, ${r.settings.workers} worker(s), ${r.settings.peers} peers, ${r.settings.duration} s, SRV queries for random peers over UDP`,
    `  ${r.verdict.ok ? 'HELD' : 'NOT HELD'}: ${Math.round(s.qps)} queries/s on average, lowest second ${Math.round(r.minQps)}, median second ${Math.round(r.medianQps)}`,
    `  ${s.sent} sent, ${s.completed} answered, ${s.lost} lost; rcodes ${JSON.stringify(s.rcodes)}; canary ${r.canary.sent - r.canary.wrong.length}/${r.canary.sent} right`,
    `  latency avg ${s.avgLatencyMs.toFixed(3)} ms, max ${s.maxLatencyMs.toFixed(3)} ms; CPU server ${r.cpu.server.toFixed(2)}, dnsperf ${r.cpu.dnsperf.toFixed(2)}, irq ${r.cpu.interrupts.toFixed(2)}, other ${r.cpu.other.toFixed(2)} cores`,
    `  resolver RSS ${Math.round(r.rssKb.start / 1024)} MB at start, peak ${Math.round(r.rssKb.peak / 1024)} MB, ${Math.round(r.rssKb.end / 1024)} MB at the end; load average before ${r.settings.loadBefore.map((l) => l.toFixed(2)).join(' ')} on ${r.settings.cpus} cores`,
    `  ${r.commandLine}`,
  ];
  for (const p of r.verdict.problems) lines.push(`  PROBLEM: ${p}`);
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const command = parseCommand('bench:dns-soak', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  if (!findExecutable('dnsperf')) {
    process.stderr.write('bench:dns-soak: dnsperf not found (Debian: apt-get install dnsperf)\n');
    return 1;
  }
  const report = await soak(o);
  process.stdout.write(`${formatSoak(report)}\n`);
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report.verdict.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      if (interrupted()) return;
      process.stderr.write(`bench:dns-soak failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
