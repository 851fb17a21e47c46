import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { removeVppFiles } from './vpp-node';
import { join } from 'node:path';
import { runSync } from './exec';
import { LabError } from './errors';
import { PortPin } from './nat';
import { devicePrefix, LabSpec, NatMode } from './plan';
import { isRunning, isSameProcess, namespaceId, pidsInNamespaces, processStartTime, signal } from './procfs';

/**
 * The state file (<dir>/<id>.json, default dir /run/wgmesh-lab) lists everything a lab created:
 * namespaces (written before any is created), processes started in them (PID and start time),
 * WireGuard devices. Teardown works from this file alone, so `lab down` cleans up after a crash.
 */
export const DEFAULT_STATE_DIR = '/run/wgmesh-lab';
export const WIREGUARD_SOCKET_DIR = '/var/run/wireguard';
export const NETNS_DIR = '/run/netns';

export interface ProcessRecord {
  pid: number;
  startTime: number;
  host: string;
  command: string;
}

export interface RouterState {
  mode: NatMode;
  pins: PortPin[];
}

export interface LabState {
  version: 1;
  id: string;
  spec: LabSpec;
  createdAt: string;
  /** The process that brought the lab up; a lab whose owner is gone (and not detached) is stale. */
  owner: { pid: number; startTime: number };
  /** Kept after its owner exits (`wgmesh lab up`); otherwise torn down when the owner exits. */
  detached: boolean;
  namespaces: string[];
  devices: string[];
  processes: ProcessRecord[];
  /** Router host name → current NAT mode and port pins. */
  routers: Record<string, RouterState>;
}

export class StateStore {
  constructor(readonly dir: string = process.env.WGMESH_LAB_STATE_DIR || DEFAULT_STATE_DIR) {}

  path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  read(id: string): LabState | undefined {
    let text: string;
    try {
      text = readFileSync(this.path(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const state = JSON.parse(text) as LabState;
    if (state.version !== 1 || state.id !== id) throw new LabError(`${this.path(id)} is not a wgmesh lab state file`);
    return state;
  }

  /** Atomic: a crash leaves the old file or the new one, never half of one. */
  write(state: LabState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const tmp = `${this.path(state.id)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
    renameSync(tmp, this.path(state.id));
  }

  /** Read, change, write (re-reading picks up processes another process recorded meanwhile). */
  update(id: string, change: (state: LabState) => void): LabState | undefined {
    const state = this.read(id);
    if (!state) return undefined;
    change(state);
    this.write(state);
    return state;
  }

  remove(id: string): void {
    try {
      unlinkSync(this.path(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  ids(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .map((f) => /^([a-z0-9]{1,6})\.json$/.exec(f)?.[1])
      .filter((id): id is string => id !== undefined)
      .sort();
  }

  list(): LabState[] {
    return this.ids()
      .map((id) => this.read(id))
      .filter((s): s is LabState => s !== undefined);
  }
}

export function ownerAlive(state: LabState): boolean {
  return isSameProcess(state.owner.pid, state.owner.startTime);
}

export function selfOwner(): { pid: number; startTime: number } {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };
}

export interface TeardownReport {
  /** Processes signalled (recorded ones still running, and any other process in a lab namespace). */
  killed: number[];
  namespaces: string[];
  sockets: string[];
}

/**
 * Ends a lab from its state, blocking (it also runs from a process 'exit' handler):
 * 1. SIGTERM every recorded process that still runs (same PID and start time) and every process
 *    living in one of the lab's namespaces, SIGKILL what is left after `graceMs`;
 * 2. deletes the namespaces (their veths and bridge go with them);
 * 3. removes WireGuard UAPI sockets named with this lab's device prefix (left by a killed
 *    wireguard-go; a clean exit removes its own), and its VPP nodes' runtime directories and
 *    shared memory;
 * 4. removes the state file.
 */
export function teardownSync(store: StateStore, state: LabState, graceMs = 2000): TeardownReport {
  const nsIds = new Set(state.namespaces.map((ns) => namespaceId(join(NETNS_DIR, ns))).filter((x): x is string => x !== undefined));
  // A recorded process leads its own group: signal the group while the leader is known to be it.
  const recorded = state.processes.filter((p) => isSameProcess(p.pid, p.startTime)).map((p) => p.pid);
  for (const pid of recorded) signal(-pid, 'SIGTERM');
  const inside = pidsInNamespaces(nsIds);
  for (const pid of inside) signal(pid, 'SIGTERM');
  const targets = [...new Set([...recorded, ...inside])].filter((pid) => pid !== process.pid);
  let left = waitGone(targets, graceMs);
  if (left.length > 0) {
    for (const pid of left) signal(pid, 'SIGKILL');
    left = waitGone(left, 1000);
    if (left.length > 0) throw new LabError(`lab ${state.id}: processes ${left.join(', ')} survived SIGKILL`);
  }
  // Anything that was still starting in a namespace (forked meanwhile) goes the same way.
  const late = pidsInNamespaces(nsIds);
  for (const pid of late) signal(pid, 'SIGKILL');
  if (waitGone(late, 1000).length > 0) throw new LabError(`lab ${state.id}: processes in its namespaces survived SIGKILL`);

  const namespaces = state.namespaces.filter((ns) => existsSync(join(NETNS_DIR, ns)));
  if (namespaces.length > 0) {
    runSync('ip', ['-force', '-batch', '-'], { input: namespaces.map((ns) => `netns del ${ns}\n`).join('') });
  }
  const stillThere = namespaces.filter((ns) => existsSync(join(NETNS_DIR, ns)));
  if (stillThere.length > 0) throw new LabError(`lab ${state.id}: could not delete namespaces ${stillThere.join(', ')}`);

  const sockets = ownSockets(state.id);
  for (const s of sockets) unlinkSync(s);
  removeVppFiles(store.dir, state.id);
  store.remove(state.id);
  return { killed: [...new Set([...targets, ...late])], namespaces, sockets };
}

/** UAPI sockets named with lab `id`'s device prefix: those are the lab's and nobody else's. */
export function ownSockets(id: string): string[] {
  if (!existsSync(WIREGUARD_SOCKET_DIR)) return [];
  const prefix = devicePrefix(id);
  return readdirSync(WIREGUARD_SOCKET_DIR)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.sock'))
    .map((f) => join(WIREGUARD_SOCKET_DIR, f));
}

/** Polls until none of `pids` runs (zombies count as gone); returns those still running. */
function waitGone(pids: number[], timeoutMs: number): number[] {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    sleepSync(10);
    left = left.filter(isRunning);
  }
  return left;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
