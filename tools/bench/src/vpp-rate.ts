import { parseProcStat, TICKS_PER_SECOND } from './cpu';
import { makePeers, viaDriver } from './driver-timing';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DesiredPeer } from '@wgmesh/contracts';
import { formatOptionsHelp, OptionSpec, parseCommand, values } from '@wgmesh/config';
import { UapiDriver, VppDriver } from '@wgmesh/dataplane';
import { ApiDefinitions, loadDefinitions, swInterfaceSetFlags, VppClient, VppFields, wireguardInterfaceDump } from '@wgmesh/vpp-api';
import { startVpp, VppInstall, vppAvailability } from '@wgmesh/vpp-live';
import { generatePrivateKey } from '@wgmesh/wireguard';
import { Lab, labAvailable } from '@wgmesh/wireguard/testing';
import { formatProgrammingTable, median, ProgrammingRow } from './programming-table';

/**
 * Peers per second through the vpp driver: N peers (10,000), each with one allowed IP and so
 * one route, applied to a fresh wg interface, then every peer's endpoint changed (VPP has no
 * peer update: a remove and an add each). Against a live VPP when one is installed (found as a
 * user's is: WGMESH_VPP_BIN / WGMESH_VPP_API_DIR, or vpp on PATH; a fresh VPP per run in a
 * namespace of its own, VPP's own epoll loop), with its wg interface up (as in production: VPP
 * then also sends every new peer a handshake initiation) and down (the programming alone); against
 * the VPP simulator (@wgmesh/vpp-sim, its own process: the client's side with a server that
 * answers at once); and the uapi driver against a real wireguard-go (when the lab can run).
 * Times: what dataplane-programmer spends (read, diff, apply), wall clock, and the CPU of the
 * client and of VPP. Not a test.
 * Run: npm run bench:vpp-rate -- [--peers 10000] [--repeat 3] [--live on|off]
 */
const ROOT = resolve(__dirname, '../../..');
const VPP_METHOD = 'vpp driver, against the simulator';
const LIVE_UP = 'vpp driver, live VPP, wg interface up';
const LIVE_DOWN = 'vpp driver, live VPP, wg interface down';
const UAPI_METHOD = 'uapi driver, wireguard-go';
const GOAL_MS = 1000;
const GOAL_PEERS = 10_000;

const options: OptionSpec[] = [
  { key: 'peers', flag: 'peers', value: '<n>', parse: values.int(1, 100_000), default: '10000', description: 'peers per device' },
  { key: 'repeat', flag: 'repeat', value: '<n>', parse: values.int(1, 20), default: '3', description: 'runs per method (fresh device each); medians are reported' },
  { key: 'maxInFlight', flag: 'max-in-flight', value: '<n>', parse: values.int(1, 100_000), default: '1024', description: 'vpp driver: requests in flight at once' },
  { key: 'uapi', flag: 'uapi', value: '<bool>', parse: values.bool, default: 'true', description: 'also measure the uapi driver against wireguard-go (needs the lab)' },
  { key: 'vppApiDir', flag: 'vpp-api-dir', value: '<dir>', parse: values.string, description: 'simulator: VPP .api.json files [default: ../shared/vpp-api/api, else the live VPP\'s, else /usr/share/vpp/api]' },
  { key: 'live', flag: 'live', value: '<bool>', parse: values.bool, default: 'true', description: 'also measure a live VPP when one is installed (WGMESH_VPP_BIN, WGMESH_VPP_API_DIR, or vpp on PATH)' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the rows as JSON' },
];

interface Options {
  peers: number;
  repeat: number;
  maxInFlight: number;
  uapi: boolean;
  live: boolean;
  vppApiDir?: string;
  json?: string;
}

interface Timing {
  readMs: number;
  diffMs: number;
  applyMs: number;
  totalMs: number;
  /** CPU time of this (the client) process during the three steps. */
  cpuMs: number;
  /** CPU time of the live VPP during the three steps. */
  vppCpuMs?: number;
}

/** The simulator as a child process of ours (stopped by PID). */
async function startSimulator(socketPath: string, apiDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-r', join(ROOT, 'bin/register.js'), join(ROOT, 'libs/vpp-sim/src/cli.ts'), socketPath, apiDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the VPP simulator did not start within 10 s')), 10_000);
    child.once('exit', (code) => fail(new Error(`the VPP simulator exited (${code})`)));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        ok();
      }
    });
  });
  return child;
}

async function stopSimulator(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

type Run = { load: Timing; update: Timing };

async function runVpp(o: Options, defs: ApiDefinitions, apiDir: string, scratch: string, load: DesiredPeer[], moved: DesiredPeer[]): Promise<Run> {
  const socketPath = join(scratch, 'vpp-api.sock');
  const sim = await startSimulator(socketPath, apiDir);
  const driver = new VppDriver('wg0', { vppSocket: socketPath, vppDefinitions: defs, vppSrcAddress: '10.10.0.1', vppMaxInFlight: o.maxInFlight });
  try {
    await driver.ensureDevice({ create: true, privateKey: generatePrivateKey(), listenPort: 51820, addresses: ['10.99.0.1/16'] });
    const first = await viaDriver(driver, load);
    await checkVpp(driver, socketPath, defs, load);
    const second = await viaDriver(driver, moved);
    await checkVpp(driver, socketPath, defs, moved);
    return { load: first, update: second };
  } finally {
    await driver.close();
    await stopSimulator(sim);
  }
}

/** utime + stime of a process in ms. */
function cpuMsOf(pid: number): number {
  return (parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).ticks * 1000) / TICKS_PER_SECOND;
}

/** A fresh live VPP per run (its own namespace, VPP's own loop), with the wg interface up or down. */
async function runLive(o: Options, install: VppInstall, defs: ApiDefinitions, up: boolean, load: DesiredPeer[], moved: DesiredPeer[]): Promise<Run> {
  const vpp = await startVpp({ install, config: { pollSleepUsec: null } });
  const driver = new VppDriver('wg0', { vppSocket: vpp.apiSocket, vppDefinitions: defs, vppSrcAddress: '192.0.2.1', vppMaxInFlight: o.maxInFlight });
  try {
    await driver.ensureDevice({ create: true, privateKey: generatePrivateKey(), listenPort: 51820, addresses: ['10.99.0.1/32'] });
    if (!up) {
      const client = await VppClient.connect({ socketPath: vpp.apiSocket, definitions: defs, name: 'vpp-rate-down' });
      await swInterfaceSetFlags(client, (await wireguardInterfaceDump(client))[0].swIfIndex, false);
      await client.close();
    }
    const timed = async (peers: DesiredPeer[]) => {
      const before = cpuMsOf(vpp.pid);
      const t = await viaDriver(driver, peers);
      return { ...t, vppCpuMs: cpuMsOf(vpp.pid) - before };
    };
    const first = await timed(load);
    await checkVpp(driver, vpp.apiSocket, defs, load);
    const second = await timed(moved);
    await checkVpp(driver, vpp.apiSocket, defs, moved);
    return { load: first, update: second };
  } finally {
    await driver.close();
    await vpp.stop();
  }
}

/** Untimed: VPP has every peer with the phase's endpoint, and one route per allowed IP. */
async function checkVpp(driver: VppDriver, socketPath: string, defs: ApiDefinitions, peers: DesiredPeer[]): Promise<void> {
  const byKey = new Map((await driver.read()).peers.map((p) => [p.publicKey, p]));
  for (const p of peers) {
    if (byKey.get(p.publicKey)?.endpoint !== p.endpoint) throw new Error(`vpp: peer ${p.publicKey} has endpoint ${byKey.get(p.publicKey)?.endpoint}, not ${p.endpoint}`);
  }
  const client = await VppClient.connect({ socketPath, definitions: defs, name: 'vpp-rate-check' });
  try {
    const routes = new Set((await client.dump('ip_route_dump', { table: { table_id: 0, is_ip6: false } })).map((d) => (d.route as VppFields).prefix as string));
    for (const p of peers) for (const prefix of p.allowedIps) if (!routes.has(prefix)) throw new Error(`vpp: no route for ${prefix}`);
  } finally {
    await client.close();
  }
}

async function runUapi(lab: Lab, ns: string, load: DesiredPeer[], moved: DesiredPeer[]): Promise<Run> {
  const dev = await lab.wireguardGo(ns);
  try {
    // A key and port as in production: adding a peer then precomputes the static DH.
    await dev.uapi.set({ privateKey: generatePrivateKey(), listenPort: 52000 });
    const driver = new UapiDriver(dev.name);
    const first = await viaDriver(driver, load);
    await checkUapi(driver, load);
    const second = await viaDriver(driver, moved);
    await checkUapi(driver, moved);
    return { load: first, update: second };
  } finally {
    await dev.stop();
  }
}

async function checkUapi(driver: UapiDriver, peers: DesiredPeer[]): Promise<void> {
  const byKey = new Map((await driver.read()).peers.map((p) => [p.publicKey, p]));
  for (const p of peers) if (byKey.get(p.publicKey)?.endpoint !== p.endpoint) throw new Error(`uapi: peer ${p.publicKey} has endpoint ${byKey.get(p.publicKey)?.endpoint}, not ${p.endpoint}`);
}

function defaultApiDir(): string {
  const shared = resolve(ROOT, '../shared/vpp-api/api');
  return existsSync(shared) ? shared : '/usr/share/vpp/api';
}

async function main(o: Options): Promise<void> {
  const found = o.live ? vppAvailability() : { reason: 'not asked for (--live false)' };
  if (found.reason) process.stderr.write(`live VPP rows skipped: ${found.reason}\n`);
  const apiDir = o.vppApiDir ?? (existsSync(resolve(ROOT, '../shared/vpp-api/api')) ? defaultApiDir() : (found.install?.apiDir ?? defaultApiDir()));
  const defs = loadDefinitions(apiDir);
  const liveDefs = found.install ? loadDefinitions(found.install.apiDir) : undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'wgmesh-vpp-rate-'));
  const lab = new Lab();
  const uapi = o.uapi && labAvailable;
  if (o.uapi && !labAvailable) process.stderr.write('uapi rows skipped: the lab needs root, ip, wireguard-go and wg\n');
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up…\n`);
    void lab.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const load = makePeers(o.peers, 20000, 'vpp-rate');
  const moved = makePeers(o.peers, 30000, 'vpp-rate');
  const runs = new Map<string, Run[]>();
  const record = (method: string, r: Run) => runs.set(method, [...(runs.get(method) ?? []), r]);
  try {
    const ns = uapi ? await lab.netns('wgv') : '';
    // Repeats interleave the methods, so that a busy moment of the machine is spread over both.
    for (let i = 0; i < o.repeat; i++) {
      if (found.install && liveDefs) {
        for (const [method, up] of [[LIVE_UP, true], [LIVE_DOWN, false]] as const) {
          const l = await runLive(o, found.install, liveDefs, up, load, moved);
          record(method, l);
          process.stderr.write(`run ${i + 1}/${o.repeat} ${method}: load ${l.load.totalMs.toFixed(0)} ms (VPP CPU ${l.load.vppCpuMs} ms), update ${l.update.totalMs.toFixed(0)} ms (VPP CPU ${l.update.vppCpuMs} ms)\n`);
        }
      }
      const v = await runVpp(o, defs, apiDir, scratch, load, moved);
      record(VPP_METHOD, v);
      process.stderr.write(`run ${i + 1}/${o.repeat} vpp: load ${v.load.totalMs.toFixed(0)} ms, update ${v.update.totalMs.toFixed(0)} ms\n`);
      if (uapi) {
        const u = await runUapi(lab, ns, load, moved);
        record(UAPI_METHOD, u);
        process.stderr.write(`run ${i + 1}/${o.repeat} uapi: load ${u.load.totalMs.toFixed(0)} ms, update ${u.update.totalMs.toFixed(0)} ms\n`);
      }
    }
  } finally {
    const problems = await lab.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    for (const p of problems) process.stderr.write(`cleanup: ${p}\n`);
  }

  const rows: ProgrammingRow[] = [];
  const cpuRows: string[][] = [];
  for (const phase of ['load', 'update'] as const) {
    for (const [method, list] of runs) {
      const t = list.map((r) => r[phase]);
      const mid = (f: (x: Timing) => number) => median(t.map(f));
      rows.push({ method, phase, peers: o.peers, measuredPeers: o.peers, readMs: mid((x) => x.readMs), diffMs: mid((x) => x.diffMs), applyMs: mid((x) => x.applyMs), totalMs: mid((x) => x.totalMs), runs: t.map((x) => x.totalMs) });
      const vppCpu = t.every((x) => x.vppCpuMs !== undefined) ? mid((x) => x.vppCpuMs ?? 0).toFixed(0) : '';
      cpuRows.push([method, phase, mid((x) => x.cpuMs).toFixed(0), Math.round(o.peers / (mid((x) => x.cpuMs) / 1000)).toLocaleString('en-US'), vppCpu]);
    }
  }
  const goalMethod = runs.has(LIVE_UP) ? LIVE_UP : VPP_METHOD;
  const vppLoad = rows.find((r) => r.method === goalMethod && r.phase === 'load')!;
  const vppUpdate = rows.find((r) => r.method === goalMethod && r.phase === 'update')!;
  const vppLoadCpu = median(runs.get(goalMethod)!.map((r) => r.load.cpuMs));
  const n = o.peers.toLocaleString('en-US');
  process.stdout.write(
    [
      '',
      `Programming ${n} peers (one allowed IP and one route each): the vpp driver against ${found.install ? 'a live VPP and ' : ''}the VPP simulator, and the uapi driver against wireguard-go`,
      `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg()[0].toFixed(2)}, node ${process.version}; median of ${o.repeat} runs; vpp requests in flight ≤ ${o.maxInFlight}`,
      '',
      formatProgrammingTable(rows, uapi ? UAPI_METHOD : VPP_METHOD),
      '',
      table(['method', 'phase', 'client CPU ms', 'peers/s per client CPU s', 'VPP CPU ms'], cpuRows),
      '',
      `load: 0 → ${n} peers on a fresh device; update: every peer's endpoint changes, ${n} peers present.`,
      `vpp: load = ${n} wireguard_peer_add + ${n} ip_route_add_del; update = ${n} wireguard_peer_remove + ${n} wireguard_peer_add`,
      '(VPP has no peer update; the routes, via each peer\'s own next hop, stay).',
      ...(found.install
        ? [
            'live VPP: a fresh VPP (v26.06 here) per run, one main thread, in VPP\'s own loop; "up": its wg interface is up, as in',
            'production, so VPP also builds and sends a handshake initiation for every new peer (on the same thread); "down": the',
            'programming alone. VPP CPU: the VPP process during the phase.',
          ]
        : []),
      'The simulator runs as its own process; its speed is not VPP\'s: its rows are the client\'s side (encoding,',
      'pipelining, the driver\'s bookkeeping), with a server that answers quickly.',
      ...(uapi ? ['uapi: one UAPI set=1 transaction per apply to a real wireguard-go (which does the work of both sides).'] : []),
      'read/diff/apply: as dataplane-programmer does them; client CPU: this process only (not the simulator or wireguard-go).',
      ...(o.peers === GOAL_PEERS
        ? [
            `Goal (${goalMethod}): ${n} peers with routes in under ${GOAL_MS} ms: load took ${vppLoad.totalMs.toFixed(0)} ms wall, ${vppLoadCpu.toFixed(0)} ms client CPU — ${vppLoad.totalMs < GOAL_MS ? 'met' : vppLoadCpu < GOAL_MS ? 'met in client CPU, not in wall time' : 'not met'}; every endpoint changed in under 2000 ms: ${vppUpdate.totalMs.toFixed(0)} ms — ${vppUpdate.totalMs < 2000 ? 'met' : 'not met'}.`,
          ]
        : []),
      '',
    ].join('\n'),
  );
  if (o.json) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(o.json, `${JSON.stringify({ at: new Date().toISOString(), options: o, rows, runs: Object.fromEntries(runs) }, null, 2)}\n`);
  }
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const usage = `Usage: npm run bench:vpp-rate -- [options]

Peers per second through the vpp driver against a live VPP (when one is installed: WGMESH_VPP_BIN,
WGMESH_VPP_API_DIR, or vpp on PATH) and the VPP simulator (client side), next to the uapi driver
against wireguard-go. VPP runs in a namespace of its own, the simulator as a child process on a
unix socket in a temp dir, wireguard-go in a network namespace of its own; all is removed at the end.

Options:
${formatOptionsHelp(options)}`;

const command = parseCommand<Options>('vpp-rate', usage, options, { argv: process.argv.slice(2), env: {} });
if ('exit' in command) process.exitCode = command.exit;
else
  main(command.options).catch((err: Error) => {
    process.stderr.write(`vpp-rate: ${err.message}\n`);
    process.exitCode = 1;
  });
