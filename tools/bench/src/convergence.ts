import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
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
  { key: 'only', flag: 'only', value: '<lab|sim>', parse: (t) => oneOf(t, ['lab', 'sim']), description: 'run one part only' },
  { key: 'labRounds', flag: 'lab-rounds', value: '<n>', parse: values.int(1, 1000), default: '10', description: 'lab: NAT rebindings to measure' },
  { key: 'members', flag: 'members', value: '<n>', parse: values.int(2, 100_000), default: '1000', description: 'sim: simulated members' },
  { key: 'workers', flag: 'workers', value: '<n>', parse: values.int(1, 64), default: '2', description: 'sim: processes the simulated members are spread over' },
  { key: 'changes', flag: 'changes', value: '<n>', parse: values.int(1, 1000), default: '10', description: 'sim: endpoint changes to measure' },
  { key: 'applyDelay', flag: 'apply-delay', value: '<ms>', parse: values.int(0, 5000), default: '10', description: "sim: members' --apply-delay (burst coalescing)" },
  { key: 'nats', flag: 'nats', value: '<url>', parse: local(['nats']), default: 'nats://127.0.0.1:4222', description: 'sim: NATS (this machine only)' },
  { key: 'redis', flag: 'redis', value: '<url>', parse: local(['redis']), default: 'redis://127.0.0.1:6379', description: 'sim: Redis (this machine only)' },
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
<prefix>.<first member>.log and its start-up progress to stderr; WGMESH_SIM_PROF=<dir> runs the
workers with --cpu-prof into <dir>.`;

const progress = (line: string) => process.stderr.write(`${line}\n`);

export interface ConvergenceReport {
  startedAt: string;
  lab?: LabConvergence;
  sim?: SimResult;
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
    report.sim = await runSimulation({ members: o.members, workers: o.workers, changes: o.changes, nats: o.nats, redis: o.redis, applyDelayMs: o.applyDelay, progress });
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
  if (r.sim) {
    const s = r.sim;
    const under = s.samples.filter((x) => x < 1000).length / s.samples.length;
    if (out.length) out.push('');
    out.push(`Simulated: ${s.members} members (real member-mode logic, recording dataplane: "simulated"), ${s.workers} processes, real NATS + Redis, ${s.changes} endpoint changes, ${s.samples.length} samples; members up in ${s.startMs} ms`);
    out.push(table(['interval', 'p50 ms', 'p99 ms', 'max ms'], [
      ['change on the hub device → registry published it (write path)', ...stat(s.publishMs)],
      ['change on the hub device → a member applied it', ...stat(s.samples)],
      ['change on the hub device → the last member applied it', ...stat(s.slowestMs)],
      ['CPU per member per change (member processes ÷ members)', ...stat(s.cpuPerMemberMs)],
    ]));
    out.push(`${(under * 100).toFixed(1)}% of member applies within 1 s (goal: p99 < 1 s)`);
  }
  return out.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

function oneOf<T extends string>(t: string, list: readonly T[]): T {
  if (!list.includes(t as T)) throw new Error(`"${t}" must be ${list.join(' or ')}`);
  return t as T;
}

/** A URL on this machine only: the bench never sends anything elsewhere. */
function local(schemes: string[]) {
  return (t: string) => {
    const url = values.url(schemes)(t);
    const host = new URL(url).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') throw new Error(`"${t}" must be on this machine (127.0.0.1)`);
    return url;
  };
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
