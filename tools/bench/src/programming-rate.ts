import { makePeers, viaDriver } from './driver-timing';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredPeer } from '@wgmesh/contracts';
import { formatOptionsHelp, OptionSpec, parseCommand, values } from '@wgmesh/config';
import { UapiDriver, WgDriver } from '@wgmesh/dataplane';
import { generatePrivateKey } from '@wgmesh/wireguard';
import { Lab, labAvailable, LabDevice } from '@wgmesh/wireguard/testing';
import { formatProgrammingTable, median, ProgrammingRow } from './programming-table';

/**
 * How fast a WireGuard device is programmed: N peers (10,000) applied to a fresh wireguard-go
 * device in a network namespace, then every peer's endpoint changed, by
 *   - our uapi driver: read the device, diff, one `set=1` transaction (what dataplane-programmer does),
 *   - our wg driver: `wg show dump`, diff, `wg addconf` (what --driver wg does),
 *   - `wg addconf <dev> <file>` with the same peers (the reference),
 *   - `wg set` with many peers per command line (≤ 64 KiB),
 *   - one `wg set` per peer, capped (--single-cap) and extrapolated.
 * Run: node -r ./bin/register.js tools/bench/src/programming-rate.ts [--peers 10000] [--repeat 3]
 */
const options: OptionSpec[] = [
  { key: 'peers', flag: 'peers', value: '<n>', parse: values.int(1, 100_000), default: '10000', description: 'peers per device' },
  { key: 'repeat', flag: 'repeat', value: '<n>', parse: values.int(1, 20), default: '3', description: 'runs per method (fresh device each); medians are reported' },
  { key: 'singleCap', flag: 'single-cap', value: '<n>', parse: values.int(1, 100_000), default: '1000', description: 'peers for the one-wg-set-per-peer method (extrapolated to --peers)' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the rows as JSON' },
];

interface Options {
  peers: number;
  repeat: number;
  singleCap: number;
  json?: string;
}

function conf(peers: DesiredPeer[]): string {
  return peers.map((p) => `[Peer]\nPublicKey = ${p.publicKey}\nEndpoint = ${p.endpoint}\nPersistentKeepalive = off\nAllowedIPs = ${p.allowedIps.join(', ')}\n`).join('\n');
}

function wg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile('wg', args, { maxBuffer: 64 * 1024 * 1024 }, (err, _o, stderr) => (err ? reject(new Error(`wg ${args[0]}: ${stderr || err.message}`)) : resolve())));
}

interface Timing {
  readMs?: number;
  diffMs?: number;
  applyMs?: number;
  totalMs: number;
  measuredPeers: number;
}

type Method = { name: string; run: (dev: LabDevice, peers: DesiredPeer[], scratch: string) => Promise<Timing> };

function methods(o: Options): Method[] {
  return [
    { name: 'uapi driver', run: (dev, peers) => viaDriver(new UapiDriver(dev.name), peers) },
    { name: 'wg driver', run: (dev, peers) => viaDriver(new WgDriver(dev.name), peers) },
    {
      name: 'wg addconf',
      run: async (dev, peers, scratch) => {
        const file = join(scratch, `${dev.name}.conf`);
        writeFileSync(file, conf(peers));
        const t = performance.now();
        await wg(['addconf', dev.name, file]);
        return { totalMs: performance.now() - t, measuredPeers: peers.length };
      },
    },
    {
      name: 'wg set, 64 KiB lines',
      run: async (dev, peers) => {
        const tools = new WgDriver(dev.name, { peerBatch: 'set', maxArgvBytes: 64 * 1024 });
        const t = performance.now();
        await tools.apply({ upsert: peers, remove: [] });
        return { totalMs: performance.now() - t, measuredPeers: peers.length };
      },
    },
    {
      name: 'wg set per peer',
      run: async (dev, peers) => {
        const some = peers.slice(0, o.singleCap);
        const t = performance.now();
        for (const p of some) await wg(['set', dev.name, 'peer', p.publicKey, 'endpoint', p.endpoint!, 'persistent-keepalive', 'off', 'allowed-ips', p.allowedIps.join(',')]);
        return { totalMs: performance.now() - t, measuredPeers: some.length };
      },
    },
  ];
}

async function main(o: Options): Promise<void> {
  if (!labAvailable) throw new Error('needs root, ip, wireguard-go and wg (see DESIGN.md, "The network-namespace lab")');
  const lab = new Lab();
  const scratch = mkdtempSync(join(tmpdir(), 'wgmesh-programming-'));
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up…\n`);
    void lab.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const load = makePeers(o.peers, 20000, 'programming-rate');
  const moved = makePeers(o.peers, 30000, 'programming-rate');
  const results = new Map<string, Timing[]>();
  const record = (key: string, t: Timing) => results.set(key, [...(results.get(key) ?? []), t]);
  try {
    const ns = await lab.netns('wgb');
    const all = methods(o);
    // Repeats interleave the methods, so that a busy moment of the machine is spread over all.
    for (let r = 0; r < o.repeat; r++) {
      for (const m of all) {
        const dev = await lab.wireguardGo(ns);
        // A key and port as in production: adding a peer then precomputes the static DH.
        await dev.uapi.set({ privateKey: generatePrivateKey(), listenPort: 52000 });
        const first = await m.run(dev, load, scratch);
        await check(dev, m.name === 'wg set per peer' ? load.slice(0, o.singleCap) : load, first.measuredPeers);
        if (m.name === 'wg set per peer') await dev.uapi.set({ peers: load.slice(o.singleCap).map(asChange) }); // the rest, untimed
        const second = await m.run(dev, moved, scratch);
        await check(dev, moved, second.measuredPeers);
        record(`${m.name}\tload`, first);
        record(`${m.name}\tupdate`, second);
        process.stderr.write(`run ${r + 1}/${o.repeat} ${m.name}: load ${first.totalMs.toFixed(0)} ms, update ${second.totalMs.toFixed(0)} ms\n`);
        await dev.stop();
      }
    }
  } finally {
    const problems = await lab.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    for (const p of problems) process.stderr.write(`cleanup: ${p}\n`);
  }

  const rows: ProgrammingRow[] = [...results].map(([key, runs]) => {
    const [method, phase] = key.split('\t') as [string, 'load' | 'update'];
    const mid = (f: (t: Timing) => number | undefined) => (runs[0] && f(runs[0]) !== undefined ? median(runs.map((t) => f(t)!)) : undefined);
    return {
      method,
      phase,
      peers: o.peers,
      measuredPeers: runs[0].measuredPeers,
      readMs: mid((t) => t.readMs),
      diffMs: mid((t) => t.diffMs),
      applyMs: mid((t) => t.applyMs),
      totalMs: median(runs.map((t) => t.totalMs)),
      runs: runs.map((t) => t.totalMs),
    };
  });
  rows.sort((a, b) => (a.phase === b.phase ? 0 : a.phase === 'load' ? -1 : 1));
  const version = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' }).split('\n')[0].trim();
  process.stdout.write(
    [
      '',
      `Programming ${o.peers.toLocaleString('en-US')} peers into a fresh wireguard-go device (${version('wireguard-go', ['--version'])}, ${version('wg', ['--version']).split(' - ')[0]})`,
      `${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg()[0].toFixed(2)}, node ${process.version}; median of ${o.repeat} runs`,
      '',
      formatProgrammingTable(rows, 'wg addconf'),
      '',
      'load: 0 → N peers on a fresh device (with a private key); update: every peer\'s endpoint changes, N peers present.',
      'read/diff/apply: our drivers read the device, diff against the desired set, and apply the diff (one UAPI set=1',
      'transaction, or wg addconf); total includes all three. wg addconf / wg set rows time the wg process only.',
      `* one wg set per peer: ${o.singleCap} peers measured, extrapolated linearly to ${o.peers}.`,
      '',
    ].join('\n'),
  );
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ at: new Date().toISOString(), options: o, rows }, null, 2)}\n`);
}

function asChange(p: DesiredPeer) {
  return { publicKey: p.publicKey, endpoint: p.endpoint!, replaceAllowedIps: true, allowedIps: p.allowedIps };
}

/** The device has every peer, with the endpoints of the last phase for the measured ones (untimed). */
async function check(dev: LabDevice, peers: DesiredPeer[], measured: number): Promise<void> {
  const d = await dev.uapi.get();
  const byKey = new Map(d.peers.map((p) => [p.publicKey, p]));
  for (const p of peers.slice(0, measured)) {
    if (byKey.get(p.publicKey)?.endpoint !== p.endpoint) throw new Error(`${dev.name}: peer ${p.publicKey} has endpoint ${byKey.get(p.publicKey)?.endpoint}, not ${p.endpoint}`);
  }
}

const usage = `Usage: node -r ./bin/register.js tools/bench/src/programming-rate.ts [options]

Peers per second when programming a wireguard-go device: our uapi and wg drivers against wg addconf
and wg set. Needs root, ip, wireguard-go and wg; everything runs in a network namespace of its own
and is removed at the end (or on Ctrl-C).

Options:
${formatOptionsHelp(options)}`;

const command = parseCommand<Options>('programming-rate', usage, options, { argv: process.argv.slice(2), env: {} });
if ('exit' in command) process.exitCode = command.exit;
else
  main(command.options).catch((err: Error) => {
    process.stderr.write(`programming-rate: ${err.message}\n`);
    process.exitCode = 1;
  });
