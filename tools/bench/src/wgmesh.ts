import { join } from 'node:path';
import { startProcess } from './processes';
import type { RunningServer } from './server';

export interface StartWgmeshOptions {
  /** Workspace root (holds bin/wgmesh.js). */
  root: string;
  zone: string;
  mesh: string;
  host: string;
  port: number;
  redis: string;
  nats: string;
  workers: number;
  /** Peers the resolver must report having loaded ("peers" in its ready line). */
  expectPeers: number;
  timeoutMs?: number;
}

/** The resolver's JSON log line saying a worker answers DNS, or null for any other line. */
export function readyLine(line: string): { peers?: number } | null {
  if (!line.includes('"resolver ready"')) return null;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; peers?: unknown };
    if (entry.msg !== 'resolver ready') return null;
    return { peers: typeof entry.peers === 'number' ? entry.peers : undefined };
  } catch (err) {
    if (err instanceof SyntaxError) return null;
    throw err;
  }
}

/** Starts `wgmesh resolver` and waits for one "resolver ready" line per worker. */
export async function startWgmesh(o: StartWgmeshOptions): Promise<RunningServer> {
  const args = [
    join(o.root, 'bin', 'wgmesh.js'),
    'resolver',
    '--zone', o.zone,
    '--listen', `${o.host}:${o.port}`,
    '--mesh', o.mesh,
    '--redis', o.redis,
    '--nats', o.nats,
    '--workers', String(o.workers),
    '--log-level', 'info',
  ];
  // Tracing off (it is off anyway without an OTLP endpoint): the bench sends nothing beyond 127.0.0.1.
  const env = { ...process.env, OTEL_SDK_DISABLED: 'true' };
  const proc = startProcess(`wgmesh resolver (workers ${o.workers})`, process.execPath, args, { cwd: o.root, env });
  const wrongCount: number[] = [];
  try {
    await proc.waitForLines(
      (line) => {
        const ready = readyLine(line);
        if (ready && ready.peers !== undefined && ready.peers !== o.expectPeers) wrongCount.push(ready.peers);
        return ready !== null;
      },
      o.workers,
      o.timeoutMs ?? 120000,
      `"resolver ready" from ${o.workers} worker(s)`,
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  if (wrongCount.length > 0) {
    await proc.stop();
    throw new Error(`the resolver loaded ${wrongCount.join(', ')} peers, not the ${o.expectPeers} seeded; last output:\n${proc.tail()}`);
  }
  return {
    label: `wgmesh workers ${o.workers}`,
    kind: 'wgmesh',
    workers: o.workers,
    host: o.host,
    port: o.port,
    pid: proc.pid,
    stop: async () => {
      await proc.stop();
    },
  };
}
