import { join } from 'node:path';

/**
 * VPP's startup configuration for a small shared machine (2 cores, no hugepages, no DPDK): one
 * thread on core 0, 4 KiB pages for the heap, buffers and stats segment, every rx queue in
 * interrupt mode (never a busy-polling queue), and unique socket, log and shared-memory names so
 * that several VPPs run side by side. Stanza names as in VPP v26.06 (unix, socksvr, statseg,
 * api-segment, cpu, memory, buffers, interface, plugins).
 */
export interface VppConfigOptions {
  /** Holds the sockets (api.sock, cli.sock, stats.sock), vpp.log and vpp.pid; must exist before VPP starts (VPP opens the log first). */
  runtimeDir: string;
  /** Prefix of the API shared-memory segments (/dev/shm/<prefix>-*): unique per running VPP. */
  apiPrefix: string;
  /**
   * `unix { poll-sleep-usec }`: the main loop sleeps this long on every turn (about 1.5% of a core
   * when idle at 1000). null: VPP's own loop, which waits in epoll and wakes on input (faster API
   * processing; 3–7% of a core when idle once a WireGuard peer exists). Default 1000.
   */
  pollSleepUsec?: number | null;
  /** Main heap in MiB (default 512: 10,000 peers with routes fit). */
  mainHeapMb?: number;
  /** Plugins to load; every other plugin stays disabled (default af_packet, wireguard, ping, tap). */
  plugins?: readonly string[];
}

export const DEFAULT_PLUGINS = ['af_packet', 'wireguard', 'ping', 'tap'] as const;

/** Where VPP puts its API socket, CLI socket, log and pid file in `runtimeDir`. */
export function vppPaths(runtimeDir: string) {
  return {
    apiSocket: join(runtimeDir, 'api.sock'),
    cliSocket: join(runtimeDir, 'cli.sock'),
    statsSocket: join(runtimeDir, 'stats.sock'),
    log: join(runtimeDir, 'vpp.log'),
    pidFile: join(runtimeDir, 'vpp.pid'),
    config: join(runtimeDir, 'startup.conf'),
    output: join(runtimeDir, 'stdout.log'),
  };
}

export function startupConfig(o: VppConfigOptions): string {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(o.apiPrefix)) throw new Error(`VPP api-segment prefix "${o.apiPrefix}" must be 1-32 characters A-Z, a-z, 0-9, _ or -`);
  const p = vppPaths(o.runtimeDir);
  const sleep = o.pollSleepUsec === undefined ? 1000 : o.pollSleepUsec;
  const plugins = (o.plugins ?? DEFAULT_PLUGINS).map((name) => `  plugin ${name}_plugin.so { enable }`);
  return [
    'unix {',
    '  nodaemon',
    `  runtime-dir ${o.runtimeDir}`,
    `  cli-listen ${p.cliSocket}`,
    `  log ${p.log}`,
    `  pidfile ${p.pidFile}`,
    '  nosyslog',
    '  cli-no-pager',
    ...(sleep === null ? [] : [`  poll-sleep-usec ${sleep}`]),
    '}',
    `socksvr { socket-name ${p.apiSocket} }`,
    `statseg { socket-name ${p.statsSocket} page-size 4k }`,
    `api-segment { prefix ${o.apiPrefix} }`,
    'cpu { main-core 0 }',
    `memory { main-heap-size ${o.mainHeapMb ?? 512}M main-heap-page-size 4k }`,
    'buffers { buffers-per-numa 16384 page-size 4k }',
    'interface { default-rx-mode interrupt }',
    'plugins {',
    '  plugin default { disable }',
    ...plugins,
    '}',
    '',
  ].join('\n');
}
