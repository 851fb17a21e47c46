import { closeSync, openSync, readSync } from 'node:fs';
import { LabError } from './errors';
import type { LabProcess } from './process';

/**
 * A service's log file, followed by polling (the mesh's processes write to files, not pipes, so
 * they outlive a detached `wgmesh lab up`). wgmesh services write one JSON object per line with
 * `time` and `msg`; nats-server and redis-server write plain text. Lines are kept in memory.
 */
export interface LogEntry {
  /** Index of the line in the file. */
  index: number;
  line: string;
  /** The JSON object, for wgmesh's structured lines. */
  json?: Record<string, unknown> & { time?: string; msg?: string };
  /** ms since the epoch: the line's own `time` when it has one, else when we read it. */
  at: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Only lines from this index on (e.g. `log.length` before a restart). */
  from?: number;
  /** Fail early, with the log's tail, when this process exits. */
  process?: LabProcess;
  /** Poll interval; default 10 ms. */
  intervalMs?: number;
}

export class LogFile {
  readonly entries: LogEntry[] = [];
  private offset = 0;
  private partial = '';

  constructor(
    readonly path: string,
    /** Shown in error messages: "registry", "member a", "nats-server". */
    readonly what: string,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  /** Reads what was appended since the last poll; returns the new entries. */
  poll(): LogEntry[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const chunks: Buffer[] = [];
    try {
      const buf = Buffer.allocUnsafe(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
        this.offset += n;
      }
    } finally {
      closeSync(fd);
    }
    if (chunks.length === 0) return [];
    const parts = (this.partial + Buffer.concat(chunks).toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    const now = Date.now();
    const added = parts.map((line) => {
      const entry: LogEntry = { index: this.entries.length, line, at: now };
      const json = parseJsonLine(line);
      if (json) {
        entry.json = json;
        const t = typeof json.time === 'string' ? Date.parse(json.time) : NaN;
        if (Number.isFinite(t)) entry.at = t;
      }
      this.entries.push(entry);
      return entry;
    });
    return added;
  }

  /** The first entry (from `from` on) that matches; polls until it appears. */
  async waitFor(match: RegExp | ((e: LogEntry) => boolean), options: WaitOptions = {}): Promise<LogEntry> {
    const test = typeof match === 'function' ? match : (e: LogEntry) => match.test(e.line);
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let seen = options.from ?? 0;
    for (;;) {
      this.poll();
      for (; seen < this.entries.length; seen++) if (test(this.entries[seen])) return this.entries[seen];
      if (options.process && !options.process.running) {
        this.poll();
        for (; seen < this.entries.length; seen++) if (test(this.entries[seen])) return this.entries[seen];
        throw new LabError(`${this.what} exited (${JSON.stringify(options.process.exitStatus)}) before logging ${describe(match)}; ${this.path} ends:\n${this.tail()}`);
      }
      if (Date.now() > deadline) throw new LabError(`${this.what}: nothing matching ${describe(match)} in ${this.path} after ${options.timeoutMs ?? 15_000} ms; it ends:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 10));
    }
  }

  /** Entries whose JSON `msg` is `msg` (wgmesh's structured lines). */
  messages(msg: string): LogEntry[] {
    this.poll();
    return this.entries.filter((e) => e.json?.msg === msg);
  }

  /** The last lines, for error messages. */
  tail(n = 15): string {
    this.poll();
    return this.entries
      .slice(-n)
      .map((e) => e.line)
      .join('\n');
  }
}

/** The JSON object on a structured log line, or undefined for any other line. */
export function parseJsonLine(line: string): (Record<string, unknown> & { time?: string; msg?: string }) | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** A matcher for wgmesh's structured line with this `msg` (and these field values). */
export function logMessage(msg: string, fields: Record<string, unknown> = {}): (e: LogEntry) => boolean {
  return (e) => e.json?.msg === msg && Object.entries(fields).every(([k, v]) => e.json?.[k] === v);
}

function describe(match: RegExp | ((e: LogEntry) => boolean)): string {
  return typeof match === 'function' ? 'the expected line' : String(match);
}
