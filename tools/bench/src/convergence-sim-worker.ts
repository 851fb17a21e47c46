import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import type { DataplaneApplyRequest, DataplaneApplyResult } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import type { Enrollment } from '@wgmesh/peer-discovery';
import { parsePeerDiscoveryArgs, RunningPeerDiscovery, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import { simAddress, simKey, SimToParent, SimToWorker } from './convergence-sim-model';

/**
 * One process of simulated members (forked by convergence-sim.ts): each member is the real
 * peer-discovery member mode (startPeerDiscovery: its own NATS connections, PeerMirror,
 * coalescing scheduler, desired-set computation) whose dataplane-programmer is replaced by a
 * recording function. For each watched change it records when the member's apply first includes
 * it, and reports the times to the parent once every member has applied it.
 */
const now = () => performance.timeOrigin + performance.now();
const send = (m: SimToParent) => process.send!(m);

interface Watch {
  id: number;
  publicKey: string;
  endpoint: string;
  times: number[];
  /** Members done (the changed member itself is done from the start). */
  seen: Set<number>;
  expected: number;
  cpu: NodeJS.CpuUsage;
}

const running: RunningPeerDiscovery[] = [];
/** Members started but not yet through their first apply, at most (per worker). */
const START_AHEAD = 100;
let range = { from: 0, to: 0 };
const firstApply = new Set<number>();
let watch: Watch | null = null;

function applyFor(index: number) {
  return async (req: DataplaneApplyRequest): Promise<DataplaneApplyResult> => {
    const at = now();
    firstApply.add(index);
    const w = watch;
    if (w && !w.seen.has(index) && req.peers.some((p) => p.publicKey === w.publicKey && p.endpoint === w.endpoint)) {
      w.seen.add(index);
      w.times.push(at);
      if (w.seen.size === w.expected) {
        const cpu = process.cpuUsage(w.cpu);
        send({ type: 'applied', id: w.id, times: w.times, cpuMs: (cpu.user + cpu.system) / 1000 });
        watch = null;
      }
    }
    return { added: 0, updated: 0, removed: 0, unchanged: req.peers.length, durationMs: 0 };
  };
}

async function start(m: Extract<SimToWorker, { type: 'start' }>): Promise<void> {
  const started = Date.now();
  range = { from: m.from, to: m.to };
  const debugLog = process.env.WGMESH_SIM_DEBUG ? `${process.env.WGMESH_SIM_DEBUG}.${m.from}.log` : null;
  const log = createLogger({ service: 'sim-member', level: debugLog ? 'info' : 'error', ...(debugLog ? { write: (line: string) => appendFileSync(debugLog, `${line}\n`) } : {}) });
  const config = parsePeerDiscoveryArgs(['--mode', 'member', '--mesh', m.mesh, '--nats', m.nats, '--apply-delay', String(m.applyDelayMs)])!;
  for (let i = m.from; i < m.to; i++) {
    const enrollment: Enrollment = {
      version: 1,
      name: `sim${i}`,
      publicKey: simKey(i),
      enrolledAt: new Date().toISOString(),
      address: `${simAddress(i)}/32`,
      meshCidr: '10.99.0.0/16',
      registry: { publicKey: m.hubKey, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
    };
    // At most START_AHEAD members loading the table at once: on a busy machine more time out
    // against the registry's snapshot (5 s) and retry, and the start never ends.
    while (i - m.from - firstApply.size >= START_AHEAD) await new Promise((r) => setTimeout(r, 10));
    running.push(await startPeerDiscovery(config, log, { enrollment, apply: applyFor(i) }));
    if ((i - m.from) % 500 === 499) process.stderr.write(`worker ${m.from}: ${i - m.from + 1} started after ${Date.now() - started} ms, ${firstApply.size} applied\n`);
  }
  if (process.env.WGMESH_SIM_DEBUG) process.stderr.write(`worker ${m.from}: all started after ${Date.now() - started} ms, ${firstApply.size} applied\n`);
  // Ready once every member has loaded the table and applied its first desired set.
  const deadline = Date.now() + Math.max(120_000, (m.to - m.from) * 1000);
  while (firstApply.size < m.to - m.from) {
    if (Date.now() > deadline) throw new Error(`only ${firstApply.size} of ${m.to - m.from} simulated members applied a first desired set within ${Math.round((deadline - started) / 1000)} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  send({ type: 'ready', members: running.length, ms: Date.now() - started, rssMb: Math.round(process.memoryUsage().rss / 1e6) });
}

/**
 * WGMESH_SIM_PROF=<dir>: a CPU profile of the changes only (from the first watch until stop), not
 * of the start, written to <dir>/sim-<first member>.cpuprofile.
 */
let profiling: Session | null = null;
function startProfile(): void {
  if (!process.env.WGMESH_SIM_PROF || profiling) return;
  profiling = new Session();
  profiling.connect();
  profiling.post('Profiler.enable', () => profiling!.post('Profiler.start'));
}
function stopProfile(): Promise<void> {
  const session = profiling;
  if (!session) return Promise.resolve();
  return new Promise((resolve) =>
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(process.env.WGMESH_SIM_PROF!, `sim-${range.from}.cpuprofile`), JSON.stringify(res.profile));
      session.disconnect();
      resolve();
    }),
  );
}

process.on('message', (m: SimToWorker) => {
  switch (m.type) {
    case 'start':
      start(m).catch((err: Error) => {
        send({ type: 'error', message: err.message });
        process.exit(1);
      });
      break;
    case 'watch': {
      startProfile();
      // The changed member never has itself as a peer: it counts as done from the start.
      const own = m.except >= range.from && m.except < range.to;
      watch = { id: m.id, publicKey: m.publicKey, endpoint: m.endpoint, times: [], seen: new Set(own ? [m.except] : []), expected: range.to - range.from, cpu: process.cpuUsage() };
      send({ type: 'watching', id: m.id });
      if (watch.seen.size === watch.expected) {
        send({ type: 'applied', id: m.id, times: [], cpuMs: 0 });
        watch = null;
      }
      break;
    }
    case 'stop':
      void stopProfile()
        .then(() => Promise.allSettled(running.map((r) => r.close())))
        .then(() => process.exit(0));
      setTimeout(() => process.exit(0), 10_000).unref();
      break;
  }
});
