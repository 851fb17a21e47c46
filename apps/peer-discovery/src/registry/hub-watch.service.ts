import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { NatType, Patterns, PeerRecord } from '@wgmesh/contracts';
import type { DataplaneDriver } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { AllocatorError, HubWatcher, MemberInfo, PeerPublisher } from '@wgmesh/registry';
import { cidrContains, parseCidr } from '@wgmesh/netaddr';
import { activeSpanLinks, Attr, serviceRoot, setSpanAttributes, shortKey, withSpan } from '@wgmesh/telemetry';
import type { PeerDiscoveryConfig } from '../config';
import { BUS, CONFIG, DRIVER, LOGGER } from '../tokens';
import { RegistryStores } from './registry.stores';

/**
 * Reads the hub device every --watch-interval ms and publishes what changed (HubWatcher's
 * policy) through the PeerPublisher: Redis first, then `peers.events`. On start, and after any
 * failed write, it reconciles with the store: the device is the truth, so stored peers the
 * device does not have are removed.
 */
@Injectable()
export class HubWatchService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly publisher: PeerPublisher;
  private readonly watcher: HubWatcher;
  private readonly members = new Map<string, MemberInfo>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private resync = true;
  private readFailures = 0;
  private storeFailures = 0;
  private statusSub: { unsubscribe(): void } | null = null;
  private running: Promise<void> | null = null;
  private hubKey: string | null = null;
  private readonly firstPass: { promise: Promise<void>; resolve: () => void };
  readonly counters = { reads: 0, readFailures: 0, upserts: 0, removes: 0, publishFailures: 0 };

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(DRIVER) private readonly driver: DataplaneDriver,
    @Inject(BUS) bus: MeshBus,
    private readonly stores: RegistryStores,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.watcher = new HubWatcher({ handshakeRefreshMs: config.handshakeRefresh * 1000 });
    this.publisher = new PeerPublisher(stores.peers, (event) => bus.publish(Patterns.peerEvents, event));
    // What was published while our NATS connection was down is lost: send the last event again, so
    // that any replica that missed some sees the revision gap and reloads.
    this.statusSub = bus.status.subscribe((s) => {
      if (s === 'reconnected') void this.publisher.republishLast().catch((err: Error) => this.log.warn('republishing the last peer event failed', { error: err.message }));
    });
    let resolve!: () => void;
    this.firstPass = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  }

  /** Resolves after the first successful read and reconciliation. */
  get ready(): Promise<void> {
    return this.firstPass.promise;
  }

  /** The hub device's public key, once read. */
  get publicKey(): string | null {
    return this.hubKey;
  }

  /** What to publish about a member beyond its device entry (enrolment name), or nothing. Takes effect on the next read. */
  setMember(publicKey: string, info: MemberInfo | undefined): void {
    if (info === undefined) this.members.delete(publicKey);
    else this.members.set(publicKey, info);
  }

  /** The member's NAT, as its nat-probe reported it. Takes effect on the next read. */
  setNat(publicKey: string, nat: NatType): void {
    this.members.set(publicKey, { ...this.members.get(publicKey), nat });
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const m of await this.stores.members.list()) this.members.set(m.publicKey, m.nat === undefined ? { name: m.name } : { name: m.name, nat: m.nat });
    this.schedule(0);
  }

  /** Reads the device now (instead of waiting for the next tick); resolves after publishing. */
  async poke(): Promise<void> {
    while (this.running) await this.running;
    await this.runTick();
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const started = Date.now();
      void this.runTick().finally(() => this.schedule(Math.max(0, this.config.watchInterval - (Date.now() - started))));
    }, delay);
  }

  private runTick(): Promise<void> {
    if (!this.running) this.running = this.tick().finally(() => (this.running = null));
    return this.running;
  }

  private async tick(): Promise<void> {
    let peers;
    const readAt = Date.now();
    try {
      const state = await this.driver.read();
      this.counters.reads++;
      this.hubKey = state.publicKey;
      peers = state.peers;
      if (this.readFailures > 0) this.log.info('reading the hub device works again', { device: this.driver.device, failedReads: this.readFailures });
      this.readFailures = 0;
    } catch (err) {
      this.counters.readFailures++;
      // One line when it starts failing, then one a minute: the device may be restarting.
      if (this.readFailures++ % Math.max(1, Math.round(60_000 / this.config.watchInterval)) === 0) {
        this.log.warn('cannot read the hub device; the peer table stays as it is', { device: this.driver.device, driver: this.driver.kind, error: (err as Error).message });
      }
      return;
    }
    try {
      // Redis flushed, or restarted empty: its revision is below ours. Reconciling restores the table.
      if (!this.resync && (await this.publisher.lost())) this.resync = true;
      if (this.resync) await this.reconcile(peers.flatMap((p) => p.allowedIps.map((c) => [p.publicKey, c] as const)));
      const changes = this.watcher.update(peers, (k) => this.members.get(k), Date.now());
      // A trace starts here when the read found something to publish (from the read on): one span
      // for the read's changes, one child per published change (its NATS publish under it). Always
      // a new trace: whoever made us read now (an enrolment, a NAT report) is linked, not the parent.
      if (changes.length > 0) {
        const attributes = { [Attr.mesh]: this.config.mesh, [Attr.driver]: this.driver.kind, [Attr.device]: this.driver.device, [Attr.peersChanged]: changes.length };
        await withSpan('hub.changes', attributes, () => this.publishChanges(changes), { startTime: readAt, parent: serviceRoot(), links: activeSpanLinks() });
      }
      this.firstPass.resolve();
      if (this.storeFailures > 0) this.log.info('publishing hub changes works again', { failedTicks: this.storeFailures });
      this.storeFailures = 0;
    } catch (err) {
      this.counters.publishFailures++;
      this.resync = true; // what was published is unknown now: start again from the store
      // One line when it starts failing, then one a minute (Redis may be restarting).
      if (this.storeFailures++ % Math.max(1, Math.round(60_000 / this.config.watchInterval)) === 0) {
        this.log.warn('publishing hub changes failed; will reconcile with the store', { error: (err as Error).message });
      }
    }
  }

  private async publishChanges(changes: ReturnType<HubWatcher['update']>): Promise<void> {
    for (const change of changes) {
      const key = change.type === 'upsert' ? change.peer.publicKey : change.publicKey;
      const attributes = { [Attr.peer]: shortKey(key), [Attr.change]: change.type, ...(change.type === 'upsert' ? { [Attr.changeReason]: change.reason } : {}) };
      await withSpan('hub.peer.publish', attributes, async () => {
        if (change.type === 'upsert') {
          const revision = await this.publisher.upsert(change.peer);
          this.counters.upserts++;
          if (revision !== null) setSpanAttributes({ [Attr.revision]: revision });
          this.log.debug('peer published', { publicKey: change.peer.publicKey, reason: change.reason, endpoint: change.peer.endpoint, revision });
        } else {
          const revision = await this.publisher.remove(change.publicKey);
          this.counters.removes++;
          if (revision !== null) setSpanAttributes({ [Attr.revision]: revision });
          this.log.info('peer removed from the table', { publicKey: change.publicKey, revision });
        }
      });
    }
  }

  /** Starts the watcher from the store's table, and records addresses the device already uses. */
  private async reconcile(deviceAllowed: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const snapshot = await this.publisher.sync();
    if (snapshot.restored) this.log.warn('the peer table was missing from Redis (flushed, or restarted empty); wrote it back from memory', { peers: snapshot.peers.length, revision: snapshot.revision });
    this.watcher.seed(snapshot.peers);
    const allocator = this.stores.addresses;
    if (allocator) {
      for (const [key, prefix] of deviceAllowed) {
        const cidr = parseCidr(prefix);
        const host = cidr.prefixLength === (cidr.address.family === 4 ? 32 : 128);
        if (!host || !cidrContains(allocator.cidr, cidr.address)) continue;
        try {
          await allocator.claim(key, prefix.replace(/\/\d+$/, ''));
        } catch (err) {
          if (!(err instanceof AllocatorError)) throw err;
          this.log.warn('a hub peer uses an address recorded for another key', { publicKey: key, address: prefix, error: err.message });
        }
      }
    }
    this.log.info('reconciling the peer table with the hub device', { stored: snapshot.peers.length, revision: snapshot.revision });
    this.resync = false;
  }

  table(): PeerRecord[] {
    return this.watcher.table();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    this.statusSub?.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
  }
}
