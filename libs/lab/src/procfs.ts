import { readdirSync, readFileSync, statSync } from 'node:fs';

/**
 * What /proc tells about processes: a process's start time (with its PID, an identity that
 * survives PID reuse), and which processes live in a given network namespace (as `ip netns pids`
 * does, without a fork per namespace).
 */

export interface ProcessStat {
  /** R, S, D, … ; Z (zombie) and X (dead) mean the process has ended. */
  state: string;
  /** Field 22: clock ticks after boot. */
  startTime: number;
}

/** /proc/<pid>/stat, or undefined when the process is gone. */
export function processStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
  return parseStat(text);
}

/** The comm field may hold spaces and parentheses: the fields after it start past the last ")". */
export function parseStat(stat: string): ProcessStat | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTime = Number(rest[22 - 3]);
  return rest[0] && Number.isFinite(startTime) ? { state: rest[0], startTime } : undefined;
}

export function processStartTime(pid: number): number | undefined {
  return processStat(pid)?.startTime;
}

/** Runs and has not ended (a zombie waiting for its parent counts as ended). */
export function isRunning(pid: number): boolean {
  const st = processStat(pid)?.state;
  return st !== undefined && st !== 'Z' && st !== 'X';
}

/** True when `pid` runs and is the same process that started at `startTime`. */
export function isSameProcess(pid: number, startTime: number): boolean {
  return processStartTime(pid) === startTime;
}

/** The namespace's identity (device and inode of its nsfs file), or undefined when it is gone. */
export function namespaceId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

/** PIDs of every process whose network namespace is one of `namespaceIds`. */
export function pidsInNamespaces(namespaceIds: ReadonlySet<string>): number[] {
  if (namespaceIds.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const id = namespaceId(`/proc/${entry}/ns/net`);
    if (id !== undefined && namespaceIds.has(id)) pids.push(Number(entry));
  }
  return pids;
}

/** Sends a signal; a process that is already gone is not an error. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The process (or its namespace file) went away while we looked; zombies have no ns links. */
function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR' || code === 'EINVAL' || code === 'EACCES';
}
