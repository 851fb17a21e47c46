import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time from /proc (Linux): how many cores the server, dnsperf and everything else used during
 * a run. On a shared 2-core machine this tells whether the server was saturated, whether dnsperf
 * was the bottleneck, and whether other work on the machine disturbed the measurement.
 */

/** Clock ticks per second of /proc times (USER_HZ: 100 on Linux on every common architecture). */
export const TICKS_PER_SECOND = 100;

/** utime + stime (ticks) from a /proc/<pid>/stat line, and the process group. */
export function parseProcStat(line: string): { ticks: number; pgrp: number } {
  // The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
  return { pgrp: Number(fields[2]), ticks: Number(fields[11]) + Number(fields[12]) };
}

export interface SystemTicks {
  /** Ticks not idle, interrupts included. */
  busy: number;
  /** Interrupt and softirq ticks (loopback packet processing lands here), charged to no process. */
  interrupts: number;
  total: number;
}

/** Ticks of all CPUs from the first line of /proc/stat. */
export function parseSystemStat(text: string): SystemTicks {
  const line = text.slice(0, text.indexOf('\n'));
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = v[3] + v[4];
  return { busy: total - idle, interrupts: v[5] + v[6], total };
}

function readStat(pid: number): { ticks: number; pgrp: number } | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw err;
  }
}

/** CPU ticks of every live process in a process group (a server and its cluster workers). */
export function groupTicks(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgrp === pgid) ticks += stat.ticks;
  }
  return ticks;
}

export function systemTicks(): SystemTicks {
  return parseSystemStat(readFileSync('/proc/stat', 'utf8'));
}

export interface CpuUse {
  /** Cores used on average over the run (1.0 = one core fully busy). */
  server: number;
  dnsperf: number;
  /** irq + softirq time (the kernel's packet work, charged to no process). */
  interrupts: number;
  /** Everything else on the machine: other processes disturbing the measurement. */
  other: number;
}

/**
 * Samples a run: the server's group at start and end; dnsperf every 100 ms (it has exited by the
 * end, so its last sample is used: at most ~100 ms of its time is missed).
 */
export class CpuMeter {
  private readonly start = systemTicks();
  private readonly serverStart: number;
  private readonly startedAt = process.hrtime.bigint();
  private clientTicks = 0;
  private clientPid: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly serverPgid: number) {
    this.serverStart = groupTicks(serverPgid);
  }

  watchClient(pid: number | undefined): void {
    this.clientPid = pid;
    if (pid === undefined) return;
    this.timer = setInterval(() => this.sampleClient(), 100);
  }

  private sampleClient(): void {
    if (this.clientPid === undefined) return;
    const stat = readStat(this.clientPid);
    if (stat) this.clientTicks = stat.ticks;
  }

  stop(): CpuUse {
    if (this.timer) clearInterval(this.timer);
    const seconds = Number(process.hrtime.bigint() - this.startedAt) / 1e9;
    const end = systemTicks();
    const server = (groupTicks(this.serverPgid) - this.serverStart) / TICKS_PER_SECOND / seconds;
    const dnsperf = this.clientTicks / TICKS_PER_SECOND / seconds;
    const busy = (end.busy - this.start.busy) / TICKS_PER_SECOND / seconds;
    const interrupts = (end.interrupts - this.start.interrupts) / TICKS_PER_SECOND / seconds;
    return { server, dnsperf, interrupts, other: Math.max(0, busy - interrupts - server - dnsperf) };
  }
}
