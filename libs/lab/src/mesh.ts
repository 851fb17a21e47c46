import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isDaemonRunning, readDaemonRecord, removeStaleLocks, toDeviceState, VppDriver } from '@wgmesh/dataplane';
import { readEnrollment } from '@wgmesh/peer-discovery';
import { parseWgDump } from '@wgmesh/wireguard';
import type { PeerState } from '@wgmesh/contracts';
import { findVpp, VppInstall } from '@wgmesh/vpp-live';
import { VppNode, vppNode } from './vpp-node';
import { randomBytes } from 'node:crypto';
import { AUTH_DIR, initAuthority, InitResult } from '@wgmesh/nats-auth';
import { LabError } from './errors';
import { ExecResult, run, toolEnv } from './exec';
import type { Lab } from './lab';
import { startMapForward } from './map-forward';
import { registryClientEnv } from './lab-exec';
import { LogFile, logMessage } from './mesh-log';
import { expectDirect, pairsOf, PairRow } from './mesh-pairs';
import { meshPairTable, PathsConvergence, PathWatch, waitForPaths, WaitForPathsOptions } from './mesh-paths';
import { ADDR, type Host, STORE } from './plan';
import type { LabProcess } from './process';
import { findExecutable } from './requirements';
import { StateStore } from './state';

/**
 * The real wgmesh in a lab: NATS and Redis in the registry's namespace (its own loopback, so no
 * clash with the machine's), `wgmesh registry up` there, and `wgmesh member up` in every member's
 * namespace, each creating its own wireguard-go device. Every process is started with lab.spawn
 * (its PID is in the lab's state file, so `lab down` ends it) and writes its log to a file under
 * the mesh directory `<lab state dir>/<id>.mesh/` (files, not pipes: the processes outlive a
 * detached `wgmesh lab up`).
 */

export const WORKSPACE = resolve(__dirname, '../../..');
const WGMESH = join(WORKSPACE, 'bin/wgmesh.js');
/** The Redis ACL the project ships; the lab fills in a random password. */
const REDIS_ACL = join(WORKSPACE, 'deploy/security/redis-users.acl');

/** The mesh every lab runs (documentation and private ranges only). */
export const MESH = {
  name: 'lab',
  zone: 'mesh.example.',
  cidr: '10.99.0.0/16',
  registryAddress: '10.99.0.1',
  /** NATS cluster routes (several registries). */
  natsCluster: 6222,
  port: 51820,
  nats: 4222,
  redis: 6379,
} as const;

/** The WireGuard interface a VPP node's wgmesh creates in VPP (its host interface carries the lab's device name). */
export const VPP_DEVICE = 'wg0';

/** wireguard-go's PID/log records, which wgmesh's uapi driver keeps here when it creates a device. */
export const DAEMON_STATE_DIR = '/var/run/wgmesh';

export interface MeshOptions {
  /** Log level of the wgmesh processes; default info. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** The registry's own (e.g. debug, for its "peer published" lines); default logLevel. */
  registryLogLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Members to start now (default: every member of the lab). */
  members?: string[];
  /**
   * Registry hosts to start now (default: every registry host of the lab; the first always
   * starts): the others can join later with startRegistry(host), as a registry added to a running mesh.
   */
  registries?: string[];
  /** How long each process may take to say it is ready; default 30 s. */
  startTimeoutMs?: number;
  /** Extra flags for `wgmesh member up` (e.g. ["--keepalive", "10"]). */
  memberArgs?: string[];
  /** Extra flags for `wgmesh registry up` (e.g. ["--watch-interval", "250"]). */
  registryArgs?: string[];
  /** Extra environment of `wgmesh registry up` and `member up` (e.g. OTEL_* for tracing), or a function of the host. */
  env?: NodeJS.ProcessEnv | ((host: string) => NodeJS.ProcessEnv);
  /**
   * Members' --nat-interval (how often nat-probe classifies the NAT again), in seconds; default
   * nat-probe's (30). `wgmesh lab up` uses 3, and so should tests that change NATs at run time.
   */
  natIntervalS?: number;
  /** Members' --path-deadline in seconds; default nat-probe's (10). */
  pathDeadlineS?: number;
}

/** One registry host of the mesh, as the lab runs it. */
export interface MeshRegistry {
  /** Its lab host: "registry", "registry2", … */
  host: string;
  /** Its registry id (node id of its hub): "registry", "registry-b", … */
  id: string;
  device: string;
  stateDir: string;
  log: LogFile;
  process: LabProcess | null;
  publicKey: string;
  endpoint: string;
  /** Its tunnel address. */
  address: string;
}

/** Registry k's id and tunnel address: "registry" 10.99.0.1, "registry-b" 10.99.0.254, "registry-c" 10.99.0.253. */
export function registryIdentity(k: number): { id: string; address: string } {
  return k === 1 ? { id: 'registry', address: MESH.registryAddress } : { id: `registry-${String.fromCharCode(96 + k)}`, address: `10.99.0.${256 - k}` };
}

export interface MeshMember {
  name: string;
  host: Host;
  device: string;
  stateDir: string;
  log: LogFile;
  process: LabProcess | null;
  /** From its enrolment (enrollment.json). */
  publicKey: string;
  /** Tunnel address, without prefix ("10.99.0.2"). */
  address: string;
  /** When it logged "enrolled" (ms since the epoch). */
  enrolledAt: number;
}

export interface Convergence {
  /** From the last member's "enrolled" log line to every expected pair having a handshake and a ping reply. */
  convergeMs: number;
  /** From the last enrolment to the handshakes alone (before the pings). */
  handshakesMs: number;
  lastEnrolledAt: number;
  pairs: Array<[string, string]>;
}

/** What `lab status` and `lab down` read about a lab's mesh (<id>.mesh/mesh.json). */
export interface MeshRecord {
  lab: string;
  mesh: string;
  zone: string;
  cidr: string;
  registry: { device: string; publicKey: string; endpoint: string; address: string };
  members: Array<{ name: string; device: string; publicKey: string; address: string; nat: string }>;
  /** The registry's mesh map, forwarded to the host: http://127.0.0.1:<port>/map. */
  map?: string;
  /** With several registries: each one (host, id, hub key, endpoint, tunnel address), and where NATS and Redis run. */
  registries?: Array<{ host: string; id: string; device: string; publicKey: string; endpoint: string; address: string }>;
  nats?: string;
  redis?: string;
  logs: string;
  startedAt: string;
}

export class Mesh {
  readonly dir: string;
  readonly logDir: string;
  readonly members = new Map<string, MeshMember>();
  /** Members removed at the registry (removeMember), whose processes may still run. */
  readonly removed = new Map<string, MeshMember>();
  /** Registry 1 (host "registry"). */
  registry!: MeshRegistry;
  /** Every registry host, by lab host name (one unless the lab has several). */
  readonly registries = new Map<string, MeshRegistry>();
  /** nats-server per host (several registries: one per registry host and the store host). */
  private readonly natsNodes = new Map<string, LabProcess>();
  /** Every pre-auth token this mesh made (one single-use token per member), for the secret scans. */
  readonly tokens: string[] = [];
  /** The members' path decisions and NAT reports, as a watcher in the registry's namespace receives them. */
  paths!: PathWatch;
  /** NATS runs with the mesh's authentication (`registry init --nats-auth`): its files, in the registry's state directory. */
  natsAuth!: InitResult;
  /** The password of the registry's Redis ACL user (deploy/security/redis-users.acl). */
  redisPassword = '';
  /** The registry's mesh map on the host (see map-forward.ts). */
  mapUrl = '';
  private readonly services: LabProcess[] = [];
  private readonly opts: MeshOptions;

  private constructor(
    readonly lab: Lab,
    opts: MeshOptions,
  ) {
    this.opts = opts;
    this.dir = meshDir(labStateDir(lab), lab.id);
    this.logDir = join(this.dir, 'logs');
  }

  /** NATS, Redis, the registry role, then every member (in parallel), each with a single-use token of its own. */
  static async start(lab: Lab, opts: MeshOptions = {}): Promise<Mesh> {
    const missing = missingMeshTools();
    if (missing.length > 0) throw new LabError(`cannot run the mesh:\n  ${missing.join('\n  ')}`);
    sweepMeshDirs(labStateDir(lab));
    const mesh = new Mesh(lab, opts);
    mkdirSync(mesh.logDir, { recursive: true, mode: 0o700 });
    await mesh.startServices();
    await Promise.all([mesh.startRegistry(), mesh.startPathWatch(), mesh.startMapForward()]);
    // After the first: each records itself in the store of record.
    for (const h of mesh.registryHosts().slice(1)) if (!opts.registries || opts.registries.includes(h)) await mesh.startRegistry(h);
    const names = opts.members ?? lab.hosts.filter((h) => h.role === 'member').map((h) => h.name);
    await Promise.all(names.map((n) => mesh.startMember(n)));
    mesh.writeRecord();
    return mesh;
  }

  /** The lab's registry hosts, in order ("registry", "registry2", …). */
  registryHosts(): string[] {
    return this.lab.hosts.filter((h) => h.role === 'registry').sort((a, b) => (a.index ?? 1) - (b.index ?? 1)).map((h) => h.name);
  }

  /** True when the lab runs several registries (a NATS cluster, Redis on the store host). */
  get ha(): boolean {
    return this.registryHosts().length > 1;
  }

  /** Every NATS node's URL by its address (reachable from any lab host). */
  natsClusterUrls(): string {
    return [...this.registryHosts(), STORE].map((h) => `nats://${this.lab.addressOf(h)}:${MESH.nats}`).join(',');
  }

  /** NATS URLs as seen from `host` (its own server first, where it has one). */
  natsUrls(host = 'registry'): string {
    if (!this.ha) return `nats://127.0.0.1:${MESH.nats}`;
    const nodes = [...this.registryHosts(), STORE];
    const own = nodes.includes(host) ? [`nats://127.0.0.1:${MESH.nats}`] : [];
    return [...own, ...nodes.filter((h) => h !== host).map((h) => `nats://${this.lab.addressOf(h)}:${MESH.nats}`)].join(',');
  }

  get timeoutMs(): number {
    return this.opts.startTimeoutMs ?? 30_000;
  }

  /**
   * nats-server on 0.0.0.0:4222 with JetStream (the registry's store of record, kept in the mesh
   * directory so a restarted nats-server has it) and redis-server on 127.0.0.1:6379 (no
   * persistence: a restart is an empty Redis), inside the registry's namespace.
   */
  private async startServices(): Promise<void> {
    const natsDir = join(this.dir, 'nats');
    const redisDir = join(this.dir, 'redis');
    mkdirSync(natsDir, { recursive: true, mode: 0o700 });
    mkdirSync(redisDir, { recursive: true, mode: 0o700 });
    // As shipped: NATS with the mesh's authority (what `registry init --nats-auth` makes), Redis with the ACL user.
    this.natsAuth = initAuthority(join(this.registryStateDir, AUTH_DIR), MESH.name);
    this.redisPassword = randomBytes(24).toString('hex');
    writeFileSync(join(redisDir, 'users.acl'), readFileSync(REDIS_ACL, 'utf8').replace('>CHANGE-ME', `>${this.redisPassword}`), { mode: 0o600 });
    if (this.ha) return this.startClusterServices(natsDir, redisDir);
    const nats = this.spawnLogged('registry', 'nats-server', findExecutable('nats-server')!, [
      '-c', this.natsAuth.serverConfig, '-a', '0.0.0.0', '-p', String(MESH.nats), '-P', join(natsDir, 'nats-server.pid'), '-js', '-sd', join(natsDir, 'jetstream'),
    ]);
    const redis = this.spawnLogged('registry', 'redis-server', findExecutable('redis-server')!, [
      '--bind', '127.0.0.1', '--port', String(MESH.redis), '--save', '', '--appendonly', 'no', '--dir', redisDir, '--daemonize', 'no', '--aclfile', join(redisDir, 'users.acl'),
    ]);
    this.services.push(nats.process, redis.process);
    this.natsNodes.set('registry', nats.process);
    await Promise.all([
      nats.log.waitFor(/Server is ready/, { process: nats.process, timeoutMs: this.timeoutMs }),
      redis.log.waitFor(/Ready to accept connections/, { process: redis.process, timeoutMs: this.timeoutMs }),
    ]);
  }

  /**
   * Several registries: a three-node NATS cluster with JetStream (one node on each registry host,
   * the third on the store host; the store of record is replicated on all three, so it survives
   * losing one host) and Redis on the store host, reached by every registry over the "internet"
   * with the ACL user's password.
   */
  private async startClusterServices(natsDir: string, redisDir: string): Promise<void> {
    const redis = this.spawnLogged(STORE, 'redis-server', findExecutable('redis-server')!, [
      '--bind', ADDR.store, '--port', String(MESH.redis), '--save', '', '--appendonly', 'no', '--dir', redisDir, '--daemonize', 'no', '--aclfile', join(redisDir, 'users.acl'),
    ]);
    this.services.push(redis.process);
    const nodes = [...this.registryHosts(), STORE];
    const started = nodes.map((host) => {
      const dir = join(natsDir, host);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const routes = nodes.filter((h) => h !== host).map((h) => `nats://${this.lab.addressOf(h)}:${MESH.natsCluster}`);
      const n = this.spawnLogged(host, `nats-server-${host}`, findExecutable('nats-server')!, [
        '-c', this.natsAuth.serverConfig, '-a', '0.0.0.0', '-p', String(MESH.nats), '-P', join(dir, 'nats-server.pid'), '-js', '-sd', join(dir, 'jetstream'),
        '-n', `nats-${host}`, '--cluster_name', `wgmesh-lab-${this.lab.id}`, '--cluster', `nats://${this.lab.addressOf(host)}:${MESH.natsCluster}`, '--routes', routes.join(','),
      ]);
      this.services.push(n.process);
      this.natsNodes.set(host, n.process);
      return n;
    });
    await Promise.all([
      ...started.map((n) => n.log.waitFor(/Server is ready/, { process: n.process, timeoutMs: this.timeoutMs })),
      redis.log.waitFor(/Ready to accept connections/, { process: redis.process, timeoutMs: this.timeoutMs }),
    ]);
    // JetStream answers once the cluster elected its metadata leader.
    await Promise.any(started.map((n) => n.log.waitFor(/JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/, { process: n.process, timeoutMs: this.timeoutMs })));
  }

  /**
   * `wgmesh registry up` in a registry host's namespace (default: the first); resolves once it
   * logged "registry up". With several registries each has its own state directory (hub key; a
   * copy of the mesh's NATS authority), id, tunnel address and public endpoint, the hub's
   * keepalive at 1 s (members see a dead registry within seconds), and the store of record
   * replicated on the three NATS nodes.
   */
  async startRegistry(host = 'registry'): Promise<void> {
    const k = this.lab.host(host).index ?? 1;
    const { id, address } = registryIdentity(k);
    const device = this.lab.deviceName(host);
    const stateDir = this.registryStateDirOf(host);
    const endpoint = `${this.lab.addressOf(host)}:${MESH.port}`;
    if (host !== 'registry' && !existsSync(join(stateDir, AUTH_DIR))) cpSync(join(this.registryStateDir, AUTH_DIR), join(stateDir, AUTH_DIR), { recursive: true });
    const ha = this.ha ? ['--registry-node', id, '--address', address, '--hub-keepalive', '1', '--kv-replicas', '3'] : [];
    const args = [
      'registry', 'up', '--create', ...this.dataplaneArgs(this.lab.host(host), device), '--zone', MESH.zone, // DNS-SD on the tunnel address: registry up's default
      '--mesh-cidr', MESH.cidr, '--public-endpoint', endpoint, '--listen-port', String(MESH.port), ...(k === 1 ? ['--self-endpoint', endpoint] : []),
      '--stun-alternate', `${ADDR.registryAltN(k)}:3479`, ...ha,
      '--state-dir', stateDir, '--mesh', MESH.name, '--nats', this.natsUrls(host),
      // DNS-SD in the registry's own process: a lab mesh is small, and on a busy machine forked
      // DNS workers (registry up's default on several cores) only slow the start down.
      '--dns-workers', '1',
      '--log-level', this.opts.registryLogLevel ?? this.opts.logLevel ?? 'info', ...(this.opts.registryArgs ?? []),
    ];
    const known = this.registries.get(host);
    const log = known?.log ?? new LogFile(join(this.logDir, host === 'registry' ? 'registry.log' : `${host}.log`), `wgmesh registry up (${host})`);
    log.poll();
    const from = log.length;
    const { process: proc } = this.spawnLogged(host, host, process.execPath, [WGMESH, ...args], { ...this.extraEnv(host), ...this.registryEnv(host) }, log);
    const up = await log.waitFor(logMessage('registry up'), { from, process: proc, timeoutMs: this.timeoutMs });
    const publicKey = String(up.json?.publicKey ?? '');
    if (!publicKey) throw new LabError(`wgmesh registry up logged no public key: ${up.line}`);
    const r: MeshRegistry = { host, id, device, stateDir, log, process: proc, publicKey, endpoint, address };
    this.registries.set(host, r);
    if (host === 'registry') this.registry = r;
  }

  /**
   * Several registries: kills a registry host entirely, as a power cut does: every process in its
   * namespace (the registry role, its hub's wireguard-go, its NATS node, whatever else runs
   * there) with SIGKILL, so its hub device is gone too. Resolves with the PIDs it killed.
   */
  async killRegistryHost(host: string): Promise<number[]> {
    const r = this.registries.get(host);
    if (!r) throw new LabError(`${host} is not a registry host of this mesh (${[...this.registries.keys()].join(', ')})`);
    const { stdout } = await run('ip', ['netns', 'pids', this.lab.namespaceOf(host)]);
    const pids = stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    for (const deadline = Date.now() + 5000; ; ) {
      const left = (await run('ip', ['netns', 'pids', this.lab.namespaceOf(host)])).stdout.trim();
      if (left === '') break;
      if (Date.now() > deadline) throw new LabError(`processes of ${host} did not die: ${left}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    r.process = null;
    return pids;
  }

  /** Brings a killed registry host back: its NATS node (same store directory), then `registry up` (its hub created again with its key). */
  async restartRegistryHost(host: string): Promise<void> {
    const old = this.natsNodes.get(host);
    if (old) {
      const log = new LogFile(join(this.logDir, `nats-server-${host}.log`), `nats-server (${host})`);
      log.poll();
      const from = log.length;
      const proc = this.lab.spawn(host, old.command, [...old.args], { LAB_LOG_FILE: log.path }, { cwd: WORKSPACE });
      this.services[this.services.indexOf(old)] = proc;
      this.natsNodes.set(host, proc);
      await log.waitFor(/Server is ready/, { from, process: proc, timeoutMs: this.timeoutMs });
    }
    await this.startRegistry(host);
  }

  /**
   * Kills the hub's wireguard-go (SIGKILL, as a crash or a reboot does): the hub device is gone.
   * `registry up --create` makes it again. Resolves with its PID.
   */
  async killHubDevice(): Promise<number> {
    const record = readDaemonRecord(this.registry.device, DAEMON_STATE_DIR);
    if (!record || !isDaemonRunning(record)) throw new LabError(`no running wireguard-go for the hub device ${this.registry.device}`);
    process.kill(record.pid, 'SIGKILL');
    for (const deadline = Date.now() + 5000; isDaemonRunning(record); ) {
      if (Date.now() > deadline) throw new LabError(`wireguard-go ${record.pid} of ${this.registry.device} did not die`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return record.pid;
  }

  /** Stops the registry role process (SIGTERM): its device, NATS and Redis stay. Resolves with its exit. */
  async stopRegistry(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.registry.process;
    if (!p) return;
    const exit = await p.stop(sig, 10_000);
    this.registry.process = null;
    if (sig === 'SIGTERM' && exit.code !== 0) throw new LabError(`wgmesh registry up exited with ${JSON.stringify(exit)} on SIGTERM; log ends:\n${this.registry.log.tail()}`);
  }

  /**
   * A single-use pre-auth token for one member (valid 15 minutes), made inside the registry's
   * namespace, as the operator hands one to each new node.
   */
  async createToken(label: string, opts: { reusable?: boolean; host?: string } = {}): Promise<string> {
    const host = opts.host ?? 'registry';
    const { stdout } = await this.wgmesh(host, [
      'registry', 'token', 'create', '--ttl', '15m', '--name', `lab-${this.lab.id}-${label}`, '--json', '--mesh', MESH.name, '--state-dir', this.registryStateDirOf(host), ...(opts.reusable ? ['--reusable'] : []),
    ]);
    const token = (JSON.parse(stdout) as { token?: unknown }).token;
    if (typeof token !== 'string' || token === '') throw new LabError(`wgmesh registry token create printed no token: ${stdout.slice(0, 200)}`);
    this.tokens.push(token);
    return token;
  }

  /** A member's single-use token, made now at a registry host (default the first) and left in its token file for its first `member up`. */
  async prepareToken(name: string, opts: { via?: string } = {}): Promise<void> {
    const file = this.tokenFile(name);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${await this.createToken(name, { host: opts.via })}\n`, { mode: 0o600 });
  }

  /** Where a member's token waits for its first `member up` (which reads it, and removes it once enrolled). */
  tokenFile(name: string): string {
    return join(this.dir, 'tokens', name);
  }

  /**
   * `wgmesh member up` in the member's namespace (enrols on the first start); resolves once it
   * logged "member up". Started again after stopMember, it reuses its key and enrolment.
   */
  async startMember(name: string, opts: { via?: string } = {}): Promise<MeshMember> {
    const host = this.lab.host(name);
    if (host.role !== 'member') throw new LabError(`${name} is not a member of lab ${this.lab.id}`);
    const device = this.lab.deviceName(name);
    const stateDir = join(this.dir, 'members', name);
    const args = [
      'member', 'up', '--create', ...this.dataplaneArgs(host, device), '--registry-key', this.registryOf(opts.via).publicKey, '--registry-endpoint', this.registryOf(opts.via).endpoint,
      '--mesh-cidr', MESH.cidr, '--name', name, '--zone', MESH.zone, ...(this.ha ? [] : ['--dns-server', `${MESH.registryAddress}:53`]), // several registries: each one's resolver in turn
      '--state-dir', stateDir, '--mesh', MESH.name, '--log-level', this.opts.logLevel ?? 'info', ...(this.opts.memberArgs ?? []),
    ];
    // Not enrolled yet: a single-use token of its own, in a file (0600) that member up reads once and
    // removes when enrolled; never in its command line or environment (/proc/<pid>/cmdline, environ).
    if (!readEnrollment(stateDir)) {
      const file = this.tokenFile(name);
      if (!existsSync(file)) await this.prepareToken(name, opts);
      args.push('--token-file', file);
    }
    const known = this.members.get(name);
    const log = known?.log ?? new LogFile(join(this.logDir, `member-${name}.log`), `wgmesh member up (${name})`);
    log.poll();
    const from = log.length;
    const { process: proc } = this.spawnLogged(name, `member-${name}`, process.execPath, [WGMESH, ...args], { ...this.natProbeEnv(), ...this.extraEnv(name) }, log);
    await log.waitFor(logMessage('member up'), { from, process: proc, timeoutMs: this.timeoutMs });
    const enrollment = readEnrollment(stateDir);
    if (!enrollment) throw new LabError(`member ${name} is up but has no enrollment.json in ${stateDir}`);
    const enrolled = log.messages('enrolled').at(-1);
    const member: MeshMember = {
      name,
      host,
      device,
      stateDir,
      log,
      process: proc,
      publicKey: enrollment.publicKey,
      address: enrollment.address.replace(/\/\d+$/, ''),
      enrolledAt: enrolled?.at ?? Date.parse(enrollment.enrolledAt),
    };
    this.members.set(name, member);
    return member;
  }

  /** A registry host's registry (default the first). */
  registryOf(host = 'registry'): MeshRegistry {
    const r = this.registries.get(host);
    if (!r) throw new LabError(`${host} is not a registry host of this mesh (${[...this.registries.keys()].join(', ')})`);
    return r;
  }

  /** Stops a member's wgmesh process (SIGTERM). Its device stays as it is (fail-static). */
  async stopMember(name: string, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const m = this.member(name);
    await m.process?.stop(sig, 10_000);
    m.process = null;
  }

  /**
   * Kills the mesh's NATS or Redis in the registry's namespace (SIGKILL unless told otherwise).
   * Redis runs without persistence, so it comes back empty. startService runs it again.
   */
  async stopService(which: 'nats-server' | 'redis-server', sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.service(which).stop(sig, 3000);
  }

  /**
   * Starts NATS or Redis again, with the command it had, after stopService. Resolves with when it
   * was ready to accept clients (ms since the epoch, from its log).
   */
  async startService(which: 'nats-server' | 'redis-server'): Promise<number> {
    const old = this.service(which);
    if (old.running) throw new LabError(`${which} is still running (pid ${old.pid})`);
    const log = new LogFile(join(this.logDir, `${which}.log`), which);
    log.poll();
    const from = log.length;
    const proc = this.lab.spawn('registry', old.command, [...old.args], { LAB_LOG_FILE: log.path }, { cwd: WORKSPACE });
    this.services[this.services.indexOf(old)] = proc;
    await log.waitFor(which === 'nats-server' ? /Server is ready/ : /Ready to accept connections/, { from, process: proc, timeoutMs: this.timeoutMs });
    return Date.now();
  }

  /** The running (or last) NATS or Redis process (spawnLogged's `sh -c 'exec "$@"…' sh <command> …`). */
  private service(which: 'nats-server' | 'redis-server'): LabProcess {
    const command = findExecutable(which);
    const p = this.services.find((s) => s.args[3] === command);
    if (!p) throw new LabError(`the mesh has no ${which}`);
    return p;
  }

  /**
   * `wgmesh member remove <name>` at the registry (its hub peer, address and enrolment go); the
   * member is then no longer one of `members` (its process, still running, is in `removed` until
   * stopped or mesh.down()). Resolves with the registry's reply.
   */
  async removeMember(name: string): Promise<{ publicKey: string; name: string | null; address: string | null }> {
    const m = this.member(name);
    const { stdout } = await this.wgmesh('registry', ['member', 'remove', name, '--json', '--mesh', MESH.name, '--nats', `nats://127.0.0.1:${MESH.nats}`]);
    this.members.delete(name);
    this.removed.set(name, m);
    this.writeRecord();
    return JSON.parse(stdout) as { publicKey: string; name: string | null; address: string | null };
  }

  /** The running members' names, in the lab's order. */
  memberNames(): string[] {
    return this.lab.hosts.filter((h) => this.members.has(h.name)).map((h) => h.name);
  }

  member(name: string): MeshMember {
    const m = this.members.get(name);
    if (!m) throw new LabError(`${name} is not a running mesh member (members: ${[...this.members.keys()].join(', ')})`);
    return m;
  }

  /** Runs a `wgmesh` command to its end inside a host's namespace. */
  wgmesh(host: string, args: string[], timeoutMs = 30_000): Promise<ExecResult> {
    // On the registry host, commands reach NATS and Redis as the registry does (credentials in the environment, not on a command line).
    return this.lab.exec(host, process.execPath, [WGMESH, ...args], { timeoutMs, env: toolEnv(this.registries.has(host) || host === 'registry' ? this.registryEnv(host) : {}) });
  }

  /** The registry's state directory: hub key, NATS authority (nats/). */
  get registryStateDir(): string {
    return join(this.dir, 'registry');
  }

  /** A registry host's state directory (its own hub key; the mesh's NATS authority). */
  registryStateDirOf(host: string): string {
    return join(this.dir, host);
  }

  /** Where Redis runs: the registry's loopback, or with several registries the store host. */
  get redisHost(): string {
    return this.ha ? `${ADDR.store}:${MESH.redis}` : `127.0.0.1:${MESH.redis}`;
  }

  /** Redis URL of the registry's ACL user (with its password: never on a command line). */
  get redisUrl(): string {
    return `redis://wgmesh-registry:${this.redisPassword}@${this.redisHost}`;
  }

  /** How wgmesh processes on a registry host reach NATS and Redis (what `wgmesh lab exec <id> registry` sets too). */
  registryEnv(host = 'registry'): NodeJS.ProcessEnv {
    return registryClientEnv(this.dir, this.redisPassword, { stateDir: this.registryStateDirOf(host), nats: this.natsUrls(host), redisHost: this.redisHost });
  }

  /**
   * A device's peers: `wg show <dev> dump` in the host's namespace, or for a VPP node VPP's own
   * view through the vpp driver (no byte counters; handshakes from the ESTABLISHED flag).
   */
  async devicePeers(host: string): Promise<Map<string, PeerState>> {
    if (this.lab.host(host).dataplane === 'vpp') return new Map((await this.vppReader(host).read()).peers.map((p) => [p.publicKey, p]));
    const device = this.registries.get(host)?.device ?? this.member(host).device;
    const { stdout } = await this.lab.exec(host, 'wg', ['show', device, 'dump']);
    return new Map(toDeviceState(parseWgDump(stdout)).peers.map((p) => [p.publicKey, p]));
  }

  /** `wgmesh … up` options for the host's dataplane: wireguard-go (uapi) by name, or VPP's wg0 with the host interface of that name. */
  private dataplaneArgs(host: Host, device: string): string[] {
    if (host.dataplane !== 'vpp') return ['--device', device, '--driver', 'uapi'];
    const node = this.vppNodeOf(host.name);
    return ['--device', VPP_DEVICE, '--driver', 'vpp', '--vpp-socket', node.apiSocket, '--vpp-api-dir', node.apiDir, '--vpp-src-address', host.address, '--vpp-host-interface', device];
  }

  private vppInstall: VppInstall | undefined;
  private readonly vppReaders = new Map<string, VppDriver>();

  /** The host's VPP (started by the lab: see vpp-node.ts). */
  vppNodeOf(host: string): VppNode {
    this.vppInstall ??= findVpp();
    return vppNode(labStateDir(this.lab), this.lab.id, host, this.vppInstall.apiDir);
  }

  /** A reader of the host's VPP interface (the lab's own API connection; it changes nothing). */
  private vppReader(host: string): VppDriver {
    let d = this.vppReaders.get(host);
    if (!d) {
      const node = this.vppNodeOf(host);
      d = new VppDriver(VPP_DEVICE, { vppSocket: node.apiSocket, vppApiDir: node.apiDir });
      this.vppReaders.set(host, d);
    }
    return d;
  }

  /** The pairs that can be direct in this lab (not those with an edm member, unless the other is public). */
  expectedPairs(names = this.memberNames()): Array<[string, string]> {
    return pairsOf(names).filter(([a, b]) => expectDirect(this.member(a).host.nat!, this.member(b).host.nat!));
  }

  /**
   * Waits until every expected pair has a direct tunnel: each side's device has a peer entry for
   * the other with a handshake, and a ping between their tunnel addresses is answered. Measures
   * from the last member's enrolment. Rejects after `timeoutMs` naming the pairs still missing.
   */
  async waitForMesh(timeoutMs = 30_000, pairs = this.expectedPairs()): Promise<Convergence> {
    const lastEnrolledAt = Math.max(...[...this.members.values()].map((m) => m.enrolledAt));
    if (pairs.length === 0) return { convergeMs: 0, handshakesMs: 0, lastEnrolledAt, pairs };
    const deadline = Date.now() + timeoutMs;
    const pinged = new Set<string>();
    let handshakesAt: number | undefined;
    let missing: string[] = [];
    for (;;) {
      const dumps = new Map(await Promise.all([...new Set(pairs.flat())].map(async (n) => [n, await this.devicePeers(n)] as const)));
      const shaken = pairs.filter(([a, b]) => (dumps.get(a)!.get(this.member(b).publicKey)?.latestHandshake ?? 0) > 0 && (dumps.get(b)!.get(this.member(a).publicKey)?.latestHandshake ?? 0) > 0);
      if (shaken.length === pairs.length) handshakesAt ??= Date.now();
      await Promise.all(
        shaken
          .filter(([a, b]) => !pinged.has(`${a}-${b}`))
          .map(async ([a, b]) => {
            if ((await this.lab.ping(a, this.member(b).address, { count: 1, timeoutMs: 300 })).ok) pinged.add(`${a}-${b}`);
          }),
      );
      missing = pairs.filter(([a, b]) => !pinged.has(`${a}-${b}`)).map(([a, b]) => `${a}-${b}${shaken.some(([x, y]) => x === a && y === b) ? ' (handshake, no ping reply)' : ''}`);
      if (missing.length === 0) {
        const now = Date.now();
        return { convergeMs: now - lastEnrolledAt, handshakesMs: (handshakesAt ?? now) - lastEnrolledAt, lastEnrolledAt, pairs };
      }
      if (Date.now() > deadline) throw new LabError(`the mesh did not converge within ${timeoutMs} ms: no direct tunnel for ${missing.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Every pair of members now: the path and reason the members' nat-probe decided, the RTT of a
   * ping between their tunnel addresses, and whether the tunnel agrees (see mesh-paths.ts).
   */
  pairTable(names = this.memberNames()): Promise<PairRow[]> {
    return meshPairTable(this, names);
  }

  /** Waits until every pair's decision is settled at both ends and the tunnel agrees with it (see mesh-paths.ts). */
  waitForPaths(opts: WaitForPathsOptions = {}): Promise<PathsConvergence> {
    return waitForPaths(this, opts);
  }

  /** The watcher of the members' path decisions, in the registry's namespace (NATS is up). */
  private async startPathWatch(): Promise<void> {
    const nodes = this.lab.hosts.filter((h) => h.role === 'member').map((h) => h.name);
    // Several registries: on the store host, which the tests do not kill.
    const host = this.ha ? STORE : 'registry';
    this.paths = await PathWatch.start(this.lab, { host, logDir: this.logDir, nats: this.natsUrls(host), mesh: MESH.name, nodes, creds: this.natsAuth?.registryCreds, timeoutMs: this.timeoutMs });
    this.services.push(this.paths.process);
  }

  /** The registry's mesh map, forwarded to 127.0.0.1:<free port> on the host. */
  private async startMapForward(): Promise<void> {
    const forward = await startMapForward(this.lab, { logDir: this.logDir, workspace: WORKSPACE, timeoutMs: this.timeoutMs });
    this.services.push(forward.process);
    this.mapUrl = forward.url;
  }

  /** nat-probe's timings for members, in its environment variables (flags in memberArgs still win). */
  private natProbeEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    if (this.opts.natIntervalS !== undefined) env.WGMESH_NAT_INTERVAL_S = String(this.opts.natIntervalS);
    if (this.opts.pathDeadlineS !== undefined) env.WGMESH_PATH_DEADLINE_S = String(this.opts.pathDeadlineS);
    return env;
  }

  /** What `lab status` shows, written to <id>.mesh/mesh.json. */
  record(): MeshRecord {
    return {
      lab: this.lab.id,
      mesh: MESH.name,
      zone: MESH.zone,
      cidr: MESH.cidr,
      registry: { device: this.registry.device, publicKey: this.registry.publicKey, endpoint: this.registry.endpoint, address: MESH.registryAddress },
      members: this.memberNames().map((n) => this.member(n)).map((m) => ({ name: m.name, device: m.device, publicKey: m.publicKey, address: m.address, nat: m.host.nat! })),
      map: this.mapUrl,
      ...(this.ha
        ? {
            registries: [...this.registries.values()].map((r) => ({ host: r.host, id: r.id, device: r.device, publicKey: r.publicKey, endpoint: r.endpoint, address: r.address })),
            nats: this.natsClusterUrls(),
            redis: this.redisHost,
          }
        : {}),
      logs: this.logDir,
      startedAt: new Date().toISOString(),
    };
  }

  private writeRecord(): void {
    writeFileSync(join(this.dir, 'mesh.json'), `${JSON.stringify(this.record(), null, 2)}\n`, { mode: 0o644 });
  }

  /**
   * Stops every mesh process (members, registry, then NATS and Redis; SIGTERM) and removes the
   * mesh's files. The wireguard-go daemons the members and the registry started stay until the
   * lab goes down (lab.down() ends every process in its namespaces).
   */
  async down(): Promise<void> {
    await Promise.all([...this.vppReaders.values()].map((d) => d.close().catch(() => undefined)));
    this.vppReaders.clear();
    await Promise.all([...this.members.values(), ...this.removed.values()].map((m) => m.process?.stop('SIGTERM', 5000)));
    await Promise.all([...this.registries.values()].map((r) => r.process?.stop('SIGTERM', 5000)));
    await Promise.all(this.services.map((p) => p.stop('SIGTERM', 3000)));
    await removeStaleLocks(DAEMON_STATE_DIR); // of members killed before they released their device
    if (process.env.WGMESH_LAB_KEEP_LOGS) this.keepLogs(join(process.env.WGMESH_LAB_KEEP_LOGS, this.lab.id));
    removeMeshFiles(labStateDir(this.lab), this.lab.id);
  }

  /** Copies the mesh's logs and its wireguard-go daemons' logs (LOG_LEVEL=verbose makes them talk) to `dir`. */
  private keepLogs(dir: string): void {
    cpSync(this.logDir, dir, { recursive: true });
    const prefix = `wl${this.lab.id}-`;
    if (!existsSync(DAEMON_STATE_DIR)) return;
    for (const f of readdirSync(DAEMON_STATE_DIR)) {
      if (f.startsWith(prefix) && f.endsWith('.log')) cpSync(join(DAEMON_STATE_DIR, f), join(dir, `wireguard-go-${f}`));
    }
  }

  private extraEnv(host: string): NodeJS.ProcessEnv {
    const env = this.opts.env;
    return typeof env === 'function' ? env(host) : { ...env };
  }

  /** `sh -c 'exec cmd >>log 2>&1'`: the process's PID is the command's, its output goes to the log. */
  private spawnLogged(host: string, name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}, log?: LogFile): { process: LabProcess; log: LogFile } {
    const path = log?.path ?? join(this.logDir, `${name}.log`);
    const proc = this.lab.spawn(host, 'sh', ['-c', 'exec "$@" >>"$LAB_LOG_FILE" 2>&1', 'sh', command, ...args], { ...env, LAB_LOG_FILE: path }, { cwd: WORKSPACE });
    return { process: proc, log: log ?? new LogFile(path, name) };
  }
}

/** Starts the mesh in a lab that is up (see Mesh.start). */
export function startMesh(lab: Lab, opts: MeshOptions = {}): Promise<Mesh> {
  return Mesh.start(lab, opts);
}

/** Tools the mesh needs besides the lab's, one sentence each. */
export function missingMeshTools(): string[] {
  const tools = [
    { tool: 'nats-server', pkg: 'nats-server', why: "the mesh's NATS in the registry namespace" },
    { tool: 'redis-server', pkg: 'redis-server', why: "the registry's Redis" },
  ];
  return tools.filter((t) => findExecutable(t.tool) === null).map((t) => `${t.tool} is missing (it runs ${t.why}): apt-get install ${t.pkg}`);
}

/** <state dir>/<id>.mesh: the mesh's logs, NATS/Redis data, key and enrolment state. */
export function meshDir(stateDir: string, id: string): string {
  return join(stateDir, `${id}.mesh`);
}

export function labStateDir(lab: Lab): string {
  return dirname(lab.status().stateFile);
}

/**
 * Removes what a lab's mesh left on disk: its directory, and wireguard-go's records in
 * /var/run/wgmesh for devices named with the lab's prefix (wl<id>-, ours and nobody else's).
 */
export function removeMeshFiles(stateDir: string, id: string, options: { keepDir?: boolean } = {}): void {
  if (!options.keepDir) rmSync(meshDir(stateDir, id), { recursive: true, force: true });
  if (!existsSync(DAEMON_STATE_DIR)) return;
  const prefix = `wl${id}-`;
  for (const f of readdirSync(DAEMON_STATE_DIR)) {
    if (f.startsWith(prefix) && /\.(json|log)$/.test(f)) rmSync(join(DAEMON_STATE_DIR, f), { force: true });
  }
}

/** Removes mesh directories of labs that have no state file any more (torn down, or pruned). */
export function sweepMeshDirs(stateDir: string): string[] {
  if (!existsSync(stateDir)) return [];
  const store = new StateStore(stateDir);
  const gone: string[] = [];
  for (const f of readdirSync(stateDir)) {
    const id = /^([a-z0-9]{1,6})\.mesh$/.exec(f)?.[1];
    if (id && !store.read(id)) {
      removeMeshFiles(stateDir, id);
      gone.push(id);
    }
  }
  return gone;
}

/** The mesh record of lab `id`, if it runs a mesh. */
export function readMeshRecord(stateDir: string, id: string): MeshRecord | undefined {
  const path = join(meshDir(stateDir, id), 'mesh.json');
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as MeshRecord;
}
