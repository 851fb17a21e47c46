import { ChildProcess, execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const WORKSPACE = resolve(__dirname, '../../..');

export interface Service {
  readonly proc: ChildProcess;
  /** Every stderr line so far (structured JSON logs for wgmesh services). */
  readonly lines: string[];
  /** Resolves with the first line matching, waiting up to timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (or the given signal), then waits for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `wgmesh <args>` from the workspace as a child process we own. */
export function startWgmesh(args: string[], env: NodeJS.ProcessEnv = {}): Service {
  return startService(process.execPath, [resolve(WORKSPACE, 'bin/wgmesh.js'), ...args], env);
}

/** Runs `wgmesh <args>` to its end (environment: this process's, then `env`; an undefined value removes a variable). */
export function runWgmesh(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  return new Promise((done) => {
    const child = execFile(process.execPath, [resolve(WORKSPACE, 'bin/wgmesh.js'), ...args], { cwd: WORKSPACE, env: merged, timeout: 60_000 }, (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }));
  });
}

export function startService(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Service {
  const proc = spawn(command, args, { cwd: WORKSPACE, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    waiters.splice(0).forEach((w) => w());
  };
  proc.stderr!.on('data', onData);
  proc.stdout!.on('data', onData);
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  exited.then(() => waiters.splice(0).forEach((w) => w()));

  return {
    proc,
    lines,
    async waitForLine(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (let seen = 0; ; ) {
        for (; seen < lines.length; seen++) if (pattern.test(lines[seen])) return lines[seen];
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`process exited (${proc.exitCode ?? proc.signalCode}) before logging ${pattern}; output:\n${lines.join('\n')}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${pattern}; output:\n${lines.join('\n')}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
