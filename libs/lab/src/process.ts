import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LabError } from './errors';
import { toolEnv } from './exec';
import { processStartTime, signal } from './procfs';

/**
 * A process the lab started inside a namespace (`ip netns exec NS cmd…`, which execs, so the PID is
 * the command's own). It leads its own process group, so a Ctrl-C on the terminal reaches only us
 * and we stop it (and anything it forked) by PID. Its output lines are kept for waitForLine and
 * error messages.
 */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  cwd?: string;
  /** Lines kept in memory (oldest dropped first); default 10,000. */
  maxLines?: number;
  /** Descriptors of this process the command gets as its 3, 4, … (e.g. a listening socket). */
  fds?: number[];
}

export class LabProcess {
  readonly pid: number;
  /** From /proc: with the PID, identifies this process in the state file despite PID reuse. */
  readonly startTime: number;
  readonly exited: Promise<ProcessExit>;
  private readonly kept: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();
  private exit: ProcessExit | undefined;

  constructor(
    readonly host: string,
    readonly ns: string,
    readonly command: string,
    readonly args: readonly string[],
    env: NodeJS.ProcessEnv = {},
    private readonly options: SpawnOptions = {},
  ) {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
      cwd: options.cwd,
      env: toolEnv(env),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])],
    });
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err));
    if (child.pid === undefined) throw new LabError(`cannot start ${command} in ${ns}: ip (iproute2) did not start${spawnError ? `: ${spawnError.message}` : ''}`);
    this.pid = child.pid;
    this.startTime = processStartTime(child.pid) ?? 0;
    this.exited = new Promise<ProcessExit>((resolve) => {
      // 'exit', not 'close': a daemonised grandchild may hold the pipes open after the process ends.
      child.once('exit', (code, sig) => {
        this.exit = { code, signal: sig };
        for (const l of this.listeners) l('');
        resolve(this.exit);
      });
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.push(line));
    }
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get exitStatus(): ProcessExit | undefined {
    return this.exit;
  }

  /** Output lines (stdout and stderr) still in memory. */
  get lines(): readonly string[] {
    return this.kept;
  }

  /** The last `n` lines, for error messages. */
  tail(n = 20): string {
    return this.kept.slice(-n).join('\n');
  }

  /** Calls `listener` for every new output line; returns a function that removes it. */
  onLine(listener: (line: string) => void): () => void {
    const wrapped = (line: string) => {
      if (this.exit === undefined) listener(line);
    };
    this.listeners.add(wrapped);
    return () => this.listeners.delete(wrapped);
  }

  /** Resolves with the first line (seen so far or later) matching; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.kept.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    const what = `${this.command} in ${this.host}`;
    if (this.exit) return Promise.reject(new LabError(`${what} exited (${this.describeExit()}) before printing ${pattern}; output:\n${this.tail()}`));
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, line?: string) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve(line!);
      };
      const listener = (line: string) => {
        if (this.exit) done(new LabError(`${what} exited (${this.describeExit()}) before printing ${pattern}; output:\n${this.tail()}`));
        else if (pattern.test(line)) done(undefined, line);
      };
      const timer = setTimeout(() => done(new LabError(`${what}: no line matching ${pattern} after ${timeoutMs} ms; output:\n${this.tail()}`)), timeoutMs);
      this.listeners.add(listener);
    });
  }

  /**
   * `sig` (SIGTERM) to the process group, SIGKILL to the group after `graceMs`. Only while the
   * leader has not been reaped: until then its PID (the group's id) cannot belong to anyone else.
   * Group members that outlive the leader are still in the namespace, where teardown finds them.
   */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ProcessExit> {
    if (!this.exit) {
      signal(-this.pid, sig);
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!this.exit) signal(-this.pid, 'SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([this.exited, killed]);
      clearTimeout(timer);
    }
    return this.exited;
  }

  private push(line: string): void {
    this.kept.push(line);
    if (this.kept.length > (this.options.maxLines ?? 10_000)) {
      this.kept.shift();
    }
    for (const l of this.listeners) l(line);
  }

  private describeExit(): string {
    return this.exit?.code !== null ? `exit ${this.exit?.code}` : `signal ${this.exit?.signal}`;
  }
}
