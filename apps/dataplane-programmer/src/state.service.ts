import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataplaneState, DataplaneStateGetRequest, DataplaneStateUpdate, Patterns } from '@wgmesh/contracts';
import { DataplaneDriver, StateReporter } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import type { DeviceState } from '@wgmesh/dataplane';
import type { DataplaneConfig } from './config';
import { CONFIG, DRIVER, LOGGER } from './tokens';

/** When to read the device again after a punch (ms): a handshake in the lab takes a few ms, across continents a few hundred. */
const PUNCH_REPORT_MS = [50, 250, 1000];

/**
 * Publishes `node.<id>.dataplane.state` updates (what changed on the device since the previous
 * one, numbered within this start's epoch: StateReporter): once connected to NATS, when its peers
 * change (an apply, endpoints, handshakes: seen at the next read, at most a second after an
 * apply, and not more than once a second however many applies come), after a reconnect or a
 * punch, and at least every --state-interval (with no change then). `current` is the whole state
 * as last read, for `node.<id>.dataplane.state.get` (ApplyController). While NATS is down nothing
 * is published (consumers see the gap in `seq` and fetch the whole state).
 */
@Injectable()
export class StateService implements OnApplicationBootstrap, OnModuleDestroy {
  private bus: MeshBus | null = null;
  private closing = false;
  private readonly reporter: StateReporter;
  private readonly connected: Promise<void>;
  private resolveConnected!: () => void;
  /** The state bus's NATS connection: connecting, connected, disconnected, reconnecting, closed. */
  busStatus = 'connecting';
  /** Peers on the device at the last report (metrics). */
  lastPeers = 0;
  readonly counters = { published: 0, publishFailures: 0 };
  /** How the reporter reads the device: through the programmer once it is there (its model stays fresh). */
  private reader: () => Promise<DeviceState>;

  constructor(
    @Inject(CONFIG) private readonly config: DataplaneConfig,
    @Inject(DRIVER) driver: DataplaneDriver,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.reader = () => driver.read();
    this.reporter = new StateReporter({ driver, node: config.node, intervalMs: config.stateInterval, pollMs: config.statePoll, log, publish: (s) => this.publish(s), read: () => this.reader() });
    this.connected = new Promise((resolve) => (this.resolveConnected = resolve));
  }

  /** One page of the state as last read (`dataplane.state.get`); null before the first read. */
  current(request: DataplaneStateGetRequest): DataplaneState | null {
    return this.reporter.current(request);
  }

  /** Resolves once the state bus is connected and the first report is under way. */
  get ready(): Promise<void> {
    return this.connected;
  }

  onApplicationBootstrap(): void {
    const { nats, natsCreds, mesh, node } = this.config;
    MeshBus.connect({ servers: nats, creds: natsCreds, mesh, node, name: `wgmesh-dataplane-${node}` }).then(
      (bus) => {
        if (this.closing) return void bus.close();
        this.bus = bus;
        this.busStatus = 'connected';
        bus.status.subscribe((s) => {
          this.busStatus = s === 'reconnected' ? 'connected' : s;
          this.log.info('nats connection', { status: s });
          if (s === 'reconnected') void this.reporter.report('reconnected');
        });
        this.reporter.start();
        this.resolveConnected();
      },
      (err: Error) => this.log.error('cannot connect the state bus', { error: err.message }),
    );
  }

  /** Reads the device with this (the programmer's read, which keeps its model of the device fresh). */
  readThrough(read: () => Promise<DeviceState>): void {
    this.reader = read;
  }

  /** The device changed through an apply: read again soon (not once per apply: see StateReporter). */
  changed(): void {
    this.reporter.changed();
  }

  /** `dataplane.state.get` is answered from now on: an update now (consumers that asked before ask again). */
  serving(): void {
    void this.reporter.report('serving');
  }

  /** The device was created again (DeviceKeeper): published now. */
  recreated(): void {
    void this.reporter.report('recreated');
  }

  /**
   * A punch went out: its handshake comes a round trip or two later, and nat-probe decides on it,
   * so the state is read again soon rather than at the next poll (up to a second).
   */
  punched(): void {
    for (const ms of PUNCH_REPORT_MS) setTimeout(() => void this.reporter.report('punched'), ms).unref();
  }

  private publish(update: DataplaneStateUpdate): void {
    this.lastPeers = this.reporter.peers ?? this.lastPeers;
    try {
      if (!this.bus) return;
      this.bus.publish(Patterns.dataplaneState, update);
      this.counters.published++;
    } catch (err) {
      this.counters.publishFailures++;
      // Disconnected, or (over ~100,000 changed peers at once) above 32 MiB even in chunks: consumers see the gap and fetch the state.
      this.log.warn('device state update not published', { seq: update.seq, changed: update.changed.length, error: (err as Error).message });
    }
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    await this.reporter.stop();
    await this.bus?.drain();
  }
}
