import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NoDeviceError, UapiClient } from '@wgmesh/wireguard';

export interface WireguardGoOptions {
  /** The daemon binary ("wireguard-go"). */
  binary?: string;
  /** Start it in this network namespace (`ip netns exec`); the current one when absent. */
  netns?: string;
  /** Where the daemon's state file (PID) and log go: /var/run/wgmesh by default. */
  stateDir?: string;
  /** How long to wait for its UAPI socket (5 s). */
  startTimeoutMs?: number;
}

export const DEFAULT_STATE_DIR = '/var/run/wgmesh';

/** What we record about a daemon we started: `<stateDir>/<device>.json`. */
export interface DaemonRecord {
  pid: number;
  device: string;
  netns?: string;
  startedAt: string;
  log: string;
}

export class DaemonStartError extends Error {
  override readonly name = 'DaemonStartError';
}

export function daemonRecordPath(device: string, stateDir = DEFAULT_STATE_DIR): string {
  return join(stateDir, `${device}.json`);
}

export function readDaemonRecord(device: string, stateDir = DEFAULT_STATE_DIR): DaemonRecord | null {
  try {
    return JSON.parse(readFileSync(daemonRecordPath(device, stateDir), 'utf8')) as DaemonRecord;
  } catch {
    return null;
  }
}

/** True when `pid` is alive, not a zombie, and runs wireguard-go for `device`. */
export function isDaemonRunning(record: DaemonRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    if (stat[stat.lastIndexOf(')') + 2] === 'Z') return false;
    const argv = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => a.endsWith('wireguard-go')) && argv.includes(record.device);
  } catch {
    return false;
  }
}

/**
 * Starts `wireguard-go -f <device>` detached from this process (its own session, no stdio tie,
 * unref'd), so the device outlives the service (fail-static): a restarted service adopts it.
 * Records the PID in the state file, logs to `<stateDir>/<device>.log`, and resolves once the
 * UAPI answers. If the daemon exits or does not answer in time, it is stopped and the error
 * carries the end of its log.
 */
export async function startWireguardGo(uapi: UapiClient, opts: WireguardGoOptions = {}): Promise<DaemonRecord> {
  const device = uapi.device;
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const binary = opts.binary ?? 'wireguard-go';
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const log = join(stateDir, `${device}.log`);
  const fd = openSync(log, 'a', 0o600);
  const [cmd, args] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, binary, '-f', device]] : [binary, ['-f', device]];
  const status: { exited: string | null } = { exited: null };
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, WG_PROCESS_FOREGROUND: '1' } });
  } finally {
    closeSync(fd);
  }
  child.on('error', (err) => (status.exited = err.message));
  child.on('exit', (code, signal) => (status.exited = `exited with ${signal ?? `code ${code}`}`));
  child.unref();
  if (child.pid === undefined) {
    await new Promise((r) => setImmediate(r));
    throw new DaemonStartError(`cannot start ${binary} for ${device}: ${status.exited ?? 'spawn failed'}`);
  }
  const record: DaemonRecord = { pid: child.pid, device, startedAt: new Date().toISOString(), log, ...(opts.netns ? { netns: opts.netns } : {}) };
  writeFileSync(daemonRecordPath(device, stateDir), `${JSON.stringify(record)}\n`, { mode: 0o600 });

  const deadline = Date.now() + (opts.startTimeoutMs ?? 5000);
  for (;;) {
    if (status.exited !== null) throw new DaemonStartError(`${binary} for ${device} ${status.exited}: ${logTail(log)}`);
    try {
      await uapi.get();
      return record;
    } catch (err) {
      if (!(err instanceof NoDeviceError)) throw err;
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new DaemonStartError(`${binary} for ${device} did not open ${uapi.socketPath} within ${opts.startTimeoutMs ?? 5000} ms: ${logTail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Removes a UAPI socket left by a daemon we started that is gone (killed with SIGKILL, crashed).
 * Touches nothing when the socket is not provably ours: 'foreign' (no record of ours) or
 * 'running' (our daemon is still alive, e.g. shutting down). Returns what it found.
 */
export function removeStaleSocket(uapi: UapiClient, stateDir = DEFAULT_STATE_DIR): 'removed' | 'running' | 'foreign' {
  const record = readDaemonRecord(uapi.device, stateDir);
  if (!record || record.device !== uapi.device) return 'foreign';
  if (isDaemonRunning(record)) return 'running';
  rmSync(uapi.socketPath, { force: true });
  return 'removed';
}

function logTail(path: string): string {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text ? text.split('\n').slice(-3).join(' | ') : 'no output';
  } catch {
    return 'no log';
  }
}
