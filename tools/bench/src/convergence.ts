import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
import { localUrl } from './local-url';
import { missingMeshTools, missingRequirements } from '@wgmesh/lab';
import { LabConvergence, runLabConvergence } from './convergence-lab';
import { runSimulation, SimResult } from './convergence-sim';
import { percentile } from './dnsperf';

/**
 * How fast an endpoint change reaches every member: in the netns lab with three real members,
 * and with N simulated members (the real member-mode logic, recording dataplane) against the
 * machine's NATS and Redis. Prints tables; not a test.
 */
const options = defineOptions([
  { key: 'only', flag: 'only', value: '<lab|sim>', parse: (t) => oneOf(t, ['lab', 'sim'] as const), description: 'run one part only' },
  { key: 'labRounds', flag: 'lab-rounds', value: '<n>', parse: values.int(1, 1000), default: '10', description: 'lab: NAT rebindings to measure' },
  { key: 'members', flag: 'members', value: '<n,n…>', parse: sizes, default: '1000,2000', description: 'sim: simulated members, one run per size (side by side in the table; 10000 needs ~95 GB)' },
  { key: 'workers', flag: 'workers', value: '<n>', parse: values.int(1, 64), default: '2', description: 'sim: processes the simulated members are spread over' },
  { key: 'changes', flag: 'changes', value: '<n>', parse: values.int(1, 1000), default: '10', description: 'sim: endpoint changes to measure' },
  { key: 'applyDelay', flag: 'apply-delay', value: '<ms>', parse: values.int(0, 5000), default: '10', description: "sim: members' --apply-delay (burst coalescing)" },
  { key: 'nats', flag: 'nats', value: '<url>', parse: localUrl(['nats']), default: 'nats://127.0.0.1:4222', description: 'sim: NATS (this machine only)' },
  { key: 'redis', flag: 'redis', value: '<url>', parse: localUrl(['redis']), default: 'redis://127.0.0.1:6379', description: 'sim: Redis (this machine only)' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the results (with every sample) as JSON' },
]);

const usage = `Usage: node -r ./bin/register.js tools/bench/src/convergence.ts [options]

Measures how fast a member's endpoint change reaches every other member:
  lab  3 real members in the netns lab (root, wireguard-go): a NAT rebinding, from the hub
       device seeing the new endpoint to every other member's device having it;
  sim  N simulated members (real member mode, recording dataplane) on this machine's NATS and
       Redis: from the change on a simulated hub device to each member's apply request.

Options:
${formatOptionsHelp(options)}

WGMESH_SIM_DEBUG=<path prefix> makes each worker write its members' logs (info) to
<prefix>.<first member>.log and its start-up progress to stderr; WGMESH_SIM_PROF=<dir> writes a
CPU profile of each worker over the changes (not the start) to <dir>/sim-<first member>.cpuprofile.`;

const progress = (line: string) => process.stderr.write(`${line}\n`);

export interface ConvergenceReport {
  startedAt: string;
  lab?: LabConvergence;
  /** One per --members size, smallest first; a size that could not run has `error` instead. */
  sim?: Array<SimResult | { members: number; error: string }>;
}

export async function main(argv: string[]): Promise<number> {
  const command = parseCommand('bench:convergence', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const report: ConvergenceReport = { startedAt: new Date().toISOString() };
  if (o.only !== 'sim') {
    const problems = [...missingRequirements(), ...missingMeshTools()];
    if (problems.length > 0) {
      process.stderr.write(`bench:convergence: the lab part cannot run here (--only sim skips it):\n  ${problems.join('\n  ')}\n`);
      return 1;
    }
    report.lab = await runLabConvergence({ rounds: o.labRounds, progress });
  }
  if (o.only !== 'lab') {
    report.sim = [];
    for (const members of o.members) {
      try {
        report.sim.push(await runSimulation({ members, workers: o.workers, changes: o.changes, nats: o.nats, redis: o.redis, applyDelayMs: o.applyDelay, progress }));
      } catch (err) {
        // Where the machine stopped, and why: reported beside the sizes that ran.
        progress(`simulated: ${members} members failed: ${(err as Error).message}`);
        report.sim.push({ members, error: (err as Error).message });
      }
    }
  }
  process.stdout.write(`\n${formatReport(report)}\n`);
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    progress(`results written to ${o.json}`);
  }
  return 0;
}

/** Both tables: p50 and p99 (nearest rank) of each interval. */
export function formatReport(r: ConvergenceReport): string {
  const out: string[] = [];
  const stat = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return [percentile(s, 50), percentile(s, 99), s[s.length - 1]].map((v) => (v < 10 ? v.toFixed(1) : v.toFixed(0)));
  };
  if (r.lab) {
    const rows = r.lab.rounds;
    out.push(`Lab: 3 real members (wireguard-go, 2 behind eim NATs + 1 public), ${rows.length} NAT rebindings; full mesh formed ${r.lab.convergeMs} ms after the last enrolment`);
    out.push(table(['interval', 'p50 ms', 'p99 ms', 'max ms'], [
      ['hub device sees the new endpoint → registry published it', ...stat(rows.map((x) => x.hubToPublishedMs))],
      ['registry published it → every other member device has it', ...stat(rows.map((x) => x.publishedToAllMs))],
      ['hub device sees it → every other member device has it', ...stat(rows.map((x) => x.hubToAllMs))],
    ]));
  }
  if (r.sim?.length) {
    if (out.length) out.push('');
    out.push(formatSim(r.sim));
  }
  return out.join('\n');
}

/** The simulated sizes side by side: p50 / p99 (max) per size. */
export function formatSim(sims: NonNullable<ConvergenceReport['sim']>): string {
  const ran = sims.filter((x): x is SimResult => !('error' in x));
  const fmt = (v: number) => (Math.abs(v) < 10 ? v.toFixed(2) : v.toFixed(0));
  const stat = (xs: number[]) => {
    if (xs.length === 0) return '-';
    const s = [...xs].sort((a, b) => a - b);
    return `${fmt(percentile(s, 50))} / ${fmt(percentile(s, 99))} (${fmt(s[s.length - 1])})`;
  };
  const rows: Array<[string, (s: SimResult) => string]> = [
    ['members up (all loaded the table, first apply), s', (s) => (s.startMs / 1000).toFixed(1)],
    ['member processes RSS, MB', (s) => s.rssMb.join(' + ')],
    ['change on the hub device → registry published it, ms', (s) => stat(s.publishMs)],
    ['change on the hub device → a member applied it, ms', (s) => stat(s.samples)],
    ['change on the hub device → the last member applied it, ms', (s) => stat(s.slowestMs)],
    ['member applies within 1 s (goal: p99 < 1 s)', (s) => `${((s.samples.filter((x) => x < 1000).length / s.samples.length) * 100).toFixed(1)}%`],
    ['CPU per member per change, ms (goal ≤ 0.2)', (s) => stat(s.cpuPerMemberMs)],
    ['registry process CPU per change, ms', (s) => stat(s.registryCpuMs)],
    ['registry heap growth per change, MB', (s) => stat(s.registryHeapMb)],
    ['registry process RSS / heap after, MB', (s) => `${s.registryRssMb.toFixed(0)} / ${s.registryHeapUsedMb.toFixed(0)}`],
    ['NATS messages published per change (mesh subjects)', (s) => stat(s.natsMessages)],
    ['NATS bytes published per change', (s) => stat(s.natsBytes)],
    ['largest message on the mesh subjects, bytes', (s) => String(s.natsLargest)],
  ];
  const out: string[] = [];
  if (ran.length) {
    const first = ran[0];
    out.push(`Simulated members (real member-mode logic, recording dataplane: "simulated"), ${first.workers} processes, real NATS + Redis, ${first.changes} endpoint changes per size; p50 / p99 (max)`);
    out.push(table(['', ...ran.map((s) => `${s.members} members`)], rows.map(([label, f]) => [label, ...ran.map(f)])));
    const subjects = new Set(ran.flatMap((s) => Object.keys(s.natsBySubject)));
    out.push(`NATS messages by subject during the changes: ${ran.map((s) => `${s.members}: ${[...subjects].map((k) => `${k} ${s.natsBySubject[k] ?? 0}`).join(', ')}`).join('; ')}`);
  }
  for (const s of sims) if ('error' in s) out.push(`${s.members} members: did not run to the end: ${s.error}`);
  return out.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

function sizes(t: string): number[] {
  const out = t.split(',').map((x) => values.int(2, 100_000)(x.trim()));
  return [...new Set(out)].sort((a, b) => a - b);
}

function oneOf<T extends string>(t: string, list: readonly T[]): T {
  if (!list.includes(t as T)) throw new Error(`"${t}" must be ${list.join(' or ')}`);
  return t as T;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`bench:convergence failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
