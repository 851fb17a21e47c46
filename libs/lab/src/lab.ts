import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, Logger, parseLevel } from '@wgmesh/log';
import { LabError, LabSpecError } from './errors';
import { ExecOptions, ExecResult, nsExec, nsPing, PingOptions, PingResult, run } from './exec';
import { natRules, NatMapping, parseConntrack, Rebind, rebindPlan } from './nat';
import { checkLabId, checkSpec, devicePrefix, deviceName, Host, LabSpec, namespacePrefix, NAT_MODES, NatMode, newLabId, Plan, planLab, setupBatches, sysctls } from './plan';
import { LabProcess, SpawnOptions } from './process';
import { VppInstall, VppNotFoundError } from '@wgmesh/vpp-live';
import { startVppNodes, vppFor } from './vpp-node';
import { isSameProcess } from './procfs';
import { missingRequirements } from './requirements';
import { LabState, NETNS_DIR, ownerAlive, ProcessRecord, RouterState, selfOwner, StateStore, teardownSync, TeardownReport, WIREGUARD_SOCKET_DIR } from './state';

/**
 * A wgmesh lab: a registry, NAT routers and members in network namespaces joined by an
 * "internet" namespace (see README.md for the drawing and the address plan). The lab builds the
 * network and runs what you ask in it; it does not run wgmesh or configure WireGuard peers.
 *
 * Cleanup: everything created is listed in a state file first. `down()` (or `Lab.down(id)` from
 * another process) ends the lab's processes by PID, deletes its namespaces and its WireGuard
 * sockets. A lab that is not `detach`ed is also torn down when this process exits, on SIGINT or
 * SIGTERM, and by the next `Lab.up` on the machine if this process died without a chance to.
 */
export interface LabOptions {
  /** Where state files live; default $WGMESH_LAB_STATE_DIR or /run/wgmesh-lab. */
  stateDir?: string;
  /** Keep the lab after this process exits (`wgmesh lab up`); `Lab.down(id)` ends it. */
  detach?: boolean;
  log?: Logger;
  /** VPP nodes' main loop sleep (µs per turn; null: VPP's own epoll loop, for throughput); default 1000 (see vpp-node.ts). */
  vppPollSleepUsec?: number | null;
}

export interface WireguardGoOptions {
  /** address/prefix to give the device, which is then brought up (e.g. "10.99.0.2/16"). */
  address?: string;
  /** Extra environment for wireguard-go (e.g. LOG_LEVEL=debug). */
  env?: NodeJS.ProcessEnv;
  /** Wait this long for the UAPI socket; default 5 s. */
  timeoutMs?: number;
}

export interface WireguardGo {
  host: string;
  ns: string;
  dev: string;
  /** /var/run/wireguard/<dev>.sock */
  socket: string;
  process: LabProcess;
  stop(): Promise<void>;
}

export interface HostStatus extends Host {
  present: boolean;
  /** Routers: the NAT mode now (setNatMode may have changed it). */
  mode?: NatMode;
}

export interface LabStatus {
  id: string;
  createdAt: string;
  stateFile: string;
  detached: boolean;
  owner: { pid: number; alive: boolean };
  hosts: HostStatus[];
  processes: Array<ProcessRecord & { running: boolean }>;
  devices: string[];
}

/** Labs of this process to tear down at exit or on a signal, with their blocking teardown. */
const live = new Map<Lab, () => void>();

export class Lab {
  readonly id: string;
  readonly plan: Plan;
  private readonly store: StateStore;
  private readonly log: Logger;
  private readonly byName: Map<string, Host>;
  private readonly processes = new Set<LabProcess>();
  private closed = false;
  /** While Lab.up runs: a signal handler waits for it before tearing down (or `ip` would recreate). */
  private settingUp: Promise<void> | undefined;

  private constructor(state: LabState, store: StateStore, log: Logger) {
    this.id = state.id;
    this.plan = planLab(state.spec, state.id);
    this.store = store;
    this.log = log;
    this.byName = new Map(this.plan.hosts.map((h) => [h.name, h]));
  }

  /**
   * Builds the lab. Fails with a message naming what is missing when the machine cannot run it
   * (not root, iproute2/iptables/conntrack/wireguard-go/… missing). Tears down labs whose owner
   * died first. On any failure, undoes what it created before rethrowing.
   */
  static async up(spec: LabSpec, options: LabOptions = {}): Promise<Lab> {
    checkSpec(spec);
    const problems = missingRequirements();
    if (problems.length > 0) throw new LabError(`cannot run the lab on this machine:\n  ${problems.join('\n  ')}`);
    const store = new StateStore(options.stateDir);
    const log = options.log ?? defaultLogger();
    Lab.prune({ stateDir: store.dir, log });

    const id = spec.id ?? newLabId();
    checkLabId(id);
    if (store.read(id)) throw new LabError(`lab ${id} exists already (see ${store.path(id)}; "wgmesh lab down ${id}" ends it)`);
    const leftovers = existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(namespacePrefix(id))) : [];
    if (leftovers.length > 0) throw new LabError(`namespaces of a lab ${id} exist without a state file: ${leftovers.join(', ')} ("wgmesh lab down --all --orphans" removes them)`);

    const started = Date.now();
    const plan = planLab(spec, id);
    let vpp: VppInstall | undefined;
    try {
      vpp = vppFor(plan);
    } catch (err) {
      if (err instanceof VppNotFoundError) throw new LabError(`cannot run VPP nodes on this machine: ${err.message}`);
      throw err;
    }
    const routers: Record<string, RouterState> = {};
    for (const h of plan.hosts) if (h.role === 'router') routers[h.name] = { mode: h.nat as NatMode, pins: [] };
    const state: LabState = {
      version: 1,
      id,
      spec: { members: spec.members.map((m) => ({ name: m.name, nat: m.nat, ...(m.dataplane ? { dataplane: m.dataplane } : {}) })), id, ...(spec.registryDataplane ? { registryDataplane: spec.registryDataplane } : {}), ...((spec.registries ?? 1) > 1 ? { registries: spec.registries } : {}) },
      createdAt: new Date().toISOString(),
      owner: selfOwner(),
      detached: options.detach ?? false,
      namespaces: plan.hosts.map((h) => h.ns),
      devices: [],
      processes: [],
      routers,
    };
    store.write(state); // before anything exists, so a crash from here on can be cleaned up
    const lab = new Lab(state, store, log);
    if (!state.detached) lab.register();
    lab.settingUp = lab.build(state, vpp, options.vppPollSleepUsec);
    try {
      await lab.settingUp;
    } catch (err) {
      log.error('lab up failed, tearing down', { lab: id, error: err as Error });
      lab.unregister();
      try {
        teardownSync(store, store.read(id) ?? state);
      } catch (cleanupErr) {
        log.error('teardown after the failed lab up failed too', { lab: id, error: cleanupErr as Error });
      }
      throw err;
    } finally {
      lab.settingUp = undefined;
    }
    log.info('lab up', { lab: id, members: spec.members.length, namespaces: state.namespaces.length, ms: Date.now() - started });
    return lab;
  }

  /** Creates the namespaces, sets sysctls and NAT rules, builds the links phase by phase, then hands VPP nodes their uplinks. */
  private async build(state: LabState, vpp: VppInstall | undefined, vppPollSleepUsec?: number | null): Promise<void> {
    const plan = this.plan;
    await run('ip', ['-batch', '-'], { input: state.namespaces.map((ns) => `netns add ${ns}\n`).join('') });
    await Promise.all([
      ...plan.hosts.filter((h) => sysctls(h).length > 0).map((h) => nsExec(h.ns, 'sysctl', ['-q', '-w', ...sysctls(h)])),
      ...plan.hosts.filter((h) => h.role === 'router').map((h) => this.applyNat(h, state.routers[h.name])),
    ]);
    for (const phase of setupBatches(plan)) {
      await Promise.all(phase.map((b) => run('ip', ['-n', b.ns, '-batch', '-'], { input: b.lines.join('\n') + '\n' })));
    }
    if (vpp) await startVppNodes(this, this.store.dir, vpp, vppPollSleepUsec);
  }

  /** A Lab object for a lab brought up elsewhere (e.g. by `wgmesh lab up`), from its state file. */
  static open(id: string, options: Omit<LabOptions, 'detach'> = {}): Lab {
    const store = new StateStore(options.stateDir);
    const state = store.read(checkLabId(id));
    if (!state) throw new LabError(`no lab ${id} (no ${store.path(id)})`);
    return new Lab(state, store, options.log ?? defaultLogger());
  }

  /** Every lab with a state file. */
  static list(options: { stateDir?: string } = {}): LabStatus[] {
    const store = new StateStore(options.stateDir);
    return store.list().map((s) => statusOf(store, s));
  }

  /** Tears down lab `id` from its state file; undefined when there is no such lab. */
  static async down(id: string, options: { stateDir?: string } = {}): Promise<TeardownReport | undefined> {
    const store = new StateStore(options.stateDir);
    for (const lab of live.keys()) if (lab.id === id && lab.store.dir === store.dir) return lab.down();
    const state = store.read(checkLabId(id));
    return state ? teardownSync(store, state) : undefined;
  }

  /**
   * Tears down every lab with a state file. With `orphans`, also namespaces named like a lab's
   * (wgl-<id>-…) that no state file lists, and UAPI sockets named like a lab's devices (wl<id>-…)
   * of ids with no state file: leftovers of a lab whose state file was lost.
   */
  static async downAll(options: { stateDir?: string; orphans?: boolean } = {}): Promise<Record<string, TeardownReport>> {
    const store = new StateStore(options.stateDir);
    const reports: Record<string, TeardownReport> = {};
    for (const id of store.ids()) {
      const report = await Lab.down(id, { stateDir: store.dir });
      if (report) reports[id] = report;
    }
    if (options.orphans) {
      const known = new Set(store.ids());
      const orphanIds = new Set<string>();
      for (const n of existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : []) {
        const m = /^wgl-([a-z0-9]{1,6})-/.exec(n);
        if (m && !known.has(m[1])) orphanIds.add(m[1]);
      }
      for (const f of existsSync(WIREGUARD_SOCKET_DIR) ? readdirSync(WIREGUARD_SOCKET_DIR) : []) {
        const m = /^wl([a-z0-9]{1,6})-.*\.sock$/.exec(f);
        if (m && !known.has(m[1])) orphanIds.add(m[1]);
      }
      for (const id of orphanIds) {
        const namespaces = existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(namespacePrefix(id))) : [];
        const orphan: LabState = { version: 1, id, spec: { members: [] }, createdAt: '', owner: { pid: 0, startTime: 0 }, detached: true, namespaces, devices: [], processes: [], routers: {} };
        reports[id] = teardownSync(store, orphan);
      }
    }
    return reports;
  }

  /** Tears down labs whose owner process is gone (and that were not detached). Returns their ids. */
  static prune(options: { stateDir?: string; log?: Logger } = {}): string[] {
    const store = new StateStore(options.stateDir);
    const pruned: string[] = [];
    for (const state of store.list()) {
      if (state.detached || ownerAlive(state)) continue;
      (options.log ?? defaultLogger()).warn('tearing down a lab whose owner process is gone', { lab: state.id, owner: state.owner.pid });
      teardownSync(store, state);
      pruned.push(state.id);
    }
    return pruned;
  }

  get hosts(): readonly Host[] {
    return this.plan.hosts;
  }

  host(name: string): Host {
    const h = this.byName.get(name);
    if (!h) throw new LabSpecError(`lab ${this.id} has no host "${name}" (hosts: ${[...this.byName.keys()].join(', ')})`);
    return h;
  }

  /** The host's own address: 203.0.113.1 (registry), 203.0.113.(10+k) or 172.16.k.2 (members), 198.51.100.(10+k) (routers). */
  addressOf(name: string): string {
    return this.host(name).address;
  }

  /** The address the internet sees for the host (a NAT'd member's router WAN address). */
  publicAddressOf(name: string): string {
    return this.host(name).publicAddress;
  }

  namespaceOf(name: string): string {
    return this.host(name).ns;
  }

  /** A WireGuard device name for `host`, unique on the machine ("wl<id>-m2", "wl<id>-r"). */
  deviceName(name: string, suffix = ''): string {
    return deviceName(this.id, this.host(name), suffix);
  }

  /** Runs a command to its end inside the host's namespace; rejects with its stderr when it fails. */
  exec(host: string, command: string, args: readonly string[] = [], options?: ExecOptions): Promise<ExecResult> {
    return nsExec(this.namespaceOf(host), command, args, options);
  }

  /**
   * Starts a long-running command inside the host's namespace. Its PID is recorded in the state
   * file, and `down()` (or a later `Lab.down(id)`) ends it.
   */
  spawn(host: string, command: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}, options?: SpawnOptions): LabProcess {
    this.assertOpen();
    const proc = new LabProcess(host, this.namespaceOf(host), command, args, env, options);
    this.processes.add(proc);
    const record: ProcessRecord = { pid: proc.pid, startTime: proc.startTime, host, command: [command, ...args].join(' ') };
    this.store.update(this.id, (s) => s.processes.push(record));
    void proc.exited.then(() => {
      this.processes.delete(proc);
      if (!this.closed) this.store.update(this.id, (s) => (s.processes = s.processes.filter((p) => p.pid !== record.pid || p.startTime !== record.startTime)));
    });
    return proc;
  }

  /** Pings `toIp` from the host: ok when at least one reply came back, with the average RTT. */
  ping(from: string, toIp: string, options?: PingOptions): Promise<PingResult> {
    return nsPing(this.namespaceOf(from), toIp, options);
  }

  /**
   * Starts wireguard-go for `dev` (default: this host's device name) inside the host's namespace
   * and waits for its UAPI socket. The name must carry the lab's device prefix (wl<id>-), which
   * keeps it unique on the machine.
   */
  async startWireguardGo(host: string, dev = this.deviceName(host), options: WireguardGoOptions = {}): Promise<WireguardGo> {
    const prefix = devicePrefix(this.id);
    if (!dev.startsWith(prefix) || dev.length > 15 || !/^[a-z0-9-]+$/.test(dev)) {
      throw new LabSpecError(`WireGuard device "${dev}" must start with "${prefix}" and be at most 15 characters a-z, 0-9, "-" (use lab.deviceName(host, suffix))`);
    }
    const socket = join(WIREGUARD_SOCKET_DIR, `${dev}.sock`);
    if (existsSync(socket)) throw new LabError(`${socket} exists: device ${dev} is already running on this machine`);
    this.store.update(this.id, (s) => {
      if (!s.devices.includes(dev)) s.devices.push(dev);
    });
    const proc = this.spawn(host, 'wireguard-go', ['-f', dev], { WG_PROCESS_FOREGROUND: '1', ...options.env });
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    while (!existsSync(socket)) {
      if (!proc.running) throw new LabError(`wireguard-go ${dev} in ${host} exited (${JSON.stringify(proc.exitStatus)}): ${proc.tail()}`);
      if (Date.now() > deadline) {
        await proc.stop('SIGKILL');
        throw new LabError(`wireguard-go ${dev} in ${host}: no UAPI socket ${socket} after ${options.timeoutMs ?? 5000} ms: ${proc.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (options.address) {
      await run('ip', ['-n', this.namespaceOf(host), '-batch', '-'], { input: `addr add ${options.address} dev ${dev}\nlink set ${dev} up\n` });
    }
    return {
      host,
      ns: this.namespaceOf(host),
      dev,
      socket,
      process: proc,
      stop: async () => {
        await proc.stop();
      },
    };
  }

  /** The router in front of `name` (a router's own name, or a NAT'd member's). */
  routerOf(name: string): Host {
    const h = this.host(name);
    if (h.role === 'router') return h;
    if (h.router) return this.host(h.router);
    throw new LabSpecError(`${name} is not behind a NAT (it is ${h.role === 'member' ? 'a public member' : `the ${h.role}`})`);
  }

  natMode(name: string): NatMode {
    const router = this.routerOf(name);
    return this.routerState(router).mode;
  }

  /** Switches the router's NAT mode now: replaces its rules (dropping pins) and flushes conntrack. */
  async setNatMode(name: string, mode: NatMode): Promise<void> {
    if (!NAT_MODES.includes(mode)) throw new LabSpecError(`NAT mode "${mode}" must be ${NAT_MODES.join(', ')}`);
    const router = this.routerOf(name);
    const next: RouterState = { mode, pins: [] };
    await this.applyNat(router, next);
    await this.flushNat(router.name);
    this.store.update(this.id, (s) => (s.routers[router.name] = next));
    this.log.info('NAT mode set', { lab: this.id, router: router.name, mode });
  }

  /**
   * Forgets every mapping (conntrack flush): like a NAT reboot. Under edm the member's next packet
   * gets a new random port; under eim MASQUERADE usually gives it the same port again, as it is
   * free: use rebindNat() when the port must change.
   */
  async flushNat(name: string): Promise<void> {
    const router = this.routerOf(name);
    await nsExec(router.ns, 'conntrack', ['-F']);
  }

  /** The flows through the router now (conntrack), with the external port of each. */
  async natMappings(name: string): Promise<NatMapping[]> {
    const router = this.routerOf(name);
    const { stdout } = await nsExec(router.ns, 'conntrack', ['-L']);
    return parseConntrack(stdout);
  }

  /**
   * Changes the member's external UDP port(s), as a NAT that reboots or expires a mapping does.
   * - eim: for every UDP source port of the member now mapped (e.g. its WireGuard port), pins a new
   *   external port (SNAT to a single port: still endpoint independent) that differs from the
   *   current one, then flushes conntrack. The member's next packet leaves from the new port.
   * - edm: flushes conntrack; the next packet gets a fresh random port (the same one again with
   *   probability about 1/64,000).
   * Only ports with a mapping now are rebound: an idle member has nothing to change.
   */
  async rebindNat(name: string): Promise<Rebind[]> {
    const router = this.routerOf(name);
    const member = this.host(router.member!);
    const current = this.routerState(router);
    const mappings = await this.natMappings(router.name);
    let rebinds: Rebind[];
    if (current.mode === 'eim') {
      const planned = rebindPlan(member.address, mappings, current.pins);
      const next: RouterState = { mode: current.mode, pins: planned.pins };
      await this.applyNat(router, next);
      this.store.update(this.id, (s) => (s.routers[router.name] = next));
      rebinds = planned.rebinds;
    } else {
      const mine = mappings.filter((m) => m.proto === 'udp' && m.source === member.address);
      rebinds = [...new Set(mine.map((m) => m.sourcePort))].map((sourcePort) => ({ sourcePort, before: [...new Set(mine.filter((m) => m.sourcePort === sourcePort).map((m) => m.externalPort))] }));
    }
    await this.flushNat(router.name);
    this.log.info('NAT rebound', { lab: this.id, router: router.name, rebinds });
    return rebinds;
  }

  status(): LabStatus {
    const state = this.store.read(this.id);
    if (!state) throw new LabError(`lab ${this.id} is down (no ${this.store.path(this.id)})`);
    return statusOf(this.store, state);
  }

  /** Stops the processes started here, then tears down everything the state file lists. */
  async down(): Promise<TeardownReport> {
    const started = Date.now();
    this.closed = true;
    await Promise.all([...this.processes].map((p) => p.stop('SIGTERM', 2000)));
    this.unregister();
    const state = this.store.read(this.id);
    const report = state ? teardownSync(this.store, state) : { killed: [], namespaces: [], sockets: [] };
    this.log.info('lab down', { lab: this.id, namespaces: report.namespaces.length, killed: report.killed.length, ms: Date.now() - started });
    return report;
  }

  private routerState(router: Host): RouterState {
    const state = this.store.read(this.id);
    const r = state?.routers[router.name];
    if (!r) throw new LabError(`lab ${this.id}: no state for router ${router.name} (is the lab down?)`);
    return r;
  }

  private async applyNat(router: Host, state: RouterState): Promise<void> {
    await nsExec(router.ns, 'iptables-restore', ['-w', '5'], { input: natRules(state.mode, router.address, state.pins) });
  }

  private assertOpen(): void {
    if (this.closed) throw new LabError(`lab ${this.id} is down`);
  }

  private register(): void {
    if (live.size === 0) {
      process.on('exit', onExit);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    live.set(this, () => this.downSync());
  }

  private unregister(): void {
    live.delete(this);
    if (live.size === 0) {
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  /** Resolves once a running Lab.up has finished (either way). */
  async whenSetUp(): Promise<void> {
    await this.settingUp?.catch(() => undefined); // Lab.up reports its own failure
  }

  /** Synchronous teardown for the 'exit' handler. */
  private downSync(): void {
    this.closed = true;
    this.unregister();
    const state = this.store.read(this.id);
    if (state) teardownSync(this.store, state);
  }
}

function onExit(): void {
  for (const [lab, teardown] of [...live]) {
    try {
      teardown();
    } catch (err) {
      process.stderr.write(`lab ${lab.id}: cleanup at exit failed: ${(err as Error).message}\n`);
    }
  }
}

/** Tears the labs down; exits with 128+signal unless someone else also handles the signal. */
function onSignal(sig: NodeJS.Signals): void {
  const others = process.listenerCount(sig) > 1;
  const labs = [...live.keys()];
  process.stderr.write(`\n${sig}: tearing down lab${labs.length > 1 ? 's' : ''} ${labs.map((l) => l.id).join(', ')}\n`);
  void Promise.allSettled(labs.map((lab) => lab.whenSetUp()))
    .then(() => Promise.allSettled(labs.map((lab) => lab.down())))
    .then((results) => {
      for (const r of results) if (r.status === 'rejected') process.stderr.write(`lab cleanup failed: ${(r.reason as Error).message}\n`);
      if (!others) process.exit(sig === 'SIGINT' ? 130 : 143);
    });
}

function statusOf(store: StateStore, state: LabState): LabStatus {
  const plan = planLab(state.spec, state.id);
  return {
    id: state.id,
    createdAt: state.createdAt,
    stateFile: store.path(state.id),
    detached: state.detached,
    owner: { pid: state.owner.pid, alive: ownerAlive(state) },
    hosts: plan.hosts.map((h) => ({ ...h, present: existsSync(join(NETNS_DIR, h.ns)), ...(state.routers[h.name] ? { mode: state.routers[h.name].mode } : {}) })),
    processes: state.processes.map((p) => ({ ...p, running: isSameProcess(p.pid, p.startTime) })),
    devices: state.devices,
  };
}

function defaultLogger(): Logger {
  return createLogger({ service: 'lab', level: process.env.WGMESH_LOG_LEVEL ? parseLevel(process.env.WGMESH_LOG_LEVEL) : 'warn' });
}
