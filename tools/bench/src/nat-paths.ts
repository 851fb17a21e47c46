import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { formatOptionsHelp, OptionSpec, parseCommand, values } from '@wgmesh/config';
import { Lab, Mesh, MeshMember, missingMeshTools, missingRequirements, startMesh } from '@wgmesh/lab';
import { readEnrollment } from '@wgmesh/peer-discovery';
import { UapiClient } from '@wgmesh/wireguard';
import { DIRECT_TTL, DirectRun, formatNatReport, longestGap, NatBenchResult, parsePingLine, PingReply, PredictRun, RELAYED_TTL, RelayRun, steadyReply } from './nat-report';

/**
 * How fast a pair gets its path (prints a table; not a test). One lab: member a behind an eim
 * NAT runs throughout; for each run another member enrolls and is removed afterwards:
 *   direct  d<k> behind an eim NAT: from its enrolment to the first packet through the direct tunnel
 *   relay   r<k> behind an edm NAT (direct impossible): from its enrolment to the first packet
 *           through the relay, and from the direct attempt to the relayed decision (the fallback)
 *   predict p<k> behind a seq NAT (ports handed out in sequence), with s (also seq) running too:
 *           from its enrolment to the first packet through the direct tunnel from a (eim + seq) and
 *           from s (seq + seq), both by port prediction; no direct packet in time counts as a failure
 * The enrolment is the new member's "enrolled" log line (the registry accepted it and added its hub
 * peer). "Through the direct tunnel" / "through the relay": a ping from a to the new member's
 * tunnel address, every 10 ms from the moment its address is known, whose reply's TTL shows the
 * path (64 direct, 63 routed by the registry). Decisions come from the pair leader's path reports.
 */
const options: OptionSpec[] = [
  { key: 'runs', flag: 'runs', value: '<n>', parse: values.int(1, 50), default: '10', description: 'runs of each case' },
  { key: 'only', flag: 'only', value: '<direct|relay|predict>', parse: (t) => oneOf(t, ['direct', 'relay', 'predict']), description: 'run one case only' },
  { key: 'pathDeadline', flag: 'path-deadline', value: '<seconds>', parse: values.int(1, 600), default: '10', description: "members' --path-deadline (nat-probe's default)" },
  { key: 'natInterval', flag: 'nat-interval', value: '<seconds>', parse: values.int(1, 3600), default: '3', description: "members' --nat-interval (the lab's default)" },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write every run as JSON' },
];

interface Options {
  runs: number;
  only?: 'direct' | 'relay' | 'predict';
  pathDeadline: number;
  natInterval: number;
  json?: string;
}

const usage = `Usage: npm run bench:nat -- [options]

Measures, in the netns lab (root, wireguard-go), how fast a new pair gets its path: behind two
eim NATs, from the second member's enrolment to the first packet through the direct tunnel;
behind eim + edm NATs (direct impossible), to the first packet through the relay and to the
relayed decision after the direct attempt's deadline; behind NATs that hand out ports in
sequence (eim + seq, seq + seq), to the first packet through the direct tunnel by port
prediction, and how many runs got there. Goals: direct under 1 s, relay fallback under the
deadline plus 1 s.

Options:
${formatOptionsHelp(options)}`;

const progress = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ping -D -i 0.01` from a host to an address, until stopped; keeps every reply. */
class Pinger {
  readonly replies: PingReply[] = [];
  readonly startedAt = Date.now();
  private readonly child: ChildProcess;

  constructor(ns: string, address: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-D', '-i', '0.01', '-W', '1', address], { stdio: ['ignore', 'pipe', 'ignore'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const reply = parsePingLine(line);
      if (reply) this.replies.push(reply);
    });
  }

  async waitFor(ttl: number, timeoutMs: number): Promise<PingReply> {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(5)) {
      const r = this.replies.find((x) => x.ttl === ttl);
      if (r) return r;
    }
    throw new Error(`no reply with TTL ${ttl} within ${timeoutMs} ms (replies: ${this.replies.length}, TTLs ${[...new Set(this.replies.map((x) => x.ttl))].join(',') || 'none'})`);
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

/** Starts a member and, as soon as its enrolment gives it an address, pings it from each of `from`. */
async function startWithPingers(mesh: Mesh, name: string, from: string[]): Promise<{ member: MeshMember; startAt: number; pingers: Pinger[] }> {
  const startAt = Date.now();
  const up = mesh.startMember(name);
  const stateDir = join(mesh.dir, 'members', name);
  let pingers: Pinger[] | undefined;
  try {
    for (const deadline = Date.now() + 30_000; !pingers; await sleep(2)) {
      let enrollment: ReturnType<typeof readEnrollment> = null;
      try {
        enrollment = readEnrollment(stateDir);
      } catch {
        // being written
      }
      if (enrollment) pingers = from.map((host) => new Pinger(mesh.lab.namespaceOf(host), enrollment!.address.replace(/\/\d+$/, '')));
      else if (Date.now() > deadline) throw new Error(`${name} did not enrol within 30 s`);
    }
    return { member: await up, startAt, pingers };
  } catch (err) {
    pingers?.forEach((p) => p.stop());
    await up.catch(() => undefined);
    throw err;
  }
}

async function startWithPinger(mesh: Mesh, name: string): Promise<{ member: MeshMember; startAt: number; pinger: Pinger }> {
  const { member, startAt, pingers } = await startWithPingers(mesh, name, ['a']);
  return { member, startAt, pinger: pingers[0] };
}

/**
 * Stops the member, removes it at the registry and deletes its device, so that a keeps one peer
 * at a time. Stopped first: a member already removed takes ~11 s to stop (see libs/lab's README).
 */
async function retire(mesh: Mesh, name: string): Promise<void> {
  const device = mesh.member(name).device;
  await mesh.stopMember(name);
  await mesh.removeMember(name);
  await mesh.lab.exec(name, 'ip', ['link', 'del', device]).catch(() => undefined);
}

async function handshakeMs(device: string, peer: string): Promise<number> {
  const p = (await new UapiClient(device, { timeoutMs: 2000 }).get()).peers.find((x) => x.publicKey === peer);
  return p && p.lastHandshakeSec > 0 ? p.lastHandshakeSec * 1000 + p.lastHandshakeNsec / 1e6 : 0;
}

async function directRun(mesh: Mesh, name: string): Promise<DirectRun> {
  const { member, startAt, pinger } = await startWithPinger(mesh, name);
  try {
    const first = await pinger.waitFor(DIRECT_TTL, 30_000);
    const a = mesh.member('a');
    const handshake = Math.max(await handshakeMs(a.device, member.publicKey), await handshakeMs(member.device, a.publicKey));
    if (pinger.startedAt > first.at) throw new Error(`the ping to ${name} started after its first direct reply`);
    return { member: name, enrolledToDirectMs: first.at - member.enrolledAt, startToDirectMs: first.at - startAt, enrolledToHandshakeMs: handshake - member.enrolledAt };
  } finally {
    pinger.stop();
  }
}

async function relayRun(mesh: Mesh, name: string, deadlineS: number): Promise<RelayRun> {
  const { member, pinger } = await startWithPinger(mesh, name);
  try {
    const first = await pinger.waitFor(RELAYED_TTL, 30_000);
    const a = mesh.member('a');
    const [leader, other] = a.publicKey < member.publicKey ? ['a', member.publicKey] : [name, a.publicKey];
    let attempt: { since: number } | undefined;
    let relayed: { since: number } | undefined;
    for (const deadline = Date.now() + deadlineS * 1000 + 30_000; !relayed; await sleep(20)) {
      const h = mesh.paths.decisions(leader, other);
      const i = h.findIndex((d) => d.attempt && d.reason.startsWith('relayed while trying direct'));
      attempt = i >= 0 ? h[i] : undefined;
      relayed = i >= 0 ? h.slice(i + 1).find((d) => d.path === 'relayed' && !d.attempt) : undefined;
      if (!relayed && Date.now() > deadline) throw new Error(`${name}: no relayed decision after the attempt (decisions: ${h.map((d) => d.reason).join(' | ')})`);
    }
    const direct = pinger.replies.filter((r) => r.ttl === DIRECT_TTL).length;
    if (direct > 0) progress(`  ${name}: ${direct} replies came direct (TTL 64), which an eim + edm pair should not manage`);
    const steady = steadyReply(pinger.replies)!;
    return {
      member: name,
      enrolledToRelayMs: first.at - member.enrolledAt,
      enrolledToSteadyRelayMs: steady.at - member.enrolledAt,
      attemptToSteadyRelayMs: steady.at - attempt!.since,
      longestGapMs: longestGap(pinger.replies),
      attemptToRelayedMs: relayed.since - attempt!.since,
      enrolledToRelayedMs: relayed.since - member.enrolledAt,
    };
  } finally {
    pinger.stop();
  }
}

/** A new member behind a seq NAT: the first direct packet from a (eim) and from s (seq), null when none came in time. */
async function predictRun(mesh: Mesh, name: string, timeoutMs: number): Promise<PredictRun> {
  const { member, pingers } = await startWithPingers(mesh, name, ['a', 's']);
  try {
    const direct = (p: Pinger) => p.waitFor(DIRECT_TTL, timeoutMs).then((r) => r.at - member.enrolledAt, () => null);
    const [eimSeqMs, seqSeqMs] = await Promise.all(pingers.map(direct));
    return { member: name, eimSeqMs, seqSeqMs };
  } finally {
    pingers.forEach((p) => p.stop());
  }
}

export async function runNatBench(o: Options): Promise<NatBenchResult> {
  const range = (p: string) => Array.from({ length: o.runs }, (_, i) => `${p}${i + 1}`);
  const directNames = !o.only || o.only === 'direct' ? range('d') : [];
  const relayNames = !o.only || o.only === 'relay' ? range('r') : [];
  const predictNames = !o.only || o.only === 'predict' ? range('p') : [];
  const before = loadavg();
  const lab = await Lab.up({
    members: [
      { name: 'a', nat: 'eim' },
      ...directNames.map((name) => ({ name, nat: 'eim' as const })),
      ...relayNames.map((name) => ({ name, nat: 'edm' as const })),
      ...(predictNames.length > 0 ? [{ name: 's', nat: 'seq' as const }, ...predictNames.map((name) => ({ name, nat: 'seq' as const }))] : []),
    ],
  });
  let mesh: Mesh | undefined;
  try {
    mesh = await startMesh(lab, { members: ['a'], natIntervalS: o.natInterval, pathDeadlineS: o.pathDeadline });
    for (const deadline = Date.now() + 30_000; mesh.paths.natReports().get('a')?.nat !== 'eim'; await sleep(50)) {
      if (Date.now() > deadline) throw new Error('a was not classified eim within 30 s');
    }
    progress(`lab ${lab.id}: a is up and classified eim; ${directNames.length} eim+eim runs, then ${relayNames.length} eim+edm runs`);
    const direct: DirectRun[] = [];
    for (const name of directNames) {
      const r = await directRun(mesh, name);
      direct.push(r);
      progress(`  ${name} (eim): first direct packet ${r.enrolledToDirectMs.toFixed(0)} ms after it enrolled (handshakes ${r.enrolledToHandshakeMs.toFixed(0)} ms)`);
      await retire(mesh, name);
    }
    const relay: RelayRun[] = [];
    for (const name of relayNames) {
      const r = await relayRun(mesh, name, o.pathDeadline);
      relay.push(r);
      progress(`  ${name} (edm): first relayed packet ${r.enrolledToRelayMs.toFixed(0)} ms after it enrolled, relayed for good after ${r.enrolledToSteadyRelayMs.toFixed(0)} ms (longest gap ${r.longestGapMs.toFixed(0)} ms); relayed decision ${r.attemptToRelayedMs.toFixed(0)} ms after the attempt, ${r.enrolledToRelayedMs.toFixed(0)} ms after the enrolment`);
      await retire(mesh, name);
    }
    const predict: PredictRun[] = [];
    if (predictNames.length > 0) {
      await mesh.startMember('s');
      for (const deadline = Date.now() + 30_000; mesh.paths.natReports().get('s')?.portStep === undefined; await sleep(50)) {
        if (Date.now() > deadline) throw new Error('s was not classified as a sequential NAT within 30 s');
      }
      progress(`s is up behind a sequential NAT; ${predictNames.length} runs of a new member behind one too`);
    }
    for (const name of predictNames) {
      const r = await predictRun(mesh, name, o.pathDeadline * 1000 + 5000);
      predict.push(r);
      const ms = (x: number | null) => (x === null ? 'none in time' : `${x.toFixed(0)} ms`);
      progress(`  ${name} (seq): first direct packet from a (eim) ${ms(r.eimSeqMs)}, from s (seq) ${ms(r.seqSeqMs)} after it enrolled`);
      await retire(mesh, name);
    }
    return { deadlineS: o.pathDeadline, natIntervalS: o.natInterval, direct, relay, predict, load: { before, after: loadavg() }, cpus: cpus().length };
  } finally {
    await mesh?.down();
    await lab.down();
  }
}

export async function main(argv: string[]): Promise<number> {
  const command = parseCommand<Options>('bench:nat', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const problems = [...missingRequirements(), ...missingMeshTools()];
  if (problems.length > 0) {
    process.stderr.write(`bench:nat: cannot run the lab here:\n  ${problems.join('\n  ')}\n`);
    return 1;
  }
  const result = await runNatBench(command.options);
  process.stdout.write(`\n${formatNatReport(result)}\n`);
  if (command.options.json) {
    mkdirSync(dirname(resolve(command.options.json)), { recursive: true });
    writeFileSync(command.options.json, `${JSON.stringify(result, null, 2)}\n`);
    progress(`results written to ${command.options.json}`);
  }
  return 0;
}

function oneOf<T extends string>(t: string, list: readonly T[]): T {
  if (!list.includes(t as T)) throw new Error(`"${t}" must be ${list.join(' or ')}`);
  return t as T;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`bench:nat failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
