import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataplaneApplyRequest, NatType, Patterns, PeerRecord, PeerState, RegistriesMessage, RegistryInfo } from '@wgmesh/contracts';
import type { DataplaneDriver } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { HubWatcher, hubView, json, MemberInfo, MemberRecord, MEMBERS_PREFIX, PeerPublisher, PrefixWatch, REGISTRIES_PREFIX, registryOf, RegistryEntry, sortRegistries } from '@wgmesh/registry';
import type { KvEntry } from 'nats';
import { parseCidr } from '@wgmesh/netaddr';
import { activeSpanLinks, Attr, serviceRoot, setSpanAttributes, shortKey, withSpan } from '@wgmesh/telemetry';
import { registryAddress, type PeerDiscoveryConfig } from '../config';
import { BUS, CONFIG, DRIVER, LOGGER } from '../tokens';
import { RegistryStores } from './registry.stores';

/** How long the hub's dataplane-programmer may take to program members back. */
const REPAIR_TIMEOUT_MS = 10_000;
/** Least time between two attempts to program the hub from the membership (while it stays short). */
const REPAIR_RETRY_MS = 1000;
/**
 * Enrolments ask for a read "soon": those within this long share one (a read is O(members): at
 * 10,000 members one per enrolment was most of the registry's CPU). The new member is published
 * within about this long after its enrolment.
 */
const POKE_COALESCE_MS = 50;
/** Wait before a watch of the store of record that ended starts again (ms). */
const WATCH_RETRY_MS = 1000;

/**
 * Reads the hub device every --watch-interval ms and publishes what changed (HubWatcher's
 * policy) through the PeerPublisher: Redis first, then `peers.events`.
 *
 * With enrolment, the membership (the store of record) is the truth and the device contributes
 * what it observes (hubView): a member is published even when the device lacks it, the device is
 * programmed back from the membership whenever it is short of a member (a lost or recreated hub:
 * each member with its last known endpoint, so the hub dials it at once), and each member's
 * endpoint is written back to its record when it changes. Only `member remove` removes a member.
 * Without enrolment (an operator's device, as wgsd), the device is the truth: stored peers the
 * device does not have are removed.
 */
@Injectable()
export class HubWatchService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly publisher: PeerPublisher;
  private readonly watcher: HubWatcher;
  /** Members by public key (enrolment mode), as the store of record holds them. */
  private readonly members = new Map<string, MemberRecord>();
  /** What to publish about device peers beyond the device (without enrolment: nothing). */
  private readonly info = new Map<string, MemberInfo>();
  private timer: NodeJS.Timeout | null = null;
  private soonTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private resync = true;
  private readFailures = 0;
  private storeFailures = 0;
  private statusSub: { unsubscribe(): void } | null = null;
  private watchSub: { unsubscribe(): void } | null = null;
  private running: Promise<void> | null = null;
  private hubKey: string | null = null;
  private repairing: Promise<void> | null = null;
  private lastRepairAt = 0;
  private refused = new Set<string>();
  private endpointWrites: Promise<unknown> = Promise.resolve();
  private leaseAt = 0;
  /** The store of record's members and registries, followed by watches (enrolment mode). */
  private memberWatch: PrefixWatch | null = null;
  private registryWatch: PrefixWatch | null = null;
  /** Public key of each member by its store key (`members.<name>`): a deletion names the key only. */
  private readonly keyOf = new Map<string, string>();
  /** The registries by store key, as watched. */
  private readonly registryEntries = new Map<string, RegistryEntry>();
  private membersLoaded = false;
  /** The list of registries last published on `registries.events`. */
  private toldRegistries = '';
  private readonly firstPass: { promise: Promise<void>; resolve: () => void };
  readonly counters = { reads: 0, readFailures: 0, upserts: 0, removes: 0, publishFailures: 0, repairs: 0, repairFailures: 0, refusedPeers: 0, leaseTaken: 0, leaseLost: 0, syncedIn: 0, syncedOut: 0, watchRestarts: 0 };

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(DRIVER) private readonly driver: DataplaneDriver,
    @Inject(BUS) private readonly bus: MeshBus,
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

  /** A member enrolled (or its record changed). Takes effect on the next read. */
  setMember(member: MemberRecord): void {
    this.members.set(member.publicKey, member);
    this.info.set(member.publicKey, member.nat === undefined ? { name: member.name } : { name: member.name, nat: member.nat });
  }

  /** A member (or a device peer) was removed. */
  forget(publicKey: string): void {
    this.members.delete(publicKey);
    this.info.delete(publicKey);
  }

  /** The NAT this watcher publishes for a peer (undefined before any report). */
  natOf(publicKey: string): NatType | undefined {
    return this.info.get(publicKey)?.nat;
  }

  /** The member's NAT, as its nat-probe reported it. Takes effect on the next read. */
  setNat(publicKey: string, nat: NatType): void {
    const m = this.members.get(publicKey);
    if (m) this.setMember({ ...m, nat });
    else this.info.set(publicKey, { ...this.info.get(publicKey), nat });
  }

  async onApplicationBootstrap(): Promise<void> {
    const state = this.stores.enrolment;
    if (state) {
      // Members and registries as the store of record holds them, then every change as it is
      // made (here or at another registry): a watch each, read in full again only after the NATS
      // connection came back or a watch ended.
      const failed = (what: string) => (err: Error | undefined) => {
        this.counters.watchRestarts++;
        this.log.warn(`the watch of the store of record's ${what} ended; reading them again`, { error: err?.message, retryInMs: WATCH_RETRY_MS });
      };
      this.memberWatch = new PrefixWatch(state.kv, MEMBERS_PREFIX, { initial: (e) => this.membersRead(e), put: (e) => this.memberPut(e), del: (k) => this.memberGone([k]), failed: failed('members') }, { retryMs: WATCH_RETRY_MS });
      this.registryWatch = new PrefixWatch(
        state.kv,
        REGISTRIES_PREFIX,
        {
          initial: (entries) => {
            this.registryEntries.clear();
            for (const [k, e] of entries) this.registryPut(k, e);
            this.knowRegistries();
          },
          put: (e) => (this.registryPut(e.key, e), this.knowRegistries()),
          del: (k) => (this.registryEntries.delete(k), this.knowRegistries()),
          failed: failed('registries'),
        },
        { retryMs: WATCH_RETRY_MS },
      );
      await Promise.all([this.memberWatch.start(), this.registryWatch.start()]);
      this.watchSub = this.bus.status.subscribe((s) => {
        if (s !== 'reconnected') return;
        this.counters.watchRestarts++;
        this.memberWatch?.restart();
        this.registryWatch?.restart();
      });
    }
    this.schedule(0);
  }

  /** The members as the store holds them (start, or again after a reconnect): who is new, who is gone. */
  private membersRead(entries: Map<string, KvEntry>): void {
    const inStore = new Set<string>();
    for (const e of entries.values()) {
      const m = this.memberPut(e);
      if (m) inStore.add(m.publicKey);
    }
    const gone = [...this.keyOf].filter(([, k]) => !inStore.has(k)).map(([storeKey]) => storeKey);
    this.memberGone(gone);
    this.membersLoaded = true;
  }

  /** A member record written (enrolled here or at another registry, its NAT or endpoint recorded). */
  private memberPut(e: KvEntry): MemberRecord | null {
    let m: MemberRecord;
    try {
      m = json<MemberRecord>(e);
    } catch {
      return null; // not a record this library wrote
    }
    this.keyOf.set(e.key, m.publicKey);
    const had = this.members.get(m.publicKey);
    if (had && had.name === m.name && had.address === m.address && had.nat === m.nat) return m;
    // Its endpoint as this hub sees it stays (each hub sees its own NAT mappings).
    this.setMember(had ? { ...m, endpoint: had.endpoint } : m);
    if (!had && this.membersLoaded) {
      // Enrolled at another registry (or here, its record seen before the enrolment told us).
      this.counters.syncedIn++;
      this.log.debug('member from the store of record', { name: m.name, address: m.address });
    }
    return m;
  }

  /** Members removed from the store (here or at another registry): they leave this hub too. */
  private memberGone(storeKeys: string[]): void {
    const gone: string[] = [];
    for (const storeKey of storeKeys) {
      const publicKey = this.keyOf.get(storeKey);
      this.keyOf.delete(storeKey);
      if (publicKey === undefined || !this.members.has(publicKey)) continue; // removed here already
      this.forget(publicKey);
      gone.push(publicKey);
    }
    if (gone.length === 0) return;
    this.counters.syncedOut += gone.length;
    this.bus
      .request(Patterns.dataplaneApply, { replace: false, peers: [], remove: gone } satisfies DataplaneApplyRequest, (v) => v, { node: this.config.registryNode, timeoutMs: REPAIR_TIMEOUT_MS })
      .then(() => this.log.info('members removed from the store of record: taken off this hub', { publicKeys: gone }))
      .catch((err: Error) => this.log.warn('taking removed members off the hub device failed', { publicKeys: gone, error: err.message }));
  }

  private registryPut(storeKey: string, e: KvEntry): void {
    const r = registryOf(e);
    if (r) this.registryEntries.set(storeKey, r);
    else this.registryEntries.delete(storeKey);
  }

  /** The registries as members know them (RegistryInfo), in preference order. */
  registryList(): RegistryInfo[] {
    return (this.stores.enrolment?.known ?? []).map(({ id, publicKey, endpoint, address }) => ({ id, publicKey, endpoint, address }));
  }

  /** The list changed in the store: kept for enrolment replies, and told to members (by the peer table's writer). */
  private knowRegistries(): void {
    const state = this.stores.enrolment;
    if (!state) return;
    state.known = sortRegistries([...this.registryEntries.values()]);
    const list = this.registryList();
    const text = JSON.stringify(list);
    if (text === this.toldRegistries || list.length === 0 || !this.leads) return;
    this.toldRegistries = text;
    this.bus.publish(Patterns.registries, { registries: list } satisfies RegistriesMessage);
    this.log.info("the mesh's registries, told to members", { registries: list.map((r) => r.id) });
  }

  /** Reads the device within POKE_COALESCE_MS (one read for every call meanwhile), without waiting for it. */
  pokeSoon(): void {
    if (this.soonTimer || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      void this.poke();
    }, POKE_COALESCE_MS);
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
    let device: PeerState[];
    const readAt = Date.now();
    try {
      const state = await this.driver.read();
      this.counters.reads++;
      this.hubKey = state.publicKey;
      device = state.peers;
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
    await this.tickLease();
    const peers = this.view(device);
    if (!this.leads) {
      // Another registry holds the peer table: this one keeps its hub programmed and answers, and publishes nothing.
      this.firstPass.resolve();
      return;
    }
    try {
      // Redis flushed, or restarted empty: its revision is below ours. Reconciling restores the table.
      if (!this.resync && (await this.publisher.lost())) this.resync = true;
      if (this.resync) await this.reconcile();
      const changes = this.watcher.update(peers, (k) => this.info.get(k), Date.now());
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

  /**
   * The peers to publish from a device read. With enrolment: the membership's view (members
   * always, with what the device observed), the hub programmed back when it is short of members,
   * new endpoints written to the members' records, other peers' addresses kept from allocation.
   */
  private view(device: PeerState[]): PeerState[] {
    const state = this.stores.enrolment;
    if (!state) return device;
    const view = hubView(device, [...this.members.values()], state.plan, registryAddress(this.config)!, this.config.hubKeepalive);
    const refusedNow = new Set(view.refused.map((r) => r.publicKey));
    for (const r of view.refused) {
      if (this.refused.has(r.publicKey)) continue;
      this.counters.refusedPeers++;
      this.log.warn('a hub peer that is no member claims a protected address; not published', { publicKey: r.publicKey, reason: r.reason });
    }
    this.refused = refusedNow;
    state.membership.avoid(device.filter((p) => !this.members.has(p.publicKey)).flatMap((p) => p.allowedIps.filter((c) => isHost(c)).map((c) => c.replace(/\/\d+$/, ''))));
    if (view.repair.length > 0) this.repair(view.repair);
    // Endpoints are written by the peer table's writer only (each hub sees its own NAT mappings).
    for (const p of this.leads ? device : []) {
      const m = this.members.get(p.publicKey);
      if (m && p.endpoint && p.endpoint !== m.endpoint) this.rememberEndpoint(m, p.endpoint);
    }
    return view.peers;
  }

  /** True when this registry writes the peer table: it holds the lease (or there is no lease: no enrolment). */
  get leads(): boolean {
    const lease = this.stores.enrolment?.lease;
    return !lease || lease.held;
  }

  /** Takes or renews the peer-table lease (at a third of its time to live); taking it starts from the stored table. */
  private async tickLease(): Promise<void> {
    const lease = this.stores.enrolment?.lease;
    if (!lease || Date.now() - this.leaseAt < lease.renewEveryMs) return;
    this.leaseAt = Date.now();
    const had = lease.held;
    const holds = await lease.tick();
    if (holds && !had) {
      this.counters.leaseTaken++;
      this.resync = true; // from the stored table and its revision, whoever wrote it last
      this.toldRegistries = '';
      this.knowRegistries(); // the new writer tells members the registries, as it tells them the table
      this.log.info('took the peer-table lease: this registry publishes the peer table', { registry: this.config.registryNode });
    } else if (!holds && had) {
      this.counters.leaseLost++;
      this.log.warn('lost the peer-table lease: another registry publishes the peer table', { registry: this.config.registryNode, error: lease.lastError ?? undefined });
    }
  }

  /** Programs the hub from the membership (members it lacks, or holds wrongly), through its dataplane-programmer; retried while it stays short. */
  private repair(peers: DataplaneApplyRequest['peers']): void {
    if (this.repairing || Date.now() - this.lastRepairAt < REPAIR_RETRY_MS) return;
    this.lastRepairAt = Date.now();
    const request: DataplaneApplyRequest = { replace: false, peers };
    this.repairing = this.bus
      .request(Patterns.dataplaneApply, request, (v) => v, { node: this.config.registryNode, timeoutMs: REPAIR_TIMEOUT_MS })
      .then(() => {
        this.counters.repairs++;
        this.log.info('hub device programmed from the membership', { members: peers.length, withEndpoint: peers.filter((p) => p.endpoint).length });
      })
      .catch((err: Error) => {
        this.counters.repairFailures++;
        this.log.warn('programming the hub device from the membership failed; will retry', { members: peers.length, error: err.message });
      })
      .finally(() => (this.repairing = null));
  }

  /** A member's endpoint, as the hub now sees it, into its record (so a rebuilt hub dials it there). */
  private rememberEndpoint(m: MemberRecord, endpoint: string): void {
    this.members.set(m.publicKey, { ...m, endpoint });
    const membership = this.stores.enrolment!.membership;
    this.endpointWrites = this.endpointWrites
      .then(() => membership.update(m.name, (r) => (r.publicKey === m.publicKey && r.endpoint !== endpoint ? { ...r, endpoint } : null)))
      .catch((err: Error) => this.log.warn("could not record a member's endpoint in the store of record", { name: m.name, error: err.message }));
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

  /** Starts the watcher from the store's table (the Redis cache), written back from memory if Redis lost it. */
  private async reconcile(): Promise<void> {
    const snapshot = await this.publisher.sync();
    if (snapshot.restored) this.log.warn('the peer table was missing from Redis (flushed, or restarted empty); wrote it back from memory', { peers: snapshot.peers.length, revision: snapshot.revision });
    this.watcher.seed(snapshot.peers);
    this.log.info('reconciling the peer table with the hub device', { stored: snapshot.peers.length, revision: snapshot.revision, members: this.stores.enrolment ? this.members.size : null });
    this.resync = false;
  }

  table(): PeerRecord[] {
    return this.watcher.table();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    await this.stores.enrolment?.lease.release(); // a clean stop hands the peer table over at once
    this.statusSub?.unsubscribe();
    this.watchSub?.unsubscribe();
    this.memberWatch?.stop();
    this.registryWatch?.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
  }
}

function isHost(cidr: string): boolean {
  const c = parseCidr(cidr);
  return c.prefixLength === (c.address.family === 4 ? 32 : 128);
}
