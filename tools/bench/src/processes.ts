import { ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { findExecutable } from '@wgmesh/executables';

/**
 * Child processes the bench owns (resolver, knotd, dnsperf): each runs in its own process group,
 * so a Ctrl-C on the terminal reaches only the bench, which then stops every child it started, by
 * PID (and the child's own group, for a resolver's cluster workers).
 */
export class ProcessError extends Error {
  override readonly name = 'ProcessError';
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started (e.g. ENOENT). */
  error?: Error;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A file descriptor to write stdout to, instead of a pipe (for large outputs). */
  stdoutFd?: number;
  /** Keep the whole stdout in memory (`stdout()`); otherwise only the last lines are kept. */
  collectStdout?: boolean;
}

type LineListener = (line: string) => void;

const TAIL_LINES = 40;
const running = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly exited: Promise<Exit>;
  private readonly child: ChildProcess;
  private readonly tailLines: string[] = [];
  private readonly listeners = new Set<LineListener>();
  private readonly stdoutChunks: string[] = [];
  private exit: Exit | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: StartOptions = {},
  ) {
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', options.stdoutFd ?? 'pipe', 'pipe'],
    });
    running.add(this);
    this.exited = new Promise<Exit>((resolve) => {
      const done = (exit: Exit) => {
        if (this.exit) return;
        this.exit = exit;
        running.delete(this);
        resolve(exit);
      };
      this.child.once('error', (error) => done({ code: null, signal: null, error }));
      this.child.once('close', (code, signal) => done({ code, signal }));
    });
    if (this.child.stdout) {
      if (options.collectStdout) this.child.stdout.setEncoding('utf8').on('data', (s: string) => this.stdoutChunks.push(s));
      this.readLines(this.child.stdout);
    }
    if (this.child.stderr) this.readLines(this.child.stderr);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** The last lines of stdout and stderr, for error messages. */
  tail(): string {
    return this.tailLines.join('\n');
  }

  stdout(): string {
    return this.stdoutChunks.join('');
  }

  /**
   * Resolves when `count` output lines matched `match`; rejects when the process exits first or
   * after `timeoutMs`.
   */
  waitForLines(match: (line: string) => boolean, count: number, timeoutMs: number, what: string): Promise<void> {
    if (this.exit) return Promise.reject(this.exitedError(what, this.exit));
    return new Promise<void>((resolve, reject) => {
      let seen = 0;
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve();
      };
      const listener: LineListener = (line) => {
        if (match(line) && ++seen >= count) finish();
      };
      const timer = setTimeout(() => finish(new ProcessError(`${this.name}: no ${what} after ${timeoutMs} ms (saw ${seen} of ${count}); last output:\n${this.tail()}`)), timeoutMs);
      this.listeners.add(listener);
      void this.exited.then((exit) => finish(this.exitedError(what, exit)));
    });
  }

  /** SIGTERM, then SIGKILL to the process group after `graceMs`; also reaps leftovers of the group. */
  async stop(graceMs = 5000): Promise<Exit> {
    const pid = this.child.pid;
    if (!this.exit && pid !== undefined) {
      signal(pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          signal(-pid, 'SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([this.exited, killed]);
      clearTimeout(timer);
    }
    const exit = await this.exited;
    // The child led its own group: anything left in it (a cluster worker) is ours to end.
    if (pid !== undefined) signal(-pid, 'SIGKILL');
    return exit;
  }

  private exitedError(what: string, exit: Exit): ProcessError {
    const how = exit.error ? `could not start: ${exit.error.message}` : `exited (code ${exit.code}, signal ${exit.signal})`;
    return new ProcessError(`${this.name} ${how} before ${what}; last output:\n${this.tail()}`);
  }

  private readLines(stream: NodeJS.ReadableStream): void {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      this.tailLines.push(line);
      if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
      for (const listener of this.listeners) listener(line);
    });
  }
}

/** Sends a signal; a process (group) that is already gone is not an error. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export function startProcess(name: string, command: string, args: readonly string[], options?: StartOptions): ManagedProcess {
  return new ManagedProcess(name, command, args, options);
}

/** Runs a process to its end; rejects when it cannot start. */
export async function runProcess(name: string, command: string, args: readonly string[], options?: StartOptions): Promise<{ exit: Exit; process: ManagedProcess }> {
  const proc = startProcess(name, command, args, options);
  const exit = await proc.exited;
  if (exit.error) throw new ProcessError(`${name} could not start: ${exit.error.message}`);
  return { exit, process: proc };
}

/** Stops every process started here that is still running. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(2000)));
}

/** An executable found on PATH or in `extraDirs` (the system sbin/bin directories by default), or null. */
export { findExecutable };
