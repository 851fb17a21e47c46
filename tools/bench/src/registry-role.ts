import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, UapiClient, uapiSocketPath } from '@wgmesh/wireguard';
import type { Cleanup } from './cleanup';
import type { BenchPeer } from './peers';
import { ManagedProcess, startProcess } from './processes';
import type { RunningServer } from './server';
import { readyLine } from './wgmesh';

/**
 * The registry role as users run it, for `bench:dns --registry-workers`: a network namespace of
 * its own (prefix `wgdn`) holding a nats-server, a redis-server and a wireguard-go hub device
 * with every bench peer on it (endpoint and /32 as the Knot zone has them), and
 * `wgmesh registry up --dns-workers W` adopting that device (no enrolment: the device is the
 * truth, as with wgsd) and serving DNS-SD on its tunnel address. dnsperf runs in the namespace.
 * Everything is stopped by PID and the namespace deleted by the cleanup, also on an error or Ctrl-C.
 */
export const NETNS_PREFIX = 'wgdn';
/** The hub's tunnel address and the mesh CIDR: the bench peers' /32s are 10.0.x.y. */
const HUB_ADDRESS = '10.255.0.1';
const MESH_CIDR = '10.0.0.0/8';
const DNS_PORT = 53;

export interface RegistryRoleOptions {
  /** Workspace root (holds bin/wgmesh.js). */
  root: string;
  zone: string;
  peers: readonly BenchPeer[];
  dnsWorkers: number;
  /** A directory of the bench's (removed by its cleanup): NATS store, Redis dir, state dir. */
  dir: string;
  cleanup: Cleanup;
  progress: (message: string) => void;
  timeoutMs?: number;
}

export interface RegistryRole extends RunningServer {
  netns: string;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `ip netns exec <ns> <command…>` as a bench process (its own process group; `ip` execs the command, so the PID is the command's). */
function inNetns(ns: string, name: string, command: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string): ManagedProcess {
  return startProcess(name, 'ip', ['netns', 'exec', ns, command, ...args], { env, cwd });
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`no ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRegistryRole(o: RegistryRoleOptions): Promise<RegistryRole> {
  const timeoutMs = o.timeoutMs ?? 180_000;
  const ns = `${NETNS_PREFIX}${randomBytes(3).toString('hex')}`;
  const device = ns; // UAPI sockets are machine-wide: the device name must be unique too
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  ip(['netns', 'add', ns]);
  stops.push(async () => ip(['netns', 'del', ns]));
  const undo = o.cleanup.add(`stop the registry role in netns ${ns}`, stopAll);
  try {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    const own = (p: ManagedProcess) => stops.push(async () => void (await p.stop()));

    o.progress(`  netns ${ns}: nats-server, redis-server, wireguard-go hub ${device}…`);
    const natsDir = join(o.dir, `${ns}-nats`);
    mkdirSync(natsDir);
    const nats = inNetns(ns, 'nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', '4222', '-js', '-sd', natsDir]);
    own(nats);
    const redisDir = join(o.dir, `${ns}-redis`);
    mkdirSync(redisDir);
    const redis = inNetns(ns, 'redis-server', 'redis-server', ['--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', redisDir]);
    own(redis);
    const wg = inNetns(ns, 'wireguard-go', 'wireguard-go', ['-f', device], { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' });
    own(wg);
    await Promise.all([
      nats.waitForLines((l) => l.includes('Server is ready'), 1, 20_000, 'nats-server ready'),
      redis.waitForLines((l) => l.includes('Ready to accept connections'), 1, 20_000, 'redis-server ready'),
      waitFor(`UAPI socket of ${device}`, () => existsSync(uapiSocketPath(device)), 20_000),
    ]);
    // The hub as an operator's wgsd hub would be: a key, a port, every peer with its endpoint.
    const uapi = new UapiClient(device, { timeoutMs: 60_000 });
    await uapi.set({
      privateKey: generatePrivateKey(),
      listenPort: 51820,
      peers: o.peers.map((p) => ({ publicKey: p.publicKey, endpoint: `${p.endpointIp}:${p.endpointPort}`, allowedIps: [p.allowedIp] })),
    });
    const onDevice = (await uapi.get()).peers.length;
    if (onDevice !== o.peers.length) throw new Error(`the hub holds ${onDevice} peers, not ${o.peers.length}`);

    o.progress(`  wgmesh registry up --dns-workers ${o.dnsWorkers} over ${onDevice} peers…`);
    const stateDir = join(o.dir, `${ns}-state`);
    const args = [
      ...(process.env.BENCH_REGISTRY_NODE_ARGS ?? '').split(' ').filter(Boolean), // e.g. --cpu-prof --cpu-prof-dir=<dir>
      join(o.root, 'bin', 'wgmesh.js'),
      'registry', 'up',
      '--device', device,
      '--driver', 'uapi',
      '--mesh-cidr', MESH_CIDR,
      '--address', HUB_ADDRESS,
      '--zone', o.zone,
      '--dns-listen', `${HUB_ADDRESS}:${DNS_PORT}`,
      '--dns-workers', String(o.dnsWorkers),
      '--nats', 'nats://127.0.0.1:4222',
      '--redis', 'redis://127.0.0.1:6379',
      '--state-dir', stateDir,
      '--mesh', 'bench',
      '--http-listen', '127.0.0.1:0',
      '--map', 'false',
      '--log-level', 'info',
    ];
    // Tracing off (it is off anyway without an OTLP endpoint).
    const env = { ...process.env, OTEL_SDK_DISABLED: 'true' };
    const registry = inNetns(ns, `wgmesh registry up (dns-workers ${o.dnsWorkers})`, process.execPath, args, env, o.root);
    own(registry); // stopped first: before the hub, Redis and NATS
    const wrongCount: number[] = [];
    await registry.waitForLines(
      (line) => {
        const ready = readyLine(line);
        if (ready && ready.peers !== undefined && ready.peers !== o.peers.length) wrongCount.push(ready.peers);
        return ready !== null;
      },
      o.dnsWorkers,
      timeoutMs,
      `"resolver ready" from ${o.dnsWorkers} DNS worker(s)`,
    );
    if (wrongCount.length > 0) throw new Error(`a DNS worker loaded ${wrongCount.join(', ')} peers, not the ${o.peers.length} on the hub; last output:\n${registry.tail()}`);
    return {
      label: `wgmesh registry up, dns-workers ${o.dnsWorkers}`,
      kind: 'wgmesh',
      workers: o.dnsWorkers,
      host: HUB_ADDRESS,
      port: DNS_PORT,
      pid: registry.pid,
      netns: ns,
      stop: undo,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
