import { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Patterns } from '@wgmesh/contracts';
import { Readiness, type ReadinessSink, serveHealth } from '@wgmesh/health';
import { createLogger, Logger, NestLogger, redactUrl, untilSignal } from '@wgmesh/log';
import { MeshBus, MeshNatsServer } from '@wgmesh/nats-transport';
import { Enrollment, memberCredsPath, nodeKey, registriesOf } from '@wgmesh/peer-discovery';
import { startTelemetry } from '@wgmesh/telemetry';
import { DEFAULT_NATS, type PeerDiscoveryConfig } from './config';
import { createDriver, type DataplaneDriver } from '@wgmesh/dataplane';
import { BusRef } from '@wgmesh/nats-transport';
import { ensureEnrolled } from './member/enroll-client';
import { ApplyDesired, MemberPeersService } from './member/member-peers.service';
import { MemberModule } from './member/member.module';
import type { RegistriesChanged } from './member/registries-follow.service';
import { MemberHealth, RegistryHealth } from './health';
import { HubWatchService } from './registry/hub-watch.service';
import { REDIS } from './tokens';
import { withDeadline } from '@wgmesh/log';
import { openEnrolmentState, RegistryModule } from './registry/registry.module';
import { resolveHubKey } from './registry/hub-key';
import type { HubKey } from './registry/enroll.service';

export interface PeerDiscoveryDeps {
  /** Registry mode: the hub device's driver (default: created from --driver and --device). */
  driver?: DataplaneDriver;
  /** Member mode: how desired peers reach the dataplane-programmer (default: NATS `node.<id>.dataplane.apply`). */
  apply?: ApplyDesired;
  /** Member mode: an enrolment already done by the caller (`wgmesh member up`). */
  enrollment?: Enrollment;
  /** Where the service registers its readiness checks (registry: nats, redis, hub; member: enrolment, nats, peers). */
  readiness?: ReadinessSink;
  /**
   * Member mode: takes the mesh's registries when they change while it runs (a registry added
   * after this member enrolled, or taken out; written to enrollment.json either way): `member up`
   * peers with them at once. Without it, the change takes effect at the next start.
   */
  registriesChanged?: RegistriesChanged;
  /** Registry mode with enrolment: the hub's key pair (default: <state-dir>/private.key, else read from the device). */
  hubKey?: HubKey;
}

export interface RunningPeerDiscovery {
  mode: 'registry' | 'member';
  /** Registry mode: the hub watcher. */
  hub?: HubWatchService;
  /** Member mode: the desired-peers service. */
  member?: MemberPeersService;
  enrollment?: Enrollment;
  close(): Promise<void>;
}

/** Starts peer-discovery in this process, in the configured mode. */
export async function startPeerDiscovery(config: PeerDiscoveryConfig, log: Logger, deps: PeerDiscoveryDeps = {}): Promise<RunningPeerDiscovery> {
  const node: Record<string, string> = config.mode === 'member' && config.name ? { 'wgmesh.node': config.name } : {};
  const telemetry = await startTelemetry({ serviceName: 'peer-discovery', attributes: { 'wgmesh.mesh': config.mesh, 'wgmesh.mode': config.mode, ...node } });
  try {
    // As the service: its timers, NATS connections and handlers export under its name.
    return await telemetry.run(() => (config.mode === 'registry' ? startRegistry(config, log, deps, telemetry.shutdown) : startMember(config, log, deps, telemetry.shutdown)));
  } catch (err) {
    await telemetry.shutdown();
    throw err;
  }
}

async function startRegistry(config: PeerDiscoveryConfig, log: Logger, deps: PeerDiscoveryDeps, shutdown: () => Promise<void>): Promise<RunningPeerDiscovery> {
  const servers = config.nats ?? DEFAULT_NATS;
  const driver = deps.driver ?? createDriver(config.driver, config.device!, { log: log.child({ component: 'driver' }), vppSocket: config.vppSocket, vppApiDir: config.vppApiDir });
  const ownDriver = !deps.driver;
  const health = new RegistryHealth({ nats: servers, redis: config.redis, device: driver.device }, deps.readiness);
  const hubKey = deps.hubKey ?? (await resolveHubKey(config, driver, log));
  const bus = await MeshBus.connect({ servers, creds: config.natsCreds, mesh: config.mesh, name: 'wgmesh-peer-discovery-registry', logger: nestish(log) });
  const enrolment = await openEnrolmentStateRetrying(config, bus, hubKey, log).catch(async (err: Error) => {
    await bus.close();
    throw err;
  });
  const strategy = new MeshNatsServer({ mesh: config.mesh, servers, creds: config.natsCreds, name: 'wgmesh-peer-discovery-registry', logger: nestish(log) });
  const app = await NestFactory.createMicroservice(RegistryModule.forRoot(config, log, { bus, driver, hubKey, enrolment }), { strategy, logger: new NestLogger(log), bufferLogs: false });
  health.nats.bus(bus);
  health.nats.server(strategy.status);
  const listening = listen(app, log, 'serving peers.snapshot, enroll and members.remove', { mesh: config.mesh }).then(() => health.nats.subscribed());
  const hub = app.get(HubWatchService);
  health.started({ redis: app.get(REDIS), hub, strategy });
  await Promise.all([hub.ready, listening]);
  log.info('peer-discovery (registry) ready', { device: driver.device, driver: driver.kind, hubKey: hub.publicKey, peers: hub.table().length, enrolment: Boolean(enrolment) });
  return {
    mode: 'registry',
    hub,
    close: async () => {
      if (!(await withDeadline(() => app.close(), 5000))) log.warn('peer-discovery did not stop in time; leaving it');
      if (ownDriver) await driver.close();
      health.dispose();
      await shutdown();
    },
  };
}

async function startMember(config: PeerDiscoveryConfig, log: Logger, deps: PeerDiscoveryDeps, shutdown: () => Promise<void>): Promise<RunningPeerDiscovery> {
  const health = new MemberHealth(deps.readiness);
  const enrollment = deps.enrollment ?? (await ensureEnrolled(config, nodeKey(config.stateDir).publicKey, log));
  const servers = config.nats ?? natsOverTunnel(enrollment);
  const nats = health.enrolled(enrollment, servers);
  const creds = config.natsCreds ?? memberCredsPath(config.stateDir);
  const node = enrollment.name;
  const busRef = new BusRef(MeshBus.connect({ servers, creds, mesh: config.mesh, node, name: `wgmesh-peer-discovery-${node}`, logger: nestish(log) }));
  const apply: ApplyDesired =
    deps.apply ?? (async (request) => (await busRef.ready).request(Patterns.dataplaneApply, request, (v) => v, { node, timeoutMs: 10_000 }));
  const strategy = new MeshNatsServer({ mesh: config.mesh, node, servers, creds, name: `wgmesh-peer-discovery-${node}`, logger: nestish(log) });
  const app = await NestFactory.createMicroservice(MemberModule.forRoot(config, log, { bus: busRef, enrollment, apply, registriesChanged: deps.registriesChanged }), { strategy, logger: new NestLogger(log), bufferLogs: false });
  const member = app.get(MemberPeersService);
  health.busRef(busRef);
  nats.server(strategy.status);
  health.started({ member, strategy });
  // Subscribing waits for NATS (over the tunnel); once subscribed, load (or reload) the table.
  void listen(app, log, 'subscribed to peer events', { mesh: config.mesh, node, nats: redactUrl(servers) }).then(() => {
    nats.subscribed();
    member.subscribed();
  });
  strategy.on('reconnect', () => void member.mirror.reload('nats reconnected'));
  log.info('peer-discovery (member) started', { node, address: enrollment.address, registry: enrollment.registry.endpoint, mode: config.connect.length ? 'on-demand' : 'full' });
  return {
    mode: 'member',
    member,
    enrollment,
    close: async () => {
      if (!(await withDeadline(() => app.close(), 5000))) log.warn('peer-discovery did not stop in time; leaving it');
      health.dispose();
      await shutdown();
    },
  };
}

/** How long a registry waits for JetStream to answer at start (a NATS cluster electing its leaders). */
const STATE_OPEN_DEADLINE_MS = 60_000;

/**
 * Opens the store of record, again while JetStream times out or is not available yet (a NATS
 * cluster that has just started, or lost a node, elects its JetStream leaders first). A refusal
 * that waiting cannot fix (another registry has our address or key) fails at once.
 */
async function openEnrolmentStateRetrying(config: PeerDiscoveryConfig, bus: MeshBus, hubKey: HubKey | null, log: Logger): Promise<Awaited<ReturnType<typeof openEnrolmentState>>> {
  const deadline = Date.now() + STATE_OPEN_DEADLINE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await openEnrolmentState(config, bus, hubKey);
    } catch (err) {
      const transient = /TIMEOUT|temporarily unavailable|no suitable peers|insufficient resources|503/i.test((err as Error).message);
      if (!transient || Date.now() > deadline) throw err;
      log.warn('the store of record does not answer yet (JetStream electing its leaders?); trying again', { attempt, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 3000)));
    }
  }
}

/**
 * `nats://<registry tunnel address>:4222`: after enrolment, NATS goes through the tunnel. With
 * several registries, each one's NATS (a cluster), the one enrolled at first: the client fails over.
 */
export function natsOverTunnel(enrollment: Enrollment): string {
  const own = enrollment.registry.address;
  const addresses = [own, ...registriesOf(enrollment).map((r) => r.address).filter((a) => a !== own)];
  return addresses.map((a) => `nats://${a.includes(':') ? `[${a}]` : a}:4222`).join(',');
}

function listen(app: INestMicroservice, log: Logger, msg: string, fields: Record<string, unknown>): Promise<void> {
  return app.listen().then(
    () => log.info(msg, fields),
    (err: Error) => {
      log.error('NATS server transport failed', { error: err.message });
      throw err;
    },
  );
}

/** The transport's logger interface, onto the structured logger. */
function nestish(log: Logger) {
  return { warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) };
}


/** Runs peer-discovery in the foreground until SIGINT/SIGTERM. */
export async function runPeerDiscovery(config: PeerDiscoveryConfig, deps: PeerDiscoveryDeps = {}): Promise<void> {
  const log = createLogger({ service: 'peer-discovery', level: config.logLevel, base: { mode: config.mode } });
  const readiness = new Readiness();
  const http = await serveHealth(config.httpListen ?? null, { readiness, log });
  const signal = untilSignal(log);
  // A signal while starting (enrolling, waiting for NATS or the hub device) ends the start too.
  const running = await Promise.race([startPeerDiscovery(config, log, { readiness, ...deps }), signal.then(() => null)]);
  if (running) await signal;
  readiness.draining();
  await running?.close(); // app.close has its own deadline (withDeadline above)
  await http?.close();
}

