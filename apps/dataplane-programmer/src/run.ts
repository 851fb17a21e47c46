import { NestFactory } from '@nestjs/core';
import type { DesiredPeer } from '@wgmesh/contracts';
import { createDriver, DataplaneDriver, DeviceKeeper, DeviceLock, DeviceSpec, DeviceState, diffPeers, lockDevice } from '@wgmesh/dataplane';
import { FlagCheck, Readiness, type ReadinessSink, serveHealth } from '@wgmesh/health';
import { createLogger, Logger, NestLogger, withDeadline } from '@wgmesh/log';
import { MeshNatsServer } from '@wgmesh/nats-transport';
import { startTelemetry, Telemetry } from '@wgmesh/telemetry';
import type { NatsConnection } from 'nats';
import { keyToBase64, loadOrCreatePrivateKey, publicKeyFromPrivate } from '@wgmesh/wireguard';
import { DataplaneConfig, driverOptions } from './config';
import { DataplaneModule } from './dataplane.module';
import { hubGuard } from './hub-guard';
import { watchDataplane } from './health';
import { ProgrammerService } from './programmer.service';
import { StateService } from './state.service';

/** How often a device this process created is checked (and created again when gone). */
const KEEP_INTERVAL_MS = 1000;

export interface RunningDataplane {
  /** The device's public key (null when it has none). */
  publicKey: string | null;
  /** Resolves once apply requests are subscribed and the state bus is connected. */
  ready: Promise<void>;
  /**
   * The peers never removed from now on, whatever a request says (replaces --protect: a member's
   * registry peers when the mesh gains or loses a registry).
   */
  setProtect(keys: readonly string[]): void;
  /** Stops serving; leaves the device (and wireguard-go) exactly as it is. */
  close(): Promise<void>;
}

/**
 * Starts the dataplane-programmer in this process: the device first (created, or adopted as it
 * is), then the NATS side. The device never waits for NATS, and NATS being down never changes
 * the device: it only stops new applies from arriving (fail-static).
 */
export interface DataplaneDeps {
  /** Where the service registers its readiness checks (nats, device). */
  readiness?: ReadinessSink;
  /**
   * Peers put on the device right after it is set up, before anything dials NATS (a member's
   * registry peer: NATS runs over it, so the first connection attempt must find it there).
   * Added or updated, never replacing other peers; give their keys in --protect too.
   */
  bootstrap?: DesiredPeer[];
}

export async function startDataplaneProgrammer(config: DataplaneConfig, log: Logger, deps: DataplaneDeps = {}): Promise<RunningDataplane> {
  const telemetry = await startTelemetry({ serviceName: 'dataplane-programmer', attributes: { 'wgmesh.mesh': config.mesh, 'wgmesh.node': config.node } });
  // As the service: its NATS connections and handlers export under its name.
  return telemetry.run(() => startProgrammer(config, log, telemetry, deps));
}

async function startProgrammer(config: DataplaneConfig, log: Logger, telemetry: Telemetry, deps: DataplaneDeps): Promise<RunningDataplane> {
  const settingUp = new FlagCheck('device', `setting up ${config.device} (${config.driver})`);
  const removeSettingUp = deps.readiness?.add(settingUp);
  let driver: DataplaneDriver | undefined;
  let lock: DeviceLock | undefined;
  let device: DeviceState;
  let spec: DeviceSpec;
  try {
    // One service per device: a second one would undo this one's changes.
    lock = await lockDevice({ kind: config.driver, device: config.device, netns: config.netns, vppSocket: config.vppSocket }, config.stateDir, { pid: process.pid, node: config.node });
    spec = { create: config.create, addresses: config.address, routes: config.route, mtu: config.mtu };
    if (config.privateKeyFile) {
      const file = loadOrCreatePrivateKey(config.privateKeyFile);
      spec.privateKey = file.key.reveal();
      const publicKey = keyToBase64(publicKeyFromPrivate(spec.privateKey));
      if (file.created) log.info('created a private key file', { path: config.privateKeyFile, publicKey });
      if (file.readableByOthers) log.warn('the private key file is readable by group or others: chmod 600 it', { path: config.privateKeyFile });
    }
    if (config.listenPort !== undefined) spec.listenPort = config.listenPort;
    driver = createDriver(config.driver, config.device, driverOptions(config, log));
    await driver.ensureDevice(spec);
    device = await driver.read();
    if (deps.bootstrap?.length) {
      const { diff } = diffPeers(deps.bootstrap, device.peers, { replace: false });
      if (diff.upsert.length > 0) {
        await driver.apply(diff);
        device = await driver.read();
        log.info('bootstrap peers configured', { peers: diff.upsert.map((p) => ({ publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: p.allowedIps })) });
      }
    }
  } catch (err) {
    settingUp.down(`cannot set up ${config.device}: ${(err as Error).message}`);
    await driver?.close();
    await lock?.release();
    await telemetry.shutdown();
    throw err;
  }
  removeSettingUp?.();
  log.info('device ready', { driver: config.driver, device: config.device, publicKey: device.publicKey, listenPort: device.listenPort, peers: device.peers.length });

  const strategy = new MeshNatsServer({ mesh: config.mesh, node: config.node, servers: config.nats, creds: config.natsCreds, name: `wgmesh-dataplane-${config.node}` });
  const hub = config.hubOf ? hubGuard({ ...config, hubOf: config.hubOf }) : null;
  const app = await NestFactory.createMicroservice(DataplaneModule.forRoot(config, log, driver, hub?.guard ?? null), { strategy, logger: new NestLogger(log), bufferLogs: false });
  const state = app.get(StateService);
  const programmer = app.get(ProgrammerService);
  state.lastPeers = device.peers.length;
  const health = watchDataplane({ config, driver, strategy, state }, deps.readiness);
  // listen() runs the lifecycle hooks (the state bus starts connecting), then subscribes, which
  // waits for NATS as long as it takes; the flush makes sure NATS has the subscriptions before
  // we say we are listening.
  const subscribed = app
    .listen()
    .then(() => strategy.unwrap<NatsConnection>().flush())
    .then(() => {
      health.subscribed();
      log.info('listening for apply requests', { mesh: config.mesh, node: config.node });
      // dataplane.state.get is served from now on: an update says so (a consumer that asked
      // before, at the first update, and got no answer sees this one as a gap and asks again).
      state.serving();
    });
  subscribed.catch((err: Error) => log.error('NATS server transport failed', { error: err.message }));
  let isReady = false;
  const ready = Promise.all([subscribed, state.ready]).then(() => {
    isReady = true;
    log.info('dataplane-programmer ready', { device: config.device });
  });
  ready.catch(() => undefined);
  const slow = setTimeout(() => isReady || log.warn('NATS is not reachable yet; still trying, and the device stays as it is'), 5000);
  slow.unref();
  // A device we create is ours to keep: gone (its wireguard-go died), it is created again as it was.
  // The programmer's model of the device is then wrong: its next apply reads the device.
  const onRecreated = () => {
    programmer.deviceChanged();
    state.recreated();
  };
  const keeper = config.create ? new DeviceKeeper({ driver, spec, bootstrap: deps.bootstrap, intervalMs: KEEP_INTERVAL_MS, log, onRecreated }) : null;
  keeper?.start();

  return {
    publicKey: device.publicKey,
    ready,
    setProtect: (keys) => programmer.setProtect(keys),
    close: async () => {
      clearTimeout(slow);
      keeper?.stop();
      // Running applies finish and are answered (the NATS server drains), then the state bus drains.
      if (!(await withDeadline(() => app.close(), 5000))) log.warn('the dataplane-programmer did not stop in time; leaving it');
      await hub?.close();
      await driver.close();
      await lock?.release();
      health.dispose();
      await telemetry.shutdown();
    },
  };
}

/** Runs in the foreground until SIGINT/SIGTERM, then exits leaving the device as it is. */
export async function runDataplaneProgrammer(config: DataplaneConfig): Promise<void> {
  const log = createLogger({ service: 'dataplane-programmer', level: config.logLevel, base: { node: config.node } });
  const readiness = new Readiness();
  const http = await serveHealth(config.httpListen ?? null, { readiness, log });
  const signal = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  // A signal while starting (the device being set up) ends the start too.
  const running = await Promise.race([startDataplaneProgrammer(config, log, { readiness }), signal.then(() => null)]);
  log.info('shutting down; the device stays as it is', { signal: await signal });
  readiness.draining();
  await running?.close();
  await http?.close();
  // While NATS is unreachable its client keeps retrying in the background, which would keep the
  // process alive; nothing is left to do, so make sure it ends.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}
