import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { startupConfig, VppConfigOptions, vppPaths } from './config';
import { run } from './exec';
import type { VppInstall } from './find';

/** Runtime directories of the VPPs started here: short, because unix socket paths are limited to 107 bytes. */
export const RUNTIME_ROOT = '/run/wgmesh-vpp';

export interface StartVppOptions {
  install: VppInstall;
  /** Network namespace to run in; without it a namespace of its own is created (and deleted by stop()). */
  netns?: string;
  /** Default /run/wgmesh-vpp/<id>. Created, and removed by stop(). */
  runtimeDir?: string;
  /** A short id for names (default random). */
  id?: string;
  config?: Pick<VppConfigOptions, 'pollSleepUsec' | 'mainHeapMb' | 'plugins'>;
  /** How long VPP may take to answer on its API socket (default 30 s: a loaded machine is slow). */
  timeoutMs?: number;
}

export interface VppInstance {
  readonly id: string;
  readonly pid: number;
  readonly netns: string;
  readonly runtimeDir: string;
  readonly apiSocket: string;
  readonly cliSocket: string;
  readonly install: VppInstall;
  /** The last lines of VPP's own output and log (for failure messages). */
  tail(lines?: number): string;
  /** `vppctl -s <cli socket> <args>` (diagnostics and tests; the product never uses the CLI). */
  cli(command: string): Promise<string>;
  /** SIGTERM by PID (SIGKILL after 5 s), then removes the runtime directory, shared memory and own namespace. Never throws. */
  stop(): Promise<void>;
}

/**
 * Starts VPP (`ip netns exec <ns> vpp -c <runtime dir>/startup.conf`, VPP's own PID) with the
 * small-machine configuration of config.ts and waits until its API socket accepts connections.
 * The caller owns it and must stop() it (tests: in afterAll, so also when a test fails).
 */
export async function startVpp(opts: StartVppOptions): Promise<VppInstance> {
  const id = opts.id ?? randomBytes(3).toString('hex');
  const runtimeDir = opts.runtimeDir ?? join(RUNTIME_ROOT, id);
  const apiPrefix = `wgmesh-vpp-${id}`;
  const paths = vppPaths(runtimeDir);
  const ownNetns = opts.netns === undefined;
  const netns = opts.netns ?? `wgv${id}`;
  if (ownNetns) {
    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  }
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  writeFileSync(paths.config, startupConfig({ runtimeDir, apiPrefix, ...opts.config }));
  const out = openSync(paths.output, 'a');
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', netns, opts.install.bin, '-c', paths.config], { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const tail = (lines = 20) => [paths.output, paths.log].filter(existsSync).map((f) => readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')).join('\n');
  const stop = async () => {
    if (pid !== undefined && child.exitCode === null && child.signalCode === null && cmdlineOf(pid).includes(paths.config)) {
      process.kill(pid, 'SIGTERM');
      if (!(await within(exited, 5000))) {
        if (cmdlineOf(pid).includes(paths.config)) process.kill(pid, 'SIGKILL');
        await within(exited, 5000);
      }
    }
    rmSync(runtimeDir, { recursive: true, force: true });
    if (opts.runtimeDir === undefined) {
      try {
        rmdirSync(RUNTIME_ROOT); // when no other VPP of ours runs
      } catch {
        // not empty, or gone
      }
    }
    for (const f of existsSync('/dev/shm') ? readdirSync('/dev/shm') : []) if (f.startsWith(`${apiPrefix}-`)) rmSync(join('/dev/shm', f), { force: true });
    if (ownNetns) await run('ip', ['netns', 'del', netns]).catch(() => undefined);
  };
  try {
    if (pid === undefined) throw new Error(`cannot start ${opts.install.bin}`);
    await waitForSocket(paths.apiSocket, () => child.exitCode !== null || child.signalCode !== null, opts.timeoutMs ?? 30_000);
  } catch (err) {
    const why = `VPP did not come up: ${(err as Error).message}\n${tail()}`;
    await stop();
    throw new Error(why);
  }
  return {
    id,
    pid,
    netns,
    runtimeDir,
    apiSocket: paths.apiSocket,
    cliSocket: paths.cliSocket,
    install: opts.install,
    tail,
    cli: (command) => run(vppctlOf(opts.install.bin), ['-s', paths.cliSocket, ...command.split(' ')]),
    stop,
  };
}

/** vppctl lives next to vpp. */
function vppctlOf(bin: string): string {
  return bin.replace(/vpp$/, 'vppctl');
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([p.then(() => true), timedOut]);
  clearTimeout(timer);
  return done;
}

/** Waits until VPP's API socket accepts connections; `gone()` true means VPP exited (an error). */
export async function waitForSocket(path: string, gone: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone()) throw new Error('the process exited');
    if (existsSync(path) && (await connects(path))) return;
    if (Date.now() > deadline) throw new Error(`no API socket at ${path} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function connects(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
