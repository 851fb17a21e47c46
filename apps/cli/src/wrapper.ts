import { readFileSync } from 'node:fs';

// `npx wgmesh member up …` runs us under two wrappers: npm (`npm exec …`) and the shell it
// starts (`sh -c wgmesh …`). Stopping npm (Ctrl-C in another terminal, SIGTERM from a service
// manager, the terminal closing) ends npm and its shell, but the shell does not pass the signal on:
// the service would run on, orphaned. So when our wrappers are npm's, we stop as on SIGTERM once
// either of them is gone. A service started by anything else (a process manager, the lab, a shell
// of the user's) is left alone when its parent exits: detached is what they ask for.

interface Ancestor {
  pid: number;
  /** From /proc/<pid>/stat: tells a reused PID from the process we saw. */
  startTime: string;
  cmdline: string;
}

function ancestor(pid: number): Ancestor | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, startTime: fields[19], cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() };
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** npm's own process (`npm exec …`, `npm run …`, `npm start`, or npx's). */
export function isNpm(cmdline: string): boolean {
  return /^(npm|npx)( |$)/.test(cmdline) || /(^|\/)(npm|npx)-cli\.js( |$)/.test(cmdline) || /^\S*node \S*\/bin\/(npm|npx)( |$)/.test(cmdline);
}

/** The wrappers to follow: our parent (and its parent when the parent is a shell) when npm is one of them; none otherwise. */
export function npmWrappers(chain: readonly Ancestor[]): Ancestor[] {
  const [parent, grandparent] = chain;
  if (!parent) return [];
  if (isNpm(parent.cmdline)) return [parent];
  if (/^(\/\S*\/)?(sh|bash|dash)( |$)/.test(parent.cmdline) && grandparent && isNpm(grandparent.cmdline)) return [parent, grandparent];
  return [];
}

/**
 * Under npm's wrappers, checks every second that they are still there, and sends ourselves
 * SIGTERM (the normal shutdown) when one is gone. Returns a stop function, or null when not
 * wrapped by npm.
 */
export function exitWithNpmWrapper(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): (() => void) | null {
  const parent = ancestor(process.ppid);
  const grand = parent ? parentOf(parent.pid) : null;
  const chain = [parent, grand !== null ? ancestor(grand) : null].filter((a): a is Ancestor => a !== null);
  const wrappers = npmWrappers(chain);
  if (wrappers.length === 0) return null;
  const timer = setInterval(() => {
    const gone = wrappers.find((w) => ancestor(w.pid)?.startTime !== w.startTime);
    if (!gone) return;
    clearInterval(timer);
    log(`wgmesh: the npm wrapper that started this process (pid ${gone.pid}: ${gone.cmdline.slice(0, 60)}) is gone; stopping`);
    process.kill(process.pid, 'SIGTERM');
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}
