import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ConfigError, formatOptionsHelp, OptionSpec, parseOptions, values } from '@wgmesh/config';
import { LabError, LabSpecError } from './errors';
import { Lab, LabStatus } from './lab';
import { removeStaleLocks } from '@wgmesh/dataplane';
import { execInHost, execTarget, hostEnv } from './lab-exec';
import { DAEMON_STATE_DIR, labStateDir, Mesh, meshDir, MeshRecord, missingMeshTools, readMeshRecord, removeMeshFiles, startMesh, sweepMeshDirs, WORKSPACE } from './mesh';
import { meshMembers, parseMemberOption, parseNatList } from './mesh-members';
import { formatPairTable, PairRow } from './mesh-pairs';
import { checkLabId, DATAPLANES, Dataplane, LabSpec, MemberNat, MemberSpec } from './plan';
import { missingRequirements } from './requirements';

/**
 * `wgmesh lab up|run|down|status`: the lab from a shell. `up` builds the network, starts the real
 * mesh in it (NATS, Redis and `wgmesh registry up` on the registry, `wgmesh member up` on every
 * member), waits until every pair that can be direct is, prints the pair table and leaves it all
 * running (detached). `run` (npm start) does the same, then waits for Ctrl-C and tears down.
 * `down` ends one lab, or all; `status` shows what the state files list.
 */
export const labOptions: OptionSpec[] = [
  { key: 'members', flag: 'members', env: 'WGMESH_LAB_MEMBERS', value: '<count | name:nat[:dataplane],…>', parse: parseMemberOption, description: 'up/run: how many members: N-1 behind eim NATs and the last one public (default 4; 1: one public member), or a list like a:eim,b:edm,c:seq:vpp,d:public' },
  { key: 'nat', flag: 'nat', env: 'WGMESH_LAB_NAT', value: '<eim|edm|seq|public,…>', parse: parseNatList, description: 'up/run: the NAT in front of each member (one per member, or one for all)' },
  { key: 'dataplane', flag: 'dataplane', env: 'WGMESH_LAB_DATAPLANE', value: '<wireguard-go|vpp>', parse: parseDataplane, description: 'up/run: what carries WireGuard on every node, the registry included (vpp: a VPP per node owning its uplink; needs VPP installed: WGMESH_VPP_BIN, WGMESH_VPP_API_DIR, or vpp on PATH); a member\'s own name:nat:vpp wins' },
  { key: 'registryDataplane', flag: 'registry-dataplane', env: 'WGMESH_LAB_REGISTRY_DATAPLANE', value: '<wireguard-go|vpp>', parse: parseDataplane, description: "up/run: the registry's dataplane [default: --dataplane's]" },
  { key: 'registries', flag: 'registries', env: 'WGMESH_LAB_REGISTRIES', value: '<1-3>', parse: values.int(1, 3), default: '1', description: 'up/run: registry hosts (2 or 3: high availability, each with its own hub, a three-node NATS cluster and Redis on a "store" host)' },
  { key: 'json', flag: 'json', parse: values.bool, description: 'up: print only {"pairs":[{"a","b","path","reason","rttMs",…}],"convergeMs","map",…} on stdout' },
  { key: 'timeout', flag: 'timeout', env: 'WGMESH_LAB_TIMEOUT_MS', value: '<ms>', parse: values.int(1000, 600_000), default: '30000', description: 'up/run: how long the pairs may take to settle before the lab is torn down' },
  { key: 'natInterval', flag: 'nat-interval', env: 'WGMESH_LAB_NAT_INTERVAL_S', value: '<seconds>', parse: values.int(1, 3600), default: '3', description: "up/run: members' --nat-interval (how often nat-probe classifies the NAT again)" },
  { key: 'pathDeadline', flag: 'path-deadline', env: 'WGMESH_LAB_PATH_DEADLINE_S', value: '<seconds>', parse: values.int(1, 600), default: '10', description: "up/run: members' --path-deadline (how long a direct path or attempt may go without a handshake before the pair is relayed)" },
  { key: 'networkOnly', flag: 'network-only', parse: values.bool, description: 'up: build the network only (no NATS, Redis or wgmesh)' },
  { key: 'id', flag: 'id', env: 'WGMESH_LAB_ID', value: '<id>', parse: checkLabId, description: 'up/run: the lab id (1-6 characters a-z, 0-9; random by default)' },
  { key: 'stateDir', flag: 'state-dir', env: 'WGMESH_LAB_STATE_DIR', value: '<dir>', parse: values.string, default: '/run/wgmesh-lab', description: 'where lab state files (and each mesh\'s logs, <id>.mesh/) live' },
  { key: 'all', flag: 'all', parse: values.bool, description: 'down: every lab with a state file' },
  { key: 'orphans', flag: 'orphans', parse: values.bool, description: 'down --all: also wgl-<id>-* namespaces and wl<id>-* sockets that no state file lists' },
];

const execOptions: OptionSpec[] = labOptions.filter((o) => o.key === 'stateDir');

interface LabConfig {
  members?: number | MemberSpec[];
  nat?: MemberNat[];
  dataplane?: Dataplane;
  registryDataplane?: Dataplane;
  registries: number;
  json?: boolean;
  timeout: number;
  natInterval: number;
  pathDeadline: number;
  networkOnly?: boolean;
  id?: string;
  stateDir: string;
  all?: boolean;
  orphans?: boolean;
}

export const labUsage = `Usage: wgmesh lab up [--members N | a:eim,b:edm:vpp,…] [--nat eim,edm,seq,public,…] [--dataplane vpp] [--registries 2] [--json] [--id <id>]
       wgmesh lab run [--members N] [--nat …]        (npm start: up, then Ctrl-C tears it down)
       wgmesh lab down <id>… | --all [--orphans]
       wgmesh lab status [<id>]
       wgmesh lab exec [<id>] <registry|member> -- <wgmesh command…>

A WireGuard mesh in network namespaces (needs root): a registry on 203.0.113.1 running NATS,
Redis and "wgmesh registry up"; members behind NAT routers (eim: endpoint-independent mapping;
edm: endpoint-dependent, random ports; seq: endpoint-dependent, ports in sequence, which port
prediction gets through) or public, each running "wgmesh member up"; each node's WireGuard is
wireguard-go, or with --dataplane vpp (a member's name:nat:vpp) a VPP that owns the node's uplink,
the host reaching the mesh through it. "up" waits until both ends
of every pair apply the same path decision (their nat-probe's: direct or relayed, and why) and
the tunnel agrees with it, prints each pair's path, round trip and reason and the convergence
time and the address of the mesh map (http://127.0.0.1:<port>/map on this machine), and leaves
the lab running; "down" removes its namespaces, processes and files. "exec" runs a wgmesh command
in a host's namespace with that host's state directory, NATS credential and (on the registry)
Redis password, e.g. "wgmesh lab exec a -- status" or "wgmesh lab exec registry -- registry token
list" (the lab id may be left out while only one lab runs). See libs/lab/README.md.

Options:
${formatOptionsHelp(labOptions)}`;

export async function labCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'exec') return labExec(argv.slice(1));
  let parsed: ReturnType<typeof parseOptions>;
  let o: LabConfig;
  try {
    parsed = parseOptions(labOptions, { argv });
    o = parsed.options as unknown as LabConfig;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`wgmesh lab: ${err.message}\n`);
    return 2;
  }
  const [action, ...ids] = parsed.rest;
  if (parsed.help || action === undefined) {
    process.stdout.write(`${labUsage}\n`);
    return parsed.help ? 0 : 2;
  }
  try {
    switch (action) {
      case 'up':
        return o.networkOnly ? await networkUp(o) : await meshUp(o, { detach: true });
      case 'run':
        return await labRun(o);
      case 'down':
        return await labDown(o, ids);
      case 'status':
        return labStatus(o, ids);
      default:
        throw new LabSpecError(`unknown action "${action}": up, run, down, status or exec`);
    }
  } catch (err) {
    if (!(err instanceof LabError || err instanceof LabSpecError)) throw err;
    process.stderr.write(`wgmesh lab: ${err.message}\n`);
    return err instanceof LabSpecError ? 2 : 1;
  }
}

/** The lab's spec from the options: members (each with its dataplane) and the registry's dataplane. */
function labSpec(o: LabConfig): LabSpec {
  const members = meshMembers(o.members, o.nat).map((m) => (m.dataplane ?? o.dataplane ? { ...m, dataplane: m.dataplane ?? o.dataplane } : m));
  const registryDataplane = o.registryDataplane ?? o.dataplane;
  return { members, id: o.id, ...(registryDataplane ? { registryDataplane } : {}), ...(o.registries > 1 ? { registries: o.registries } : {}) };
}

function parseDataplane(text: string): Dataplane {
  if (!DATAPLANES.includes(text as Dataplane)) throw new LabSpecError(`"${text}" must be ${DATAPLANES.join(' or ')}`);
  return text as Dataplane;
}

async function networkUp(o: LabConfig): Promise<number> {
  const lab = await Lab.up(labSpec(o), { stateDir: o.stateDir, detach: true });
  process.stdout.write(`${formatStatus(lab.status())}\n\nRun a command in a host:  ip netns exec ${lab.namespaceOf('registry')} <command>\nTear it down:             wgmesh lab down ${lab.id}\n`);
  return 0;
}

interface MeshUp {
  lab: Lab;
  mesh: Mesh;
  rows: PairRow[];
  convergeMs: number;
}

/** What `lab up --json` prints: the pairs, the convergence time, each member's NAT as nat-probe classified it, the map's address. */
export function labUpJson(up: { lab: { id: string }; rows: readonly PairRow[]; convergeMs: number; nat: Record<string, string>; map: string }): string {
  const pairs = up.rows.map((r) => ({ a: r.a, b: r.b, path: r.path, reason: r.reason, rttMs: r.rttMs, attempt: r.attempt, decidedBy: r.decidedBy, observed: r.observed }));
  return JSON.stringify({ pairs, convergeMs: up.convergeMs, lab: up.lab.id, nat: up.nat, map: up.map });
}

/**
 * Builds the lab, starts the mesh, waits for it to converge and prints the pair table. On any
 * failure (or Ctrl-C meanwhile) it tears everything down before returning 1.
 */
async function meshUp(o: LabConfig, opts: { detach: boolean }): Promise<number> {
  const up = await bringUp(o, opts);
  if (!up) return 1;
  const { lab } = up;
  if (o.json) {
    process.stdout.write(`${labUpJson({ ...up, nat: natOf(up.mesh), map: up.mesh.mapUrl })}\n`);
    process.stderr.write(`lab ${lab.id} is up; "wgmesh lab down ${lab.id}" removes it\n`);
    return 0;
  }
  process.stdout.write(`${summary(up)}\nTear it down:  wgmesh lab down ${lab.id}\n`);
  return 0;
}

async function bringUp(o: LabConfig, opts: { detach: boolean }): Promise<MeshUp | undefined> {
  const started = Date.now();
  const spec = labSpec(o);
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const lab = await Lab.up(spec, { stateDir: o.stateDir, detach: opts.detach });
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    if (opts.detach) progress(`\n${sig}: tearing down lab ${lab.id}…`); // else the Lab says so
    void teardown(lab, o.stateDir).then(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  // A detached lab is not torn down by the Lab itself on a signal, and neither lab knows the
  // mesh's files: tear both down here while the lab is being set up.
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const who = spec.members.map((m) => `${m.name} (${m.nat}${m.dataplane === 'vpp' ? ', vpp' : ''})`).join(', ');
    const registries = lab.hosts.filter((h) => h.role === 'registry').map((h) => `${h.name} ${h.address}`).join(', ');
    progress(`lab ${lab.id}: network up in ${Date.now() - started} ms: ${registries}${spec.registryDataplane === 'vpp' ? ' (vpp)' : ''}, members ${who}`);
    progress(`starting NATS, Redis and "wgmesh registry up" on the registry, then "wgmesh member up" on ${spec.members.length} member${spec.members.length === 1 ? '' : 's'}…`);
    const mesh = await startMesh(lab, { natIntervalS: o.natInterval, pathDeadlineS: o.pathDeadline });
    progress(`mesh started in ${Date.now() - started} ms; waiting for every pair's path decision, and the tunnel to agree…`);
    const { rows, convergeMs } = await mesh.waitForPaths({ timeoutMs: o.timeout });
    return { lab, mesh, rows, convergeMs };
  } catch (err) {
    if (interrupted) await new Promise(() => undefined); // the signal handler exits
    const logs = join(labStateDir(lab), `${lab.id}.mesh`, 'logs');
    process.stderr.write(`wgmesh lab: ${(err as Error).message}\ntearing down lab ${lab.id}; its logs stay in ${logs} until the next "wgmesh lab up"\n`);
    await teardown(lab, o.stateDir, { keepLogs: true });
    return undefined;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Ends the lab's processes and namespaces, then the mesh's files (its logs too, unless kept). */
async function teardown(lab: Lab, stateDir: string, options: { keepLogs?: boolean } = {}): Promise<void> {
  await lab.down();
  removeMeshFiles(stateDir, lab.id, { keepDir: options.keepLogs });
  await removeStaleLocks(DAEMON_STATE_DIR);
}

/** Each member's NAT as its nat-probe last reported it ("unknown" before a report). */
function natOf(mesh: Mesh): Record<string, string> {
  const reports = mesh.paths.natReports();
  return Object.fromEntries(mesh.memberNames().map((n) => [n, reports.get(n)?.nat ?? 'unknown']));
}

/** The pair table, the convergence time and how to look around. */
function summary({ lab, mesh, rows, convergeMs }: MeshUp): string {
  const direct = rows.filter((r) => r.path === 'direct').length;
  const relayed = rows.length - direct;
  const converged = rows.length === 0 ? 'nothing to converge (fewer than two members)' : `every pair settled (both ends apply the decision, and pings agree) ${convergeMs} ms after the last member enrolled`;
  const a = mesh.memberNames()[0];
  const nat = natOf(mesh);
  return [
    `lab ${lab.id}: ${direct} of ${rows.length} pairs direct, ${relayed} relayed; ${converged}`,
    '',
    formatPairTable(rows),
    '',
    ...[...mesh.registries.values()].map((r) => `${r.host.padEnd(8)}  ${r.endpoint}, tunnel ${r.address}, id ${r.id}, DNS-SD ${mesh.record().zone} on ${r.address}:53`),
    ...(mesh.ha ? [`store     NATS cluster ${mesh.natsClusterUrls()} (one node on each registry host and this one), Redis ${mesh.redisHost}`] : []),
    ...mesh.memberNames().map((n) => `${n.padEnd(8)}  tunnel ${mesh.member(n).address}, ${mesh.member(n).host.dataplane === 'vpp' ? `VPP (host interface ${mesh.member(n).device})` : `device ${mesh.member(n).device}`}, ${mesh.member(n).host.nat === 'public' ? `public ${mesh.member(n).host.address}` : `behind ${mesh.member(n).host.nat} NAT ${mesh.member(n).host.publicAddress}`}, nat-probe says ${nat[n]}`),
    `map       ${mesh.mapUrl}  (the mesh map: open it in a browser on this machine)`,
    `logs      ${mesh.logDir}`,
    '',
    a ? `Look around:   ${mesh.member(a).host.dataplane === 'vpp' ? `vppctl -s ${mesh.vppNodeOf(a).cliSocket} show wireguard peer` : `ip netns exec ${lab.namespaceOf(a)} wg show ${mesh.member(a).device}`}` : '',
    a ? `               ip netns exec ${lab.namespaceOf(a)} dig @10.99.0.1 _wireguard._udp.mesh.example. PTR +short` : '',
    a ? `               wgmesh lab exec ${lab.id} ${a} -- status        (or: registry -- watch)` : '',
  ]
    .filter((l, i, all) => l !== '' || all[i - 1] !== '')
    .join('\n');
}

/**
 * npm start: makes sure the machine can run the lab (installs missing Debian packages as root),
 * brings the default lab up, prints it, waits for Ctrl-C (or SIGTERM), tears it down.
 */
async function labRun(o: LabConfig): Promise<number> {
  const problems = ensureMachine();
  if (problems.length > 0) {
    process.stderr.write(`wgmesh lab run: this machine cannot run the lab:\n  ${problems.join('\n  ')}\n`);
    return 1;
  }
  const up = await bringUp(o, { detach: false });
  if (!up) return 1;
  process.stdout.write(`${summary(up)}\n\nThe lab runs until Ctrl-C.\n`);
  // The Lab prints "<signal>: tearing down lab <id>" and starts its own teardown as well; this
  // listener keeps it from exiting before the mesh's files are gone too.
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await teardown(up.lab, o.stateDir);
  process.stderr.write(`lab ${up.lab.id} removed\n`);
  return 0;
}

/**
 * What stops the lab on this machine, after installing missing Debian packages when we are root
 * (tools/dev/ensure-packages.sh, the one list of system packages).
 */
export function ensureMachine(): string[] {
  const problems = () => [...missingRequirements(), ...missingMeshTools()];
  const first = problems();
  const toolsMissing = first.some((p) => p.includes('is missing (it'));
  if (toolsMissing && process.getuid?.() === 0) {
    process.stderr.write('wgmesh lab: installing missing Debian packages (tools/dev/ensure-packages.sh)…\n');
    const r = spawnSync('bash', [join(WORKSPACE, 'tools/dev/ensure-packages.sh')], { stdio: 'inherit' });
    if (r.status !== 0) return [...problems(), 'installing the packages failed (see above)'];
    return problems();
  }
  return first;
}

/** `lab status [<id>…]`: every lab, or the ones named (a name with no lab is a failure, as for down). */
function labStatus(o: LabConfig, ids: string[]): number {
  const all = Lab.list({ stateDir: o.stateDir });
  const labs = all.filter((s) => ids.length === 0 || ids.includes(s.id));
  const missing = ids.filter((id) => !all.some((s) => s.id === id));
  if (labs.length > 0) process.stdout.write(`${labs.map((s) => formatStatus(s, readMeshRecord(o.stateDir, s.id))).join('\n\n')}\n`);
  else if (ids.length === 0) process.stdout.write('no lab\n');
  for (const id of missing) process.stderr.write(`wgmesh lab: no lab ${id}${all.length ? ` (labs: ${all.map((s) => s.id).join(', ')})` : ''}\n`);
  return missing.length > 0 ? 1 : 0;
}

async function labDown(o: LabConfig, ids: string[]): Promise<number> {
  if (o.all) {
    const reports = await Lab.downAll({ stateDir: o.stateDir, orphans: o.orphans });
    for (const id of Object.keys(reports)) removeMeshFiles(o.stateDir, id);
    sweepMeshDirs(o.stateDir);
    await removeStaleLocks(DAEMON_STATE_DIR);
    process.stdout.write(Object.keys(reports).length ? `removed lab ${Object.keys(reports).join(', ')}\n` : 'no lab to remove\n');
    return 0;
  }
  if (ids.length === 0) throw new LabSpecError('down needs lab ids, or --all');
  let missing = 0;
  for (const id of ids) {
    const report = await Lab.down(id, { stateDir: o.stateDir });
    removeMeshFiles(o.stateDir, checkLabId(id));
    await removeStaleLocks(DAEMON_STATE_DIR);
    if (report) process.stdout.write(`removed lab ${id}: ${report.namespaces.length} namespaces, ${report.killed.length} processes\n`);
    else {
      process.stderr.write(`wgmesh lab: no lab ${id}\n`);
      missing++;
    }
  }
  return missing ? 1 : 0;
}

const execUsage = `Usage: wgmesh lab exec [<lab-id>] <registry|member> [--state-dir <dir>] -- <wgmesh command…>

Runs a wgmesh command inside a lab host's network namespace, as that host's own tools would: on
a member with its state directory (key, enrolment, NATS credential: "status", "peers", "watch"
just work), on the registry with its state directory, NATS credential and Redis URL with the ACL
user's password ("registry token list", "peers", "member remove c"). The lab id may be left out
while only one lab runs. The command's exit status is exec's.

Examples:
  wgmesh lab exec a -- status
  wgmesh lab exec k3f9 registry -- registry token list
  wgmesh lab exec registry -- watch --json

Options:
${formatOptionsHelp(execOptions)}`;

/** `lab exec`: a wgmesh command in a host's namespace (see lab-exec.ts). */
async function labExec(argv: string[]): Promise<number> {
  const sep = argv.indexOf('--');
  const own = sep < 0 ? argv : argv.slice(0, sep);
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(execOptions, { argv: own });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`wgmesh lab exec: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${execUsage}\n`);
    return 0;
  }
  const stateDir = (parsed.options as { stateDir: string }).stateDir;
  try {
    if (sep < 0 || sep === argv.length - 1) throw new LabSpecError('give the wgmesh command after "--", e.g. wgmesh lab exec a -- status (see "wgmesh lab exec --help")');
    const { lab, host } = execTarget(parsed.rest, Lab.list({ stateDir }));
    if (!readMeshRecord(stateDir, lab.id)) throw new LabError(`lab ${lab.id} runs no mesh (it was brought up with --network-only): use ip netns exec wgl-${lab.id}-${host} <command>`);
    const ns = lab.hosts.find((h) => h.name === host)!.ns;
    return await execInHost(ns, join(WORKSPACE, 'bin/wgmesh.js'), argv.slice(sep + 1), hostEnv(meshDir(stateDir, lab.id), host));
  } catch (err) {
    if (!(err instanceof LabError || err instanceof LabSpecError)) throw err;
    process.stderr.write(`wgmesh lab exec: ${err.message}\n`);
    return err instanceof LabSpecError ? 2 : 1;
  }
}

/** The lab, its hosts (namespace, addresses, NAT), its mesh and its processes, as text. */
export function formatStatus(s: LabStatus, mesh?: MeshRecord): string {
  const head = `lab ${s.id}  created ${s.createdAt}  ${s.detached ? 'detached' : `owner pid ${s.owner.pid}${s.owner.alive ? '' : ' (gone)'}`}  state ${s.stateFile}`;
  const tunnel = new Map(mesh?.members.map((m) => [m.name, m.address]) ?? []);
  if (mesh) tunnel.set('registry', mesh.registry.address);
  for (const r of mesh?.registries ?? []) tunnel.set(r.host, `${r.address} (${r.id})`);
  const rows = s.hosts.map((h) => [
    h.name,
    h.role,
    h.ns,
    h.address,
    h.publicAddress === h.address ? '' : h.publicAddress,
    h.role === 'router' ? (h.mode ?? '') : h.role === 'member' ? (h.nat === 'public' ? 'public' : `behind ${h.router}`) : '',
    ...(mesh ? [tunnel.get(h.name) ?? ''] : []),
    h.present ? '' : 'MISSING',
  ]);
  const table = [['host', 'role', 'namespace', 'address', 'public', 'nat', ...(mesh ? ['tunnel'] : []), ''], ...rows];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = table.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  const meshLines = mesh ? [`mesh "${mesh.mesh}", zone ${mesh.zone}, ${mesh.cidr}; registry key ${mesh.registry.publicKey}; logs ${mesh.logs}${mesh.map ? `; map ${mesh.map}` : ''}`] : [];
  for (const r of mesh?.registries?.slice(1) ?? []) meshLines.push(`${r.id} (${r.host}): key ${r.publicKey}, endpoint ${r.endpoint}, tunnel ${r.address}`);
  if (mesh?.nats) meshLines.push(`NATS cluster ${mesh.nats}; Redis ${mesh.redis}`);
  const procs = s.processes.map((p) => `  pid ${p.pid} in ${p.host}: ${shortCommand(p.command)}${p.running ? '' : ' (ended)'}`);
  return [head, ...lines.map((l) => `  ${l}`), ...meshLines, ...(procs.length ? ['processes:', ...procs] : [])].join('\n');
}

/** "sh -c exec … sh /usr/bin/node /…/bin/wgmesh.js member up …" → "wgmesh member up …". */
export function shortCommand(command: string): string {
  return command
    .replace(/^sh -c exec "\$@" >>"\$LAB_LOG_FILE" 2>&1 sh /, '')
    .replace(/^\S*node \S*bin\/wgmesh\.js /, 'wgmesh ')
    .replace(/(--token[ =])\S+/, '$1***');
}
