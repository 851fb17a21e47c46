import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { waitFor } from '@wgmesh/testing';
import { UapiClient, uapiSocketPath } from './uapi-client';

// Test helpers for real WireGuard in network namespaces (wireguard-go; the machines have no
// kernel module). Used by this library's end-to-end tests and by other packages' tests and
// benchmarks through a relative import; not exported from index. Everything a Lab creates is
// named with a random suffix and removed by `cleanup()`: processes by the PID we got, sockets
// only when they are ours, namespaces by name.

/** True when this machine can run the lab: root, `ip`, `wireguard-go`, `wg`. */
export const labAvailable: boolean = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    for (const bin of ['ip', 'wireguard-go', 'wg']) execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Why this machine cannot run the lab (empty when it can), for describeE2E. */
export const labProblems: string[] = labAvailable ? [] : ['needs root, ip (iproute2), wireguard-go and wg (wireguard-tools): apt-get install iproute2 wireguard-go wireguard-tools'];

/** A machine-wide unique interface / namespace name: prefix + 6 random characters (≤ 15). */
export function uniqueName(prefix = 'wgt'): string {
  const name = `${prefix}${randomBytes(4).toString('hex').slice(0, 6)}`;
  if (name.length > 15) throw new Error(`name ${name} is longer than 15 characters`);
  return name;
}

/** Runs a command; resolves with stdout, rejects with its stderr in the message. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface LabDevice {
  name: string;
  netns: string;
  pid: number;
  socketPath: string;
  uapi: UapiClient;
  /** SIGTERM (then SIGKILL after 3 s) and wait for the exit. */
  stop(): Promise<void>;
}

interface OwnedProcess {
  pid: number;
  /** A word its /proc cmdline must contain, so a reused PID is never signalled. */
  marker: string;
  child?: ChildProcess;
  socketPath?: string;
}

export class Lab {
  private readonly namespaces: string[] = [];
  private readonly processes: OwnedProcess[] = [];

  /** A new network namespace with loopback up. */
  async netns(prefix = 'wgt'): Promise<string> {
    const name = uniqueName(prefix);
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Starts `wireguard-go -f <device>` in `netns` as our child and waits until its UAPI answers. */
  async wireguardGo(netns: string, device = uniqueName('wgt')): Promise<LabDevice> {
    const socketPath = uapiSocketPath(device);
    if (existsSync(socketPath)) throw new Error(`${socketPath} exists already: pick another device name`);
    const child = spawn('ip', ['netns', 'exec', netns, 'wireguard-go', '-f', device], {
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
    const owned: OwnedProcess = { pid: child.pid!, marker: device, child, socketPath };
    this.processes.push(owned);
    const uapi = new UapiClient(device, { socketPath });
    await waitFor(`wireguard-go ${device} to answer on ${socketPath}`, async () => {
      if (child.exitCode !== null) throw new Error(`wireguard-go exited (${child.exitCode}): ${stderr.join('')}`);
      return uapi.get().then(() => true);
    });
    return { name: device, netns, pid: child.pid!, socketPath, uapi, stop: () => this.stop(owned) };
  }

  /** Takes ownership of a process someone else started for this test (e.g. a daemon a driver spawned). */
  own(pid: number, marker: string, socketPath?: string): void {
    if (!this.processes.some((p) => p.pid === pid)) this.processes.push({ pid, marker, socketPath });
  }

  /** A veth pair between two of our namespaces with an address on each end. */
  async link(a: { netns: string; address: string }, b: { netns: string; address: string }): Promise<void> {
    const [ia, ib] = [uniqueName('va'), uniqueName('vb')];
    await run('ip', ['-n', a.netns, 'link', 'add', ia, 'type', 'veth', 'peer', 'name', ib, 'netns', b.netns]);
    for (const [ns, dev, addr] of [[a.netns, ia, a.address], [b.netns, ib, b.address]]) {
      await run('ip', ['-n', ns, 'address', 'add', addr, 'dev', dev]);
      await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
  }

  /** Stops every process we own, removes our leftover sockets, deletes our namespaces. Never throws. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    for (const p of this.processes.splice(0).reverse()) {
      await this.stop(p).catch((err: Error) => problems.push(err.message));
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      await run('ip', ['netns', 'del', ns]).catch((err: Error) => problems.push(err.message));
    }
    return problems;
  }

  private async stop(p: OwnedProcess): Promise<void> {
    const ours = () => isAlive(p.pid) && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(p.marker);
    if (ours()) {
      process.kill(p.pid, 'SIGTERM');
      try {
        await waitFor(`PID ${p.pid} to exit`, () => !isAlive(p.pid), 3000);
      } catch {
        if (ours()) process.kill(p.pid, 'SIGKILL');
        await waitFor(`PID ${p.pid} to exit after SIGKILL`, () => !isAlive(p.pid), 3000);
      }
    }
    // wireguard-go removes its socket on SIGTERM; after SIGKILL it stays, and it is ours to remove.
    if (p.socketPath && existsSync(p.socketPath)) rmSync(p.socketPath, { force: true });
  }
}
