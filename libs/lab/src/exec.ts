import { spawn, spawnSync } from 'node:child_process';
import { LabError } from './errors';

/**
 * Running commands, on the machine or inside a namespace (`ip netns exec NS …`). A command that
 * fails rejects with a LabError naming the command, its exit and its stderr.
 */
export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Kill the command (SIGKILL) after this long; default 10 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const MAX_OUTPUT = 4 * 1024 * 1024;

/** The environment for lab commands: the sbin directories are on PATH even in a non-login shell. */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const dir of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!path.includes(dir)) path.push(dir);
  return { ...process.env, PATH: path.join(':'), ...extra };
}

export function run(command: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? toolEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_OUTPUT) into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new LabError(`${describe(command, args)}: cannot run: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (code === 0) resolve(result);
      else reject(new ExecFailed(command, args, code, signal, result));
    });
    child.stdin.on('error', () => undefined); // a command that exits without reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** The same, blocking: for cleanup from a process 'exit' handler, where nothing async runs. */
export function runSync(command: string, args: readonly string[], options: ExecOptions = {}): ExecResult {
  const r = spawnSync(command, args, { input: options.input ?? '', env: options.env ?? toolEnv(), timeout: options.timeoutMs ?? 10_000, maxBuffer: MAX_OUTPUT });
  if (r.error) throw new LabError(`${describe(command, args)}: cannot run: ${r.error.message}`);
  const result = { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  if (r.status !== 0) throw new ExecFailed(command, args, r.status, r.signal, result);
  return result;
}

/** A command ran and failed; `result` holds what it printed. */
export class ExecFailed extends LabError {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly result: ExecResult,
  ) {
    super(`${describe(command, args)} failed (${code !== null ? `exit ${code}` : `signal ${signal}`}): ${(result.stderr || result.stdout).trim().slice(0, 2000)}`);
  }
}

/** Runs `command` inside namespace `ns`. */
export function nsExec(ns: string, command: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, command, ...args], options);
}

function describe(command: string, args: readonly string[]): string {
  const text = [command, ...args].join(' ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export interface PingOptions {
  /** Echo requests to send; default 1. */
  count?: number;
  /** How long to wait for a reply after the last request; default 1000 ms. */
  timeoutMs?: number;
  /** Between requests; default 200 ms. */
  intervalMs?: number;
  /** ICMP payload bytes; default 56. */
  size?: number;
}

export interface PingResult {
  /** At least one reply came back. */
  ok: boolean;
  /** Echo requests counted: the first `count` (ping may send more, see pingArgs). */
  sent: number;
  /** Distinct replies to those requests. */
  received: number;
  /** Average round trip of the replies, when there were any. */
  rttMs?: number;
  /** The TTL of each counted reply (64 less one per router on the way back). */
  ttls: number[];
}

/**
 * Reads ping's output (iputils, not -q): the replies ("bytes from … icmp_seq=N … time=X ms") to
 * requests 1..count, each counted once (a duplicate is not a second reply). Undefined when ping
 * printed no statistics (it could not run).
 */
export function parsePing(text: string, count: number): PingResult | undefined {
  if (!/\d+ packets transmitted/.test(text)) return undefined;
  const rtts = new Map<number, number>();
  const ttls: number[] = [];
  for (const m of text.matchAll(/bytes from .*?icmp_seq=(\d+)(?: ttl=(\d+))?.*?time=([\d.]+) ms/g)) {
    const seq = Number(m[1]);
    if (seq >= 1 && seq <= count && !rtts.has(seq)) {
      rtts.set(seq, Number(m[3]));
      if (m[2] !== undefined) ttls.push(Number(m[2]));
    }
  }
  const received = rtts.size;
  const rttMs = received > 0 ? Math.round(([...rtts.values()].reduce((a, b) => a + b, 0) / received) * 1000) / 1000 : undefined;
  return { ok: received > 0, sent: count, received, ...(rttMs !== undefined ? { rttMs } : {}), ttls };
}

/**
 * How long a ping may take: the requests' spacing, twice over, then the wait for the last
 * reply. On a loaded machine ping's own requests come late (its 50 ms spacing stretched by CPU
 * starvation): with a deadline right after the planned last request, the last ones were not even
 * sent (seen: requests 132-160 of 160 missing with the cores kept busy, none lost on the way). A
 * ping ends as soon as every reply is in, so the margin costs time only when replies are missing.
 */
export function pingBudgetMs(options: PingOptions = {}): number {
  return Math.ceil(((options.count ?? 1) - 1) * (options.intervalMs ?? 200) * 2) + (options.timeoutMs ?? 1000);
}

/**
 * ping -c count -i interval -W timeout -w deadline (the budget, whole seconds up). With -w, ping
 * waits for every reply until the deadline: without it, once a reply has come, it waits only two
 * round trips (or one interval) after the last request, and a reply that a loaded machine delays
 * by more than that counts as lost. With -w it also sends more requests when replies are missing;
 * parsePing counts replies to the first `count` only.
 */
export function pingArgs(ip: string, options: PingOptions = {}): string[] {
  const count = options.count ?? 1;
  const deadlineS = Math.max(1, Math.ceil(pingBudgetMs(options) / 1000));
  const args = ['-n', '-c', String(count), '-i', String((options.intervalMs ?? 200) / 1000), '-W', String((options.timeoutMs ?? 1000) / 1000), '-w', String(deadlineS)];
  if (options.size !== undefined) args.push('-s', String(options.size));
  return [...args, ip];
}

/** Pings `ip` from namespace `ns`. No reply is a result (ok: false), not an error. */
export async function nsPing(ns: string, ip: string, options: PingOptions = {}): Promise<PingResult> {
  let output: ExecResult;
  try {
    output = await nsExec(ns, 'ping', pingArgs(ip, options), { timeoutMs: pingBudgetMs(options) + 6000 });
  } catch (err) {
    // ping exits 1 when replies are missing; that is an answer, anything else is a failure.
    if (!(err instanceof ExecFailed) || err.code !== 1) throw err;
    output = err.result;
  }
  const parsed = parsePing(output.stdout, options.count ?? 1);
  if (!parsed) throw new LabError(`ping ${ip} in ${ns}: unexpected output: ${output.stdout.trim() || output.stderr.trim()}`);
  return parsed;
}
