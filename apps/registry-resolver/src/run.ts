import cluster from 'node:cluster';
import { NestFactory } from '@nestjs/core';
import { MeshNatsServer } from '@wgmesh/nats-transport';
import { createLogger, Logger, NestLogger, redactUrl, untilSignal } from '@wgmesh/log';
import { startTelemetry } from '@wgmesh/telemetry';
import type { ResolverConfig } from './config';
import { DnsService } from './dns.service';
import { PeerTableService } from './peer-table.service';
import { ResolverModule } from './resolver.module';

export interface RunningResolver {
  /** The DNS port answering (useful with --listen …:0). */
  port: number;
  close(): Promise<void>;
}

/** Starts one resolver in this process: peer table, DNS server, NATS subscription. */
export async function startResolver(config: ResolverConfig, log: Logger): Promise<RunningResolver> {
  const telemetry = await startTelemetry({ serviceName: 'registry-resolver', attributes: { 'wgmesh.mesh': config.mesh } });
  const strategy = new MeshNatsServer({ mesh: config.mesh, servers: config.nats, name: 'wgmesh-registry-resolver' });
  const app = await NestFactory.createMicroservice(ResolverModule.forRoot(config, log), { strategy, logger: new NestLogger(log), bufferLogs: false });
  const dns = app.get(DnsService);
  const table = app.get(PeerTableService);
  // listen() runs the lifecycle hooks (loading the table, then starting DNS) and then subscribes,
  // which waits for NATS. DNS answers as soon as the table is loaded, NATS or not. Once subscribed,
  // reload so that nothing published before the subscription is missed, and reload after every
  // reconnect, since events may have been lost while disconnected.
  // (NestMicroservice.init() followed by listen() would run the lifecycle hooks twice.)
  void app.listen().then(
    () => {
      log.info('subscribed to peer events', { mesh: config.mesh, nats: redactUrl(config.nats) });
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
    await telemetry.shutdown();
    throw err;
  }
  return {
    port,
    close: async () => {
      await app.close();
      await telemetry.shutdown();
    },
  };
}

/** Runs the resolver in the foreground until SIGINT/SIGTERM; with workers > 1, as a process cluster. */
export async function runResolver(config: ResolverConfig): Promise<void> {
  const log = createLogger({ service: 'registry-resolver', level: config.logLevel, base: cluster.isWorker ? { worker: cluster.worker?.id } : undefined });
  if (config.workers > 1 && cluster.isPrimary) return superviseWorkers(config.workers, log);
  const running = await startResolver(config, log);
  await untilSignal(log);
  await running.close();
}


/** Forks the workers, restarts any that dies unexpectedly (with backoff), stops them on a signal. */
async function superviseWorkers(count: number, log: Logger): Promise<void> {
  let stopping = false;
  let restarts = 0;
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    restarts++;
    const delay = Math.min(100 * 2 ** Math.min(restarts, 6), 5000);
    log.error('resolver worker exited; restarting', { worker: worker.id, code, signal, inMs: delay });
    setTimeout(() => !stopping && cluster.fork(), delay);
  });
  for (let i = 0; i < count; i++) cluster.fork();
  log.info('resolver workers started', { workers: count });
  await untilSignal(log);
  stopping = true;
  const workers = Object.values(cluster.workers ?? {});
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (!w || w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    ),
  );
}

