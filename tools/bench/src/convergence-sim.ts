import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { DesiredPeer, PeerState } from '@wgmesh/contracts';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff } from '@wgmesh/dataplane';
import { createLogger } from '@wgmesh/log';
import { PeerStore } from '@wgmesh/peer-store';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { meshWildcard } from '@wgmesh/contracts';
import { parsePeerDiscoveryArgs, RunningPeerDiscovery, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import { simAddress, simEndpoint, simKey, SimToParent, SimToWorker } from './convergence-sim-model';

/**
 * The convergence benchmark's simulated part: N members' real member-mode logic against the
 * machine's real NATS and Redis, dataplane replaced by a recording function ("simulated").
 *
 * - The registry: peer-discovery in registry mode, in this process, watching an in-memory hub
 *   device (SimulatedHub) that holds the N members with endpoints. It publishes through the real
 *   write path: HubWatcher → PeerPublisher → Redis (revision) → NATS `peers.events`.
 * - The members: peer-discovery in member mode (startPeerDiscovery, each with its own two NATS
 *   connections, mirror, scheduler and desired-set computation), spread over worker processes.
 * - One change: a member's endpoint moves on the hub device and the watcher is poked (its next
 *   read now rather than within --watch-interval); the time runs from there to each other
 *   member's first apply request that carries the new endpoint.
 */
const WORKSPACE = resolve(__dirname, '../../..');
const now = () => performance.timeOrigin + performance.now();

export interface SimOptions {
  members: number;
  workers: number;
  changes: number;
  nats: string;
  redis: string;
  applyDelayMs: number;
  progress: (line: string) => void;
}

export interface SimResult {
  members: number;
  workers: number;
  changes: number;
  /** Start of all members (load the table, first apply), ms. */
  startMs: number;
  /** Resident memory per worker process after start, MB. */
  rssMb: number[];
  /** Every (change, member) pair: ms from the endpoint change on the hub device to that member's apply. */
  samples: number[];
  /** Per change: ms from the change until the registry's write path had published it. */
  publishMs: number[];
  /** Per change: the slowest member. */
  slowestMs: number[];
  /** Per change: CPU time the member processes spent on it, per member (ms). */
  cpuPerMemberMs: number[];
  /** Per change: CPU time of the registry's process (the bench's own, mostly the registry) from the change until every member had applied it (ms). */
  registryCpuMs: number[];
  /** Per change: the registry process's heap growth (MB; negative when a GC ran meanwhile). */
  registryHeapMb: number[];
  /** The registry process's resident memory and heap after the changes (MB). */
  registryRssMb: number;
  registryHeapUsedMb: number;
  /** Per change: messages published on the mesh's subjects (`wgmesh.v1.<mesh>.>`), and their bytes. */
  natsMessages: number[];
  natsBytes: number[];
  /** The largest message seen on the mesh's subjects during the whole run (bytes; start-up included). */
  natsLargest: number;
  /** Messages per subject (mesh and node stripped) during the changes. */
  natsBySubject: Record<string, number>;
}

/** An in-memory hub device: the DataplaneDriver the registry watcher reads. */
export class SimulatedHub implements DataplaneDriver {
  readonly kind = 'uapi' as const;
  readonly device = 'simhub';
  readonly peers = new Map<string, PeerState>();

  constructor(readonly publicKey: string) {}

  async ensureDevice(_spec: DeviceSpec): Promise<void> {}

  async read(): Promise<DeviceState> {
    return { publicKey: this.publicKey, listenPort: 51820, peers: [...this.peers.values()].map((p) => ({ ...p, allowedIps: [...p.allowedIps] })) };
  }

  async apply(diff: PeerDiff): Promise<void> {
    for (const key of diff.remove) this.peers.delete(key);
    for (const p of diff.upsert) this.set(p);
  }

  set(p: DesiredPeer): void {
    this.peers.set(p.publicKey, { publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: [...p.allowedIps], latestHandshake: 1_700_000_000, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 });
  }

  async close(): Promise<void> {}
}

/** A worker process of simulated members, and the replies awaited from it by key ("ready", "applied:3"). */
class Worker {
  readonly ready: Promise<Extract<SimToParent, { type: 'ready' }>>;
  private readonly waiting = new Map<string, { resolve: (m: SimToParent) => void; reject: (e: Error) => void }>();
  private failed: Error | null = null;

  constructor(
    readonly child: ChildProcess,
    readonly from: number,
    readonly to: number,
  ) {
    child.on('message', (m: SimToParent) => {
      if (m.type === 'error') return this.fail(new Error(`simulated members ${from}-${to - 1}: ${m.message}`));
      const key = m.type === 'ready' ? 'ready' : `${m.type}:${m.id}`;
      this.waiting.get(key)?.resolve(m);
    });
    child.on('error', (err) => this.fail(new Error(`simulated members ${from}-${to - 1}: ${err.message}`)));
    child.once('exit', (code, sig) => this.fail(new Error(`simulated members ${from}-${to - 1}: worker exited (${code ?? sig})`)));
    this.ready = this.next('ready', Math.max(180_000, (to - from) * 1500)) as Promise<Extract<SimToParent, { type: 'ready' }>>;
  }

  send(m: SimToWorker): void {
    if (this.child.connected) this.child.send(m);
  }

  /** The next reply with this key; rejects after `timeoutMs` or when the worker fails. */
  next(key: string, timeoutMs: number): Promise<SimToParent> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolvePromise, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(key);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`simulated members ${this.from}-${this.to - 1}: no ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, {
        resolve: (m) => {
          done();
          resolvePromise(m);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
    });
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    for (const w of [...this.waiting.values()]) w.reject(err);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null || !this.child.connected) {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      return;
    }
    const exited = new Promise((r) => this.child.once('exit', r));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

export async function runSimulation(o: SimOptions): Promise<SimResult> {
  const mesh = `bench${randomBytes(4).toString('hex')}`;
  const log = createLogger({ service: 'sim-registry', level: 'error' });
  const redis = new Redis(o.redis, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const hub = new SimulatedHub(simKey(9_999_999));
  for (let i = 0; i < o.members; i++) hub.set({ publicKey: simKey(i), endpoint: simEndpoint(i), allowedIps: [`${simAddress(i)}/32`] });

  const workers: Worker[] = [];
  let registry: RunningPeerDiscovery | undefined;
  let cleaning: Promise<void> | undefined;
  let closeCounter: () => Promise<void> = async () => undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await registry?.close();
      await closeCounter().catch(() => undefined);
      await new PeerStore(redis, mesh).clear().catch(() => undefined);
      redis.disconnect();
    })());
  // Ctrl-C: stop the workers and remove the mesh's Redis keys before exiting.
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping the simulated members and removing mesh ${mesh} from Redis…\n`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Every message on the mesh's subjects (requests' replies on _INBOX are not counted).
    const counterConn = await connect({ servers: o.nats, name: 'wgmesh-bench-counter' });
    closeCounter = () => counterConn.close();
    const counting = { on: false, messages: 0, bytes: 0, largest: 0, bySubject: {} as Record<string, number> };
    const prefix = meshWildcard(mesh).slice(0, -1);
    counterConn.subscribe(meshWildcard(mesh), {
      callback: (_err, msg) => {
        counting.largest = Math.max(counting.largest, msg.data.length);
        if (!counting.on) return;
        counting.messages++;
        counting.bytes += msg.data.length;
        const subject = msg.subject.slice(prefix.length).replace(/^node\.[^.]+\./, 'node.<id>.');
        counting.bySubject[subject] = (counting.bySubject[subject] ?? 0) + 1;
      },
    });
    await counterConn.flush();
    const config = parsePeerDiscoveryArgs(['--mode', 'registry', '--mesh', mesh, '--nats', o.nats, '--redis', o.redis, '--device', hub.device])!;
    registry = await startPeerDiscovery(config, log, { driver: hub });
    const store = new PeerStore(redis, mesh);
    for (const deadline = Date.now() + 60_000; (await store.snapshot()).peers.length < o.members; ) {
      if (Date.now() > deadline) throw new Error('the registry did not publish every simulated member within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    o.progress(`simulated: registry (mesh ${mesh}) published ${o.members} members; starting them in ${o.workers} worker processes…`);

    const started = Date.now();
    const per = Math.ceil(o.members / o.workers);
    for (let w = 0; w < o.workers; w++) {
      const from = w * per;
      const to = Math.min(o.members, from + per);
      if (from >= to) break;
      const child = fork(join(__dirname, 'convergence-sim-worker.ts'), [], {
        execArgv: ['-r', join(WORKSPACE, 'bin/register.js'), '--max-old-space-size=8192'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const worker = new Worker(child, from, to);
      workers.push(worker);
      worker.send({ type: 'start', mesh, nats: o.nats, hubKey: hub.publicKey, from, to, applyDelayMs: o.applyDelayMs });
    }
    const ready = await Promise.all(workers.map((w) => w.ready));
    const startMs = Date.now() - started;
    o.progress(`simulated: ${o.members} members up in ${startMs} ms (rss ${ready.map((r) => `${r.rssMb} MB`).join(', ')})`);

    const samples: number[] = [];
    const publishMs: number[] = [];
    const slowestMs: number[] = [];
    const cpuPerMemberMs: number[] = [];
    const registryCpuMs: number[] = [];
    const registryHeapMb: number[] = [];
    const natsMessages: number[] = [];
    const natsBytes: number[] = [];
    for (let c = 0; c < o.changes; c++) {
      const mover = (c * 97 + 13) % o.members;
      const endpoint = simEndpoint(mover, c + 1);
      const publicKey = simKey(mover);
      await Promise.all(
        workers.map((w) => {
          const watching = w.next(`watching:${c}`, 10_000);
          w.send({ type: 'watch', id: c, publicKey, endpoint, except: mover });
          return watching;
        }),
      );
      const applied = workers.map((w) => w.next(`applied:${c}`, 60_000));
      const [messages0, bytes0] = [counting.messages, counting.bytes];
      counting.on = true;
      const heap0 = process.memoryUsage().heapUsed;
      const cpu0 = process.cpuUsage();
      const t0 = now();
      hub.set({ publicKey, endpoint, allowedIps: [`${simAddress(mover)}/32`] });
      await registry.hub!.poke();
      publishMs.push(now() - t0);
      const replies = (await Promise.all(applied)).flatMap((m) => (m.type === 'applied' ? [m] : []));
      const cpu = process.cpuUsage(cpu0);
      registryCpuMs.push((cpu.user + cpu.system) / 1000);
      registryHeapMb.push((process.memoryUsage().heapUsed - heap0) / 1e6);
      await counterConn.flush(); // (the change's messages have reached the counter)
      natsMessages.push(counting.messages - messages0);
      natsBytes.push(counting.bytes - bytes0);
      const times = replies.flatMap((m) => m.times);
      cpuPerMemberMs.push(replies.reduce((sum, m) => sum + m.cpuMs, 0) / times.length);
      const ms = times.map((t) => t - t0);
      samples.push(...ms);
      slowestMs.push(Math.max(...ms));
      o.progress(`simulated: change ${c + 1}/${o.changes} (member ${mover}): published after ${publishMs.at(-1)!.toFixed(1)} ms, all ${ms.length} other members applied it after ${Math.max(...ms).toFixed(0)} ms (${cpuPerMemberMs.at(-1)!.toFixed(2)} ms CPU per member; registry ${registryCpuMs.at(-1)!.toFixed(1)} ms CPU; ${natsMessages.at(-1)} NATS messages)`);
      await new Promise((r) => setTimeout(r, 500));
    }
    counting.on = false;
    const mem = process.memoryUsage();
    return {
      members: o.members, workers: workers.length, changes: o.changes, startMs, rssMb: ready.map((r) => r.rssMb), samples, publishMs, slowestMs, cpuPerMemberMs,
      registryCpuMs, registryHeapMb, registryRssMb: mem.rss / 1e6, registryHeapUsedMb: mem.heapUsed / 1e6,
      natsMessages, natsBytes, natsLargest: counting.largest, natsBySubject: counting.bySubject,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}
