import { closeSync, createReadStream, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { runProcess, startProcess } from './processes';

/**
 * dnsperf (DNS-OARC, 2.10 as in Debian 12): command line, runner, and parsers for its final
 * statistics and for its verbose per-query lines. dnsperf 2.10 has no latency histogram
 * (`-O latency-histogram` came later), so percentiles come from a separate `-v` run, whose
 * per-query lines ("> NOERROR <name> <type> <seconds>") are written to a file and read afterwards.
 */
export class DnsperfParseError extends Error {
  override readonly name = 'DnsperfParseError';
}

/** How dnsperf loads the server: `-c` clients (sockets), `-T` threads, `-q` queries in flight. */
export interface DnsperfLoad {
  clients: number;
  threads: number;
  outstanding: number;
  /** Seconds before a query counts as lost (`-t`). */
  timeout: number;
}

export interface DnsperfRun {
  host: string;
  port: number;
  queryFile: string;
  /** Seconds (`-l`). */
  duration: number;
  load: DnsperfLoad;
  /** Report every query with its latency (`-v`). */
  verbose?: boolean;
  /** Run dnsperf in this network namespace (`ip netns exec`, which execs it: the PID is dnsperf's). */
  netns?: string;
}

/** The command and arguments that run dnsperf for `run` (in its namespace, if any). */
export function dnsperfCommand(run: DnsperfRun, dnsperf = 'dnsperf'): { command: string; args: string[] } {
  const args = dnsperfArgs(run);
  return run.netns ? { command: 'ip', args: ['netns', 'exec', run.netns, dnsperf, ...args] } : { command: dnsperf, args };
}

export interface DnsperfSummary {
  sent: number;
  completed: number;
  lost: number;
  /** Percent of sent queries that got no answer within the timeout. */
  lostPct: number;
  /** RCODE name → count, e.g. { NOERROR: 1000 }. */
  rcodes: Record<string, number>;
  avgRequestBytes: number;
  avgResponseBytes: number;
  runTimeSec: number;
  qps: number;
  avgLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  /** Absent when fewer than two queries completed. */
  stddevLatencyMs?: number;
}

export function dnsperfArgs(run: DnsperfRun): string[] {
  const args = [
    '-s', run.host,
    '-p', String(run.port),
    '-d', run.queryFile,
    '-l', String(run.duration),
    '-c', String(run.load.clients),
    '-T', String(run.load.threads),
    '-q', String(run.load.outstanding),
    '-t', String(run.load.timeout),
  ];
  if (run.verbose) args.push('-v');
  return args;
}

function field(text: string, label: string, pattern: string): RegExpMatchArray {
  const m = new RegExp(`^[ \\t]*${label}:[ \\t]*${pattern}`, 'm').exec(text);
  if (!m) throw new DnsperfParseError(`dnsperf output has no "${label}:" line in the expected form`);
  return m;
}

const NUM = '([0-9]+(?:\\.[0-9]+)?)';

/** Parses the "Statistics:" block dnsperf prints at the end of a run. */
export function parseDnsperfSummary(output: string): DnsperfSummary {
  const at = output.lastIndexOf('Statistics:');
  if (at < 0) throw new DnsperfParseError('dnsperf output has no "Statistics:" block (did it run?)');
  const text = output.slice(at);
  const sent = Number(field(text, 'Queries sent', NUM)[1]);
  const completed = Number(field(text, 'Queries completed', NUM)[1]);
  const lost = Number(field(text, 'Queries lost', NUM)[1]);
  const rcodes: Record<string, number> = {};
  const codes = field(text, 'Response codes', '(.*)$')[1].trim();
  if (codes !== '') {
    for (const part of codes.split(',')) {
      const m = /^\s*([A-Za-z0-9]+) ([0-9]+) \(/.exec(part);
      if (!m) throw new DnsperfParseError(`cannot read response code "${part.trim()}"`);
      rcodes[m[1]] = Number(m[2]);
    }
  }
  const size = field(text, 'Average packet size', `request ${NUM}, response ${NUM}`);
  const latency = field(text, 'Average Latency \\(s\\)', `${NUM} \\(min ${NUM}, max ${NUM}\\)`);
  const stddev = /^\s*Latency StdDev \(s\):\s*([0-9.]+)/m.exec(text);
  return {
    sent,
    completed,
    lost,
    lostPct: sent === 0 ? 0 : (100 * lost) / sent,
    rcodes,
    avgRequestBytes: Number(size[1]),
    avgResponseBytes: Number(size[2]),
    runTimeSec: Number(field(text, 'Run time \\(s\\)', NUM)[1]),
    qps: Number(field(text, 'Queries per second', NUM)[1]),
    avgLatencyMs: Number(latency[1]) * 1000,
    minLatencyMs: Number(latency[2]) * 1000,
    maxLatencyMs: Number(latency[3]) * 1000,
    ...(stddev ? { stddevLatencyMs: Number(stddev[1]) * 1000 } : {}),
  };
}

/** Latencies (seconds) of answered queries, read from `-v` lines; "> T …" (timeout) lines count as lost. */
export class LatencyCollector {
  private values: number[] = [];
  timedOut = 0;

  /** Feeds one output line; lines other than per-query reports are ignored. */
  add(line: string): void {
    if (!line.startsWith('> ')) return;
    const parts = line.split(' ');
    // "> RCODE name type latency" for an answer, "> T name type" for a timeout, "> I …" interrupted.
    if (parts.length === 5 && /^[A-Z0-9]+$/.test(parts[1]) && parts[1] !== 'T' && parts[1] !== 'I') {
      const seconds = Number(parts[4]);
      if (Number.isFinite(seconds)) this.values.push(seconds);
      return;
    }
    if (parts[1] === 'T') this.timedOut++;
  }

  get count(): number {
    return this.values.length;
  }

  /** Percentiles in milliseconds (nearest-rank), e.g. percentiles([50, 99]). */
  percentilesMs(ps: readonly number[]): number[] {
    const sorted = Float64Array.from(this.values).sort();
    return ps.map((p) => percentile(sorted, p) * 1000);
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  samples: number;
  /** The -v run's own summary (its rate is lower than a quiet run's: printing costs dnsperf time). */
  summary: DnsperfSummary;
}

/**
 * Runs dnsperf and returns its statistics; throws with dnsperf's output when it fails.
 * `onStart` gets dnsperf's PID (to measure its CPU time).
 */
export async function runDnsperf(run: DnsperfRun, onStart?: (pid: number | undefined) => void, dnsperf = 'dnsperf'): Promise<DnsperfSummary> {
  const { command, args } = dnsperfCommand({ ...run, verbose: false }, dnsperf);
  const proc = startProcess('dnsperf', command, args, { collectStdout: true });
  onStart?.(proc.pid);
  const exit = await proc.exited;
  if (exit.error) throw new Error(`dnsperf could not start: ${exit.error.message}`);
  if (exit.code !== 0) throw new Error(`dnsperf exited with code ${exit.code}, signal ${exit.signal}:\n${proc.tail()}`);
  return parseDnsperfSummary(proc.stdout());
}

/** Runs dnsperf -v with stdout to `outFile`, then reads the per-query latencies from it. */
export async function runDnsperfLatency(run: DnsperfRun, outFile: string, dnsperf = 'dnsperf'): Promise<LatencyResult> {
  const fd = openSync(outFile, 'w');
  let exit;
  let tail: string;
  try {
    const { command, args } = dnsperfCommand({ ...run, verbose: true }, dnsperf);
    const result = await runProcess('dnsperf -v', command, args, { stdoutFd: fd });
    exit = result.exit;
    tail = result.process.tail();
  } finally {
    closeSync(fd);
  }
  if (exit.code !== 0) throw new Error(`dnsperf -v exited with code ${exit.code}, signal ${exit.signal}:\n${tail}`);
  const collector = new LatencyCollector();
  const statistics: string[] = [];
  let inStatistics = false;
  const lines = createInterface({ input: createReadStream(outFile, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.startsWith('Statistics:')) inStatistics = true;
    if (inStatistics) statistics.push(line);
    else collector.add(line);
  }
  const [p50Ms, p99Ms] = collector.percentilesMs([50, 99]);
  return { p50Ms, p99Ms, samples: collector.count, summary: parseDnsperfSummary(statistics.join('\n')) };
}
