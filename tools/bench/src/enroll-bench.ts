import { ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { formatOptionsHelp, defineOptions, parseCommand, values } from '@wgmesh/config';
import { localUrl } from './local-url';
import { parseDataplaneApplyRequest, Patterns } from '@wgmesh/contracts';
import { createLogger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore } from '@wgmesh/peer-store';
import { destroyRegistryState, nonceBucket, openRegistryState, stateBucket, TokenStore } from '@wgmesh/registry';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import { parsePeerDiscoveryArgs, RunningPeerDiscovery, startPeerDiscovery } from '@wgmesh/app/peer-discovery';
import { Redis } from 'ioredis';
import { SimulatedHub } from './convergence-sim';
import { percentile } from './dnsperf';
import type { FromClient, ToClient } from './enroll-bench-client';
import { markdownTable } from './report';

/**
 * Enrolment at scale: N members enrol, C at a time, with real enrolment requests (the member's
 * own request builder: token proof, proof of key possession, fresh nonce) against the real
 * registry (peer-discovery in registry mode, in this process: nonce book, token use, membership
 * claim in the NATS JetStream KV store of record, hub programming, peer table in Redis) whose
 * hub device is in memory (SimulatedHub, with a stand-in for its dataplane-programmer). The
 * members run in a worker process, so this process's CPU is the registry's. One fresh mesh per
 * (N, C), removed afterwards (its KV buckets and Redis keys). Prints a table; not a test.
 */
const WORKSPACE = resolve(__dirname, '../../..');

const options = defineOptions([
  { key: 'members', flag: 'members', value: '<n,n…>', parse: list(1, 60_000), default: '1000,10000', description: 'members to enrol, one run per size and concurrency' },
  { key: 'concurrency', flag: 'concurrency', value: '<n,n…>', parse: list(1, 256), default: '1,8,32', description: 'enrolment requests in flight (one NATS connection each)' },
  { key: 'cidr', flag: 'mesh-cidr', value: '<cidr>', parse: values.string, default: '10.64.0.0/16', description: "the mesh CIDR (room for the largest --members)" },
  { key: 'nats', flag: 'nats', value: '<url>', parse: localUrl(['nats']), default: 'nats://127.0.0.1:4222', description: 'NATS with JetStream (this machine only)' },
  { key: 'redis', flag: 'redis', value: '<url>', parse: localUrl(['redis']), default: 'redis://127.0.0.1:6379', description: 'Redis (this machine only)' },
  { key: 'json', flag: 'json', value: '<file>', parse: values.string, description: 'also write the results (with every latency) as JSON' },
]);

const usage = `Usage: npm run bench:enroll -- [options]

Enrols N members, C requests at a time, into a fresh mesh on this machine's NATS (JetStream KV,
the store of record) and Redis, through the real registry with an in-memory hub device; prints
enrolments/s, latency p50/p99, the registry's CPU per enrolment and the store's bytes per member.
Profile the registry with: node --cpu-prof -r ./bin/register.js tools/bench/src/enroll-bench.ts

Options:
${formatOptionsHelp(options)}`;

const progress = (line: string) => process.stderr.write(`${line}\n`);

export interface EnrollRun {
  members: number;
  concurrency: number;
  /** Enrolments that got an address. */
  enrolled: number;
  errors: Record<string, number>;
  /** From the first request to the last reply (ms). */
  wallMs: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU of the registry's process (this one) while enrolling, ms per enrolment. */
  registryCpuMs: number;
  /** CPU of the members' process (building requests, NATS client), ms per enrolment. */
  clientCpuMs: number;
  /** After the last reply, until the peer table (Redis) held every member (ms). */
  publishedAfterMs: number;
  /** The store of record after the run: its bucket's bytes and keys, and the nonce bucket's. */
  kvBytes: number;
  kvKeys: number;
  nonceBytes: number;
  nonceKeys: number;
  /** Redis memory of the mesh's peer table (MEMORY USAGE of its keys). */
  redisBytes: number;
  registryRssMb: number;
  latencies: number[];
}

export async function runEnrolment(o: { members: number; concurrency: number; cidr: string; nats: string; redis: string }): Promise<EnrollRun> {
  const mesh = `benr${randomBytes(4).toString('hex')}`;
  const log = createLogger({ service: 'bench-registry', level: 'error' });
  const redis = new Redis(o.redis, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const hubPrivate = generatePrivateKey();
  const hubKey = { publicKey: keyToBase64(publicKeyFromPrivate(hubPrivate)), privateKey: new SecretKey(hubPrivate) };
  const hub = new SimulatedHub(hubKey.publicKey);
  let bus: MeshBus | undefined;
  let registry: RunningPeerDiscovery | undefined;
  let client: ChildProcess | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      if (client && client.exitCode === null && client.signalCode === null) client.kill('SIGKILL');
      await registry?.close().catch(() => undefined);
      if (bus) await destroyRegistryState(bus.raw, mesh).catch((err: Error) => progress(`could not delete the KV buckets of mesh ${mesh}: ${err.message}`));
      await new PeerStore(redis, mesh).clear().catch((err: Error) => progress(`could not delete the Redis keys of mesh ${mesh}: ${err.message}`));
      await bus?.close().catch(() => undefined);
      redis.disconnect();
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping, removing mesh ${mesh} from NATS and Redis…\n`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    bus = await MeshBus.connect({ servers: o.nats, mesh, name: 'wgmesh-bench-hub' });
    // The hub's dataplane-programmer: applies the registry's requests to the in-memory device.
    bus.subscribe(
      Patterns.dataplaneApply,
      async (v) => {
        const req = parseDataplaneApplyRequest(v);
        await hub.apply({ upsert: req.peers, remove: req.remove ?? [] });
        return { added: req.peers.length, updated: 0, removed: req.remove?.length ?? 0, unchanged: 0, durationMs: 0 };
      },
      { node: 'registry' },
    );
    await bus.flush();
    const config = parsePeerDiscoveryArgs(['--mode', 'registry', '--mesh', mesh, '--nats', o.nats, '--redis', o.redis, '--device', hub.device, '--mesh-cidr', o.cidr, '--public-endpoint', '203.0.113.1:51820'])!;
    registry = await startPeerDiscovery(config, log, { driver: hub, hubKey });
    const { token } = await new TokenStore((await openRegistryState(bus.raw, mesh, { nonceTtlMs: 600_000 })).kv).create({ reusable: true, ttlSeconds: 3600, name: 'bench' });

    client = fork(join(__dirname, 'enroll-bench-client.ts'), [], { execArgv: ['-r', join(WORKSPACE, 'bin/register.js')], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replies = clientReplies(client);
    const toClient = (m: ToClient) => client!.send(m);
    toClient({ type: 'prepare', mesh, nats: o.nats, token, registryKey: hubKey.publicKey, members: o.members, concurrency: o.concurrency, namePrefix: 'm' });
    await replies.next('prepared');
    const cpu0 = process.cpuUsage();
    toClient({ type: 'go' });
    const done = (await replies.next('done')) as Extract<FromClient, { type: 'done' }>;
    const cpu = process.cpuUsage(cpu0);
    const doneAt = Date.now();
    const enrolled = done.latencies.length;
    const store = new PeerStore(redis, mesh);
    for (const deadline = Date.now() + 120_000; (await store.snapshot()).peers.length < enrolled; ) {
      if (Date.now() > deadline) throw new Error(`the peer table did not hold all ${enrolled} enrolled members within 120 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const publishedAfterMs = Date.now() - doneAt;
    toClient({ type: 'stop' });

    const jsm = await bus.raw.jetstreamManager();
    const kv = (await jsm.streams.info(`KV_${stateBucket(mesh)}`)).state;
    const nonces = (await jsm.streams.info(`KV_${nonceBucket(mesh)}`)).state;
    let redisBytes = 0;
    for (const key of [`wgmesh:${mesh}:peers`, `wgmesh:${mesh}:revision`]) redisBytes += Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    const sorted = [...done.latencies].sort((a, b) => a - b);
    return {
      members: o.members,
      concurrency: o.concurrency,
      enrolled,
      errors: done.errors,
      wallMs: done.wallMs,
      perSecond: (enrolled * 1000) / done.wallMs,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.at(-1) ?? NaN,
      registryCpuMs: (cpu.user + cpu.system) / 1000 / Math.max(1, enrolled),
      clientCpuMs: done.cpuMs / Math.max(1, enrolled),
      publishedAfterMs,
      kvBytes: kv.bytes,
      kvKeys: kv.messages,
      nonceBytes: nonces.bytes,
      nonceKeys: nonces.messages,
      redisBytes,
      registryRssMb: process.memoryUsage().rss / 1e6,
      latencies: done.latencies,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

/** The client's replies by type; a failure or an exit rejects what is awaited. */
function clientReplies(child: ChildProcess): { next: (type: 'prepared' | 'done') => Promise<FromClient> } {
  const waiting = new Map<string, { resolve: (m: FromClient) => void; reject: (e: Error) => void }>();
  const fail = (err: Error) => [...waiting.values()].forEach((w) => w.reject(err));
  child.on('message', (m: FromClient) => (m.type === 'error' ? fail(new Error(`enrolling members: ${m.message}`)) : waiting.get(m.type)?.resolve(m)));
  child.once('exit', (code, sig) => fail(new Error(`the members' process exited (${code ?? sig})`)));
  return { next: (type) => new Promise((resolvePromise, reject) => waiting.set(type, { resolve: resolvePromise, reject })) };
}

export function formatEnrolment(runs: readonly EnrollRun[]): string {
  const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
  const head = ['members', 'in flight', 'enrolled', 'enrolments/s', 'p50 ms', 'p99 ms', 'max ms', 'registry CPU ms/enrolment', 'client CPU ms/enrolment', 'table complete after ms', 'KV bytes/member', 'KV keys/member', 'nonce bytes/member', 'Redis bytes/member', 'errors'];
  const body = runs.map((r) => [
    fmt(r.members),
    String(r.concurrency),
    fmt(r.enrolled),
    fmt(r.perSecond),
    fmt(r.p50Ms, 1),
    fmt(r.p99Ms, 1),
    fmt(r.maxMs, 1),
    fmt(r.registryCpuMs, 2),
    fmt(r.clientCpuMs, 2),
    fmt(r.publishedAfterMs),
    fmt(r.kvBytes / r.members),
    fmt(r.kvKeys / r.members, 2),
    fmt(r.nonceBytes / r.members),
    fmt(r.redisBytes / r.members),
    Object.entries(r.errors).map(([k, n]) => `${k} ${n}`).join(', ') || '0',
  ]);
  return markdownTable(head, body, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
}

export async function main(argv: string[]): Promise<number> {
  const command = parseCommand('bench:enroll', usage, options, { argv });
  if ('exit' in command) return command.exit;
  const o = command.options;
  const startedAt = new Date().toISOString();
  const runs: EnrollRun[] = [];
  for (const members of o.members) {
    for (const concurrency of o.concurrency) {
      progress(`enrolling ${members} members, ${concurrency} at a time…`);
      const run = await runEnrolment({ members, concurrency, cidr: o.cidr, nats: o.nats, redis: o.redis });
      progress(`  ${run.enrolled} enrolled in ${(run.wallMs / 1000).toFixed(1)} s: ${run.perSecond.toFixed(0)}/s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms, registry ${run.registryCpuMs.toFixed(2)} ms CPU each`);
      runs.push(run);
    }
  }
  process.stdout.write(`\n${formatEnrolment(runs)}\n`);
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify({ startedAt, runs }, null, 2)}\n`);
    progress(`results written to ${o.json}`);
  }
  return runs.every((r) => r.enrolled === r.members) ? 0 : 1;
}

function list(min: number, max: number) {
  return (t: string): number[] => [...new Set(t.split(',').map((x) => values.int(min, max)(x.trim())))].sort((a, b) => a - b);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`bench:enroll failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
