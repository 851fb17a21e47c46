import cluster from 'node:cluster';
import { NestFactory } from '@nestjs/core';
import { MeshNatsServer } from '@wgmesh/nats-transport';
import { answerPrimary, clusterMetrics, Readiness, type ReadinessSink, serveHealth, workersCheck } from '@wgmesh/health';
import { createLogger, Logger, NestLogger, redactUrl, untilSignal, withDeadline } from '@wgmesh/log';
import { startTelemetry, Telemetry } from '@wgmesh/telemetry';
import type { ResolverConfig } from './config';
import { DnsService } from './dns.service';
import { watchResolver } from './health';
import { PeerTableService } from './peer-table.service';
import { ResolverModule } from './resolver.module';
import { announceAnswering, DnsWorkers, startConfigFromPrimary } from './workers';

export interface RunningResolver {
  /** The DNS port answering (useful with --listen …:0). */
  port: number;
  close(): Promise<void>;
}

export interface ResolverDeps {
  /** Where the resolver registers its readiness checks (nats, index, dns). */
  readiness?: ReadinessSink;
}

/** Starts one resolver in this process: peer table, DNS server, NATS subscription. */
export async function startResolver(config: ResolverConfig, log: Logger, deps: ResolverDeps = {}): Promise<RunningResolver> {
  const telemetry = await startTelemetry({ serviceName: 'registry-resolver', attributes: { 'wgmesh.mesh': config.mesh } });
  // As the service: its NATS connection and handlers export under its name.
  return telemetry.run(() => startIn(config, log, telemetry, deps));
}

async function startIn(config: ResolverConfig, log: Logger, telemetry: Telemetry, deps: ResolverDeps): Promise<RunningResolver> {
  const strategy = new MeshNatsServer({ mesh: config.mesh, servers: config.nats, creds: config.natsCreds, name: 'wgmesh-registry-resolver' });
  const app = await NestFactory.createMicroservice(ResolverModule.forRoot(config, log), { strategy, logger: new NestLogger(log), bufferLogs: false });
  const dns = app.get(DnsService);
  const table = app.get(PeerTableService);
  const health = watchResolver({ config, strategy, dns, table }, deps.readiness);
  // listen() runs the lifecycle hooks (loading the table, then starting DNS) and then subscribes,
  // which waits for NATS. DNS answers as soon as the table is loaded, NATS or not. Once subscribed,
  // reload so that nothing published before the subscription is missed, and reload after every
  // reconnect, since events may have been lost while disconnected.
  // (NestMicroservice.init() followed by listen() would run the lifecycle hooks twice.)
  void app.listen().then(
    () => {
      log.info('subscribed to peer events', { mesh: config.mesh, nats: redactUrl(config.nats) });
      health.subscribed();
      void table.mirror.reload('subscribed');
    },
    (err: Error) => log.error('NATS server transport failed', { error: err.message }),
  );
  strategy.on('reconnect', () => void table.mirror.reload('nats reconnected'));
  let port: number;
  try {
    port = await dns.ready;
  } catch (err) {
    await app.close();
    health.dispose();
    await telemetry.shutdown();
    throw err;
  }
  return {
    port,
    close: async () => {
      await app.close();
      health.dispose();
      await telemetry.shutdown();
    },
  };
}

/** Runs the resolver in the foreground until SIGINT/SIGTERM; with workers > 1, as a process cluster. */
export async function runResolver(config: ResolverConfig): Promise<void> {
  return runResolverProcess(config);
}

/**
 * A DNS worker forked by `registry up --dns-workers`: the resolver with the configuration the
 * primary sends, until SIGTERM (or the primary's end: a cluster worker exits when its IPC closes).
 */
export async function runDnsWorker(): Promise<void> {
  return runResolverProcess(await startConfigFromPrimary(), announceAnswering);
}

async function runResolverProcess(config: ResolverConfig, onAnswering?: () => void): Promise<void> {
  const log = createLogger({ service: 'registry-resolver', level: config.logLevel, base: cluster.isWorker ? { worker: cluster.worker?.id } : undefined });
  if (config.workers > 1 && cluster.isPrimary) return superviseWorkers(config, log);
  const readiness = new Readiness();
  // The HTTP endpoint answers from the start (liveness while the table loads); a worker's
  // primary serves it and asks the workers.
  const http = cluster.isWorker ? null : await serveHealth(config.httpListen ?? null, { readiness, log });
  const stopAnswering = cluster.isWorker ? answerPrimary(readiness) : undefined;
  const signal = untilSignal(log);
  // A signal while starting (Redis down: the table never loads) stops the start too.
  const running = await Promise.race([startResolver(config, log, { readiness }), signal.then(() => null)]);
  if (running) {
    onAnswering?.();
    await signal;
  }
  readiness.draining();
  // Closing: DNS sockets, then the NATS subscription (drained: running handlers finish), Redis.
  if (running && !(await withDeadline(() => running.close(), RESOLVER_STOP_MS))) log.warn('the resolver did not stop in time; exiting anyway');
  stopAnswering?.();
  await http?.close();
}

/** How long closing may take (DNS over TCP gets 1 s to finish, NATS handlers up to the rest). */
const RESOLVER_STOP_MS = 4000;


/** Forks the workers, restarts any that dies unexpectedly (with backoff), stops them on a signal. */
async function superviseWorkers(config: ResolverConfig, log: Logger): Promise<void> {
  const count = config.workers;
  const readiness = new Readiness();
  readiness.add(workersCheck(count));
  const http = await serveHealth(config.httpListen ?? null, { readiness, log, metrics: clusterMetrics() });
  const workers = DnsWorkers.start({ count, log });
  log.info('resolver workers started', { workers: count });
  await untilSignal(log);
  readiness.draining();
  await workers.close();
  await http?.close();
}
