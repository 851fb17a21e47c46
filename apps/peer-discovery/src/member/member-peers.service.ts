import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConnectReply, ConnectRequest, DataplaneApplyRequest, DesiredPeer, parsePathReport, parsePeerSnapshot, PathReport, PathReportView, readPathReport, PathUpdate, Patterns, PeerEvent, PeerRecord, type RegistryInfo } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { Attr, setSpanAttributes } from '@wgmesh/telemetry';
import { compareViews, countChangedPeers, CoalescingScheduler, DesiredOptions, desiredPeers, DesiredSet, DnsPullError, Enrollment, OwnEndpoint, PathSets, pullPeers, refusedPeers, registriesOf, sameDesiredPeers } from '@wgmesh/peer-discovery';
import { MirrorChange, PeerMirror, snapshotLoader } from '@wgmesh/peer-sync';
import type { Subscription } from 'rxjs';
import type { PeerDiscoveryConfig } from '../config';
import { APPLY, BUS_REF, CONFIG, ENROLLMENT, LOGGER } from '../tokens';
import { BusRef } from '@wgmesh/nats-transport';

/** Sends the desired peer set to this node's dataplane-programmer (over NATS, or in-process). */
export type ApplyDesired = (request: DataplaneApplyRequest) => Promise<unknown>;

/** How long the first apply waits for nat-probe's decisions (`paths.get`) before going without. */
const PATHS_ASK_MS = 1000;
/** While members wait for nat-probe's decision, its decisions are asked for again this often. */
const PATHS_RECHECK_MS = 1000;

/**
 * Member mode: keeps this node's direct peers in line with the registry's peer table.
 * - Push: a PeerMirror loaded from `peers.snapshot` (paged) and fed by `peers.events`; each
 *   change schedules an apply, and a burst is coalesced into one (`--apply-delay`).
 * - Anti-entropy: every `--dns-pull-interval` the DNS-SD view is pulled from the resolver; if it
 *   disagrees with the mirror the snapshot is reloaded; while NATS is down the DNS view is the
 *   desired set. Each pull also re-sends the desired set (the programmer's apply is idempotent),
 *   which repairs a device changed behind our back.
 * Fail-static: nothing is applied before a table (NATS or DNS) has been loaded.
 *
 * Per change the work is O(what changed): the mirror's changes also feed a DesiredSet (guard and
 * desired entry re-decided for the changed peer only) and the apply carries only the peers that
 * changed since the last one (`replace: false`). The whole set is sent (`replace: true`, with the
 * undecided peers as `keep`) for the first apply, after a failed one, on every DNS-SD round (the
 * repair), when the path decisions or on-demand targets change, after a reload, and while the DNS
 * view stands in for the mirror.
 */
@Injectable()
export class MemberPeersService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly mirror: PeerMirror;
  /** The desired peers the mirror's table gives, kept per change. */
  private readonly set: DesiredSet;
  /** The next apply sends the whole set (else the delta). */
  private whole = true;
  /** The peer table: the mirror's. */
  private get table(): ReadonlyMap<string, PeerRecord> {
    return this.mirror.table;
  }
  private connectTargets: Set<string> | undefined;
  /** nat-probe's path decisions, as sets (libs/peer-discovery). */
  private readonly paths = new PathSets();
  /** nat-probe's report as its updates (`node.<id>.paths`) keep it; a gap fetches it whole (`paths.get`). */
  private readonly pathView = new PathReportView();
  /** A `paths.get` under way, and whether another is wanted after it (an update showed a gap meanwhile). */
  private pathsAsking: Promise<void> | null = null;
  private pathsAskAgain = false;
  private pathsTimer: NodeJS.Timeout | null = null;
  /** This node's endpoint as the registry last published it. */
  private readonly ownEndpoint = new OwnEndpoint();
  private pokeAll = false;
  private dnsView: PeerRecord[] | null = null;
  /** Peers of the table refused by the guard (public key → why), as of the last desired set. */
  private refused = new Map<string, string>();
  private natsUp = false;
  private lastApplied: DesiredPeer[] | null = null;
  /** The undecided peers of the last apply (kept as they were), as one string. */
  private lastKeep = '';
  private readonly scheduler: CoalescingScheduler;
  private dnsTimer: NodeJS.Timeout | null = null;
  private statusSub: Subscription | null = null;
  private stopped = false;
  readonly counters = { applies: 0, unchanged: 0, applyFailures: 0, dnsPulls: 0, dnsDisagreements: 0, dnsFailures: 0, refusedPeers: 0 };

  /** Which registry's resolver the DNS-SD pull asks (an index into the registries, moved on after a failure). */
  private dnsResolver = 0;
  /** Every registry's hub key (bootstrap peers, never members); kept in step with the mesh's list (registriesChanged). */
  private readonly registryKeys: Set<string>;
  /** The mesh's registries (their resolvers for the DNS-SD pull). */
  private registries: RegistryInfo[];

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(ENROLLMENT) private readonly enrollment: Enrollment,
    @Inject(BUS_REF) private readonly bus: BusRef,
    @Inject(APPLY) private readonly apply: ApplyDesired,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.registries = registriesOf(enrollment);
    this.registryKeys = new Set(this.registries.map((r) => r.publicKey));
    this.connectTargets = config.onDemand || config.connect.length > 0 ? new Set(config.connect) : undefined;
    const e = enrollment;
    this.set = new DesiredSet({ meshCidr: e.meshCidr, registryAddress: e.registry.address, selfAddress: e.address, selfKey: e.publicKey, registryKey: e.registry.publicKey }, this.desiredOptions(), this.registryKeys);
    this.mirror = new PeerMirror({ load: snapshotLoader(async () => { const bus = await this.bus.ready; return (req) => bus.request(Patterns.peerSnapshot, req, parsePeerSnapshot); }, log), apply: (c) => this.onChange(c), log });
    this.scheduler = new CoalescingScheduler(() => this.applyDesired(), {
      delayMs: config.applyDelay,
      span: { name: 'peers.apply', attributes: { [Attr.node]: enrollment.name, [Attr.mesh]: config.mesh } },
      onError: (err, retryInMs) => {
        this.counters.applyFailures++;
        log.warn('applying the desired peers failed; retrying', { error: err.message, retryInMs });
      },
    });
  }

  /**
   * The mesh's registries changed while this member runs: an added registry's key is never a
   * member peer (a DNS-SD view may serve it as `self`), and its resolver is asked in turn. Keys
   * are only added (a removed registry's stays: member up may keep it until another registry
   * carries the mesh CIDR). The desired set holds registryKeys itself: it sees the change at once.
   */
  registriesChanged(registries: readonly RegistryInfo[]): void {
    this.registries = registries.map((r) => ({ ...r }));
    for (const r of registries) this.registryKeys.add(r.publicKey);
  }

  onApplicationBootstrap(): void {
    void this.bus.ready.then((bus) => {
      this.natsUp = true;
      this.statusSub = bus.status.subscribe((s) => {
        if (s === 'disconnected') this.natsUp = false;
        if (s === 'reconnected') {
          this.natsUp = true;
          void this.mirror.reload('nats reconnected');
        }
      });
    });
    if (this.config.zone) this.scheduleDnsPull(this.config.dnsPullInterval * 1000);
    else this.log.info('no --zone: the periodic DNS-SD pull (anti-entropy) is off');
  }

  /**
   * Once subscribed to `peers.events` (and this node's path updates): asks nat-probe for its
   * decisions first (`paths.get`), so that the first apply already honours them, then (re)loads
   * the snapshot so that nothing before is missed.
   */
  subscribed(): void {
    void this.askPaths().finally(() => void (this.mirror.ready ? this.mirror.reload('subscribed') : this.mirror.start()));
  }

  /** This node's path decisions now, when a nat-probe answers (none runs: every peer is direct). One request at a time. */
  private askPaths(): Promise<void> {
    if (this.pathsAsking) {
      this.pathsAskAgain = true;
      return this.pathsAsking;
    }
    this.pathsAsking = this.askPathsNow().finally(() => {
      this.pathsAsking = null;
      if (!this.pathsAskAgain || this.stopped) return;
      this.pathsAskAgain = false;
      void this.askPaths();
    });
    return this.pathsAsking;
  }

  private async askPathsNow(): Promise<void> {
    try {
      const bus = await this.bus.ready;
      const report = await readPathReport((req) => bus.request(Patterns.pathsGet, req, parsePathReport, { timeoutMs: PATHS_ASK_MS }));
      this.setPaths(report);
      if (this.undecided().length > 0) this.askPathsSoon();
    } catch (err) {
      if (!this.paths.seen) this.log.info('no path decisions from nat-probe: every peer goes direct until it reports', { error: (err as Error).message });
    }
  }

  /**
   * Members nat-probe has not decided about yet are waiting for its next update; the update that
   * decides them may have come before this node held a report (then it was a gap, and asked for)
   * or be lost with no update after it to show the gap, so its decisions are asked for again
   * shortly while any member waits.
   */
  private askPathsSoon(): void {
    if (this.pathsTimer || this.stopped) return;
    this.pathsTimer = setTimeout(() => {
      this.pathsTimer = null;
      void this.askPaths();
    }, PATHS_RECHECK_MS);
    this.pathsTimer.unref();
  }

  handleEvent(event: PeerEvent): void {
    this.mirror.handle(event);
  }

  /**
   * `node.<id>.connect`: adds (or removes) on-demand peers. In full-mesh mode every peer is
   * already wanted, so only `all` (back to full mesh, from on-demand) changes anything.
   */
  connect(req: ConnectRequest): ConnectReply {
    const targets = this.connectTargets;
    if (req.all) this.connectTargets = undefined;
    else if (targets && req.remove) req.targets.forEach((t) => targets.delete(t));
    else if (targets) req.targets.forEach((t) => targets.add(t));
    this.optionsChanged();
    this.log.info('connect request', { mode: this.connectTargets ? 'on-demand' : 'full', requested: req.targets, remove: req.remove ?? false, targets: [...(this.connectTargets ?? [])] });
    this.scheduler.trigger();
    return {
      mode: this.connectTargets ? 'on-demand' : 'full',
      targets: [...(this.connectTargets ?? [])],
      peers: this.desired()?.map((p) => p.publicKey) ?? [],
    };
  }

  /**
   * An update of this node's path decisions (`node.<id>.paths`, from its nat-probe): applied to
   * the report held; when one was missed (or none is held yet, or nat-probe restarted) the whole
   * report is asked for instead (`paths.get`).
   */
  updatePaths(update: PathUpdate): void {
    const outcome = this.pathView.update(update);
    if (outcome === 'gap') void this.askPaths();
    else if (outcome === 'applied') this.applyPaths(this.pathView.report!);
  }

  /**
   * This node's path decisions, whole (a `paths.get` reply; an older one than held is ignored):
   * relayed peers are left out (traffic takes the registry peer), peers under a direct attempt get
   * no routes, peers it has not decided about yet are left out too (the relay carries them).
   * Without any report (no nat-probe runs) every peer is direct.
   */
  setPaths(report: PathReport): void {
    if (this.pathView.full(report)) this.applyPaths(report);
  }

  private applyPaths(report: PathReport): void {
    if (!this.paths.set(report)) return;
    this.optionsChanged();
    const { relayed, attempt, punched } = this.paths;
    this.log.info('path decisions changed', { relayed: relayed.size, attempts: attempt.size, punched: punched.size, direct: report.decisions.length - relayed.size });
    this.scheduler.trigger();
  }

  /** This node's public key. */
  get publicKey(): string {
    return this.enrollment.publicKey;
  }

  /** Resolves once no apply is scheduled or running. */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  /** The peer table in use (mirror, or the DNS view while NATS is down). */
  source(): PeerRecord[] | null {
    if (this.fromMirror()) return [...this.table.values()];
    return this.dnsView;
  }

  private fromMirror(): boolean {
    return this.mirror.ready && (this.natsUp || this.dnsView === null);
  }

  private desiredOptions(): DesiredOptions {
    return {
      keepalive: this.config.keepalive,
      connect: this.connectTargets,
      relayed: this.paths.relayed,
      attempt: this.paths.attempt,
      punched: this.paths.punched,
      decided: this.paths.decided,
      registryKey: this.enrollment.registry.publicKey,
    };
  }

  /** Path decisions or targets changed: every entry is re-decided, and the next apply is whole. */
  private optionsChanged(): void {
    this.set.setOptions(this.desiredOptions());
    this.whole = true;
  }

  /** The whole desired set now (null before any table). */
  private desired() {
    if (this.fromMirror()) {
      this.logRefused(this.set.takeNewlyRefused());
      return this.set.list();
    }
    const source = this.dnsView;
    if (!source) return null;
    const refused = this.refuse(source);
    // Every registry of the mesh is a bootstrap peer of its own (a DNS-SD view may serve one as `self`): never a member.
    const registries = this.registryKeys;
    return desiredPeers(source.filter((p) => !refused.has(p.publicKey) && !registries.has(p.publicKey)), { publicKey: this.enrollment.publicKey }, this.desiredOptions());
  }

  /** The DNS view's peers this node must not configure (refusedPeers); each newly refused one logged and counted once. */
  private refuse(source: readonly PeerRecord[]): Map<string, string> {
    const e = this.enrollment;
    const refused = refusedPeers(source, { meshCidr: e.meshCidr, registryAddress: e.registry.address, selfAddress: e.address, selfKey: e.publicKey, registryKey: e.registry.publicKey });
    this.logRefused([...refused].filter(([k, reason]) => this.refused.get(k) !== reason), source);
    this.refused = refused;
    return refused;
  }

  private logRefused(fresh: ReadonlyArray<[string, string]>, source?: readonly PeerRecord[]): void {
    for (const [publicKey, reason] of fresh) {
      this.counters.refusedPeers++;
      const p = source ? source.find((x) => x.publicKey === publicKey) : this.table.get(publicKey);
      this.log.warn('refused a peer of the table: not configured on this device', { publicKey, name: p?.name, allowedIps: p?.allowedIps, reason });
    }
  }

  private onChange(change: MirrorChange): void {
    if (change.type === 'reset') {
      this.set.reset(change.peers);
      this.dnsView = null;
      this.whole = true;
    } else if (change.type === 'upsert') this.set.upsert(change.peer);
    else this.set.remove(change.publicKey);
    // Our own endpoint moved (a NAT rebinding): our NAT now drops the others' packets to the new
    // port until we have sent to them from it, so the next apply pokes every direct peer (and
    // each of them pokes us when it applies our new endpoint: see movedPeers).
    const own = this.table.get(this.enrollment.publicKey)?.endpoint ?? null;
    const from = this.ownEndpoint.see(own);
    if (from !== null) {
      this.pokeAll = true;
      this.log.info('this node\'s endpoint changed; poking the direct peers', { from, to: own });
    }
    this.scheduler.trigger();
  }

  private async applyDesired(): Promise<void> {
    if (this.whole || this.pokeAll || this.set.needsWhole || !this.fromMirror()) return this.applyWhole();
    this.logRefused(this.set.takeNewlyRefused());
    const decided = this.paths.decided;
    let waiting = false; // a changed peer waits for nat-probe's decision
    const delta = this.set.delta((k) => (this.isUndecided(k, decided) ? (waiting = true) : false));
    if (waiting) this.askPathsSoon();
    if (delta.upsert.length === 0 && delta.remove.length === 0) {
      this.set.commit(delta);
      this.counters.unchanged++;
      setSpanAttributes({ [Attr.result]: 'unchanged', [Attr.peersChanged]: 0 });
      return; // e.g. a handshake-only event: nothing this node acts on changed
    }
    const started = performance.now();
    const revision = this.mirror.revision;
    const changed = delta.upsert.length + delta.remove.length;
    setSpanAttributes({ [Attr.result]: 'applied', [Attr.peersChanged]: changed, [Attr.revision]: revision });
    try {
      await this.apply({ peers: delta.upsert, replace: false, revision, ...(delta.remove.length > 0 ? { remove: delta.remove } : {}), ...(delta.moved.length > 0 ? { poke: delta.moved } : {}) });
    } catch (err) {
      this.whole = true; // the retry sends the whole set (and pokes what moved since the last apply)
      throw err;
    }
    this.set.commit(delta);
    this.counters.applies++;
    this.log.info('desired peers applied', { changed, revision, ms: Math.round(performance.now() - started) });
  }

  /**
   * The whole desired set (`replace: true`, undecided peers kept as they are); skipped when
   * neither it nor the kept peers differ from the last apply.
   */
  private async applyWhole(): Promise<void> {
    const at = this.set.version;
    const peers = this.desired();
    if (!peers) return setSpanAttributes({ [Attr.result]: 'no-table' }); // fail-static: no table yet
    const mirror = this.fromMirror();
    const keep = this.undecided();
    const keepKey = keep.join(',');
    if (keep.length > 0) this.askPathsSoon();
    let poke: string[];
    let same: boolean;
    if (mirror && !this.set.needsWhole) {
      // Against what the set last applied (deltas included).
      poke = this.pokeAll ? peers.map((p) => p.publicKey) : this.set.movedSinceApplied();
      const kept = new Set(keep);
      const d = this.set.delta((k) => kept.has(k));
      same = d.upsert.length === 0 && d.remove.length === 0;
    } else {
      poke = this.pokeAll ? peers.map((p) => p.publicKey) : movedPeers(peers, mirror ? null : this.lastApplied);
      same = !mirror && this.lastApplied !== null && sameDesiredPeers(peers, this.lastApplied);
    }
    if (poke.length === 0 && same && keepKey === this.lastKeep) {
      if (mirror) this.appliedWhole(peers, at, keep);
      this.counters.unchanged++;
      setSpanAttributes({ [Attr.result]: 'unchanged', [Attr.peers]: peers.length, [Attr.peersChanged]: 0 });
      return;
    }
    const started = performance.now();
    const revision = this.mirror.revision;
    setSpanAttributes({ [Attr.result]: 'applied', [Attr.peers]: peers.length, [Attr.peersChanged]: mirror ? peers.length : countChangedPeers(peers, this.lastApplied), [Attr.revision]: revision });
    await this.apply({ peers, replace: true, revision, ...(poke.length > 0 ? { poke } : {}), ...(keep.length > 0 ? { keep } : {}) });
    if (poke.length > 0) this.pokeAll = false; // (a failed apply is retried with the poke)
    this.lastKeep = keepKey;
    if (mirror) this.appliedWhole(peers, at, keep);
    else {
      this.lastApplied = peers;
      this.set.invalidate(); // back on the mirror, the first apply is whole again
    }
    this.counters.applies++;
    this.log.info('desired peers applied', { peers: peers.length, revision, ms: Math.round(performance.now() - started) });
  }

  /** The mirror's whole set is on the device: deltas from here on. */
  private appliedWhole(peers: DesiredPeer[], at: number, keep: string[]): void {
    this.set.commitWhole(peers, at, keep);
    this.whole = false;
    this.lastApplied = null; // (the set knows what was applied)
  }

  /** A peer nat-probe has not decided about (left on the device as it is); see undecided(). */
  private isUndecided(key: string, decided: ReadonlySet<string> | undefined): boolean {
    if (!decided || decided.has(key)) return false;
    const p = this.table.get(key);
    return p !== undefined && p.endpoint !== null && p.allowedIps.length > 0 && key !== this.enrollment.publicKey && !this.registryKeys.has(key);
  }

  /**
   * Members nat-probe has not decided about yet: left on the device as they are (not added, not
   * removed), so that a restart keeps the sessions that were up.
   */
  private undecided(): string[] {
    return this.paths.undecided(this.table.values(), { publicKey: this.enrollment.publicKey, registryKeys: this.registryKeys });
  }


  private scheduleDnsPull(delayMs: number): void {
    if (this.stopped) return;
    this.dnsTimer = setTimeout(() => void this.dnsPull().finally(() => this.scheduleDnsPull(this.config.dnsPullInterval * 1000)), delayMs);
  }

  /** One anti-entropy round (also callable from tests). */
  async dnsPull(): Promise<void> {
    // Without --dns-server: the registries' resolvers in turn, the next one after a failure (several registries).
    const resolvers = [this.enrollment.registry.address, ...this.registries.map((r) => r.address).filter((a) => a !== this.enrollment.registry.address)];
    const server = this.config.dnsServer ?? { host: resolvers[this.dnsResolver % resolvers.length], port: 53 };
    this.counters.dnsPulls++;
    let result;
    try {
      result = await pullPeers({ server, zone: this.config.zone!, timeoutMs: 2000 });
    } catch (err) {
      if (!(err instanceof DnsPullError)) throw err;
      this.counters.dnsFailures++;
      this.log.warn('DNS-SD pull failed', { server: `${server.host}:${server.port}`, error: err.message });
      this.dnsResolver++;
      return;
    }
    for (const problem of result.problems) this.log.warn('DNS-SD pull: skipped an instance', { problem });
    this.lastApplied = null; // re-send the desired set on every round (repairs the device)
    this.set.invalidate();
    this.whole = true;
    if (!this.natsUp || !this.mirror.ready) {
      this.dnsView = result.peers;
      this.log.warn('NATS is down: using the DNS-SD view as the peer table', { peers: result.peers.length });
      this.scheduler.trigger();
      return;
    }
    const diffs = compareViews([...this.table.values()], result.peers, { ignore: this.registryKeys, truncated: result.truncated });
    if (diffs.length > 0) {
      this.counters.dnsDisagreements++;
      this.log.warn('the DNS-SD view disagrees with the peer table; reloading the snapshot', { differences: diffs.length, first: diffs.slice(0, 5), revision: this.mirror.revision });
      await this.mirror.reload('dns-sd disagrees');
    }
    this.scheduler.trigger();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    if (this.pathsTimer) clearTimeout(this.pathsTimer);
    this.statusSub?.unsubscribe();
    this.mirror.stop();
    this.scheduler.stop();
  }
}

/**
 * Peers whose endpoint changed since the last apply. Each gets a keepalive right away: our NAT
 * lets a peer's packets in only from an address we have sent to, so a peer that moved (a NAT
 * rebinding on its side) could not reach us until our next keepalive otherwise.
 */
function movedPeers(peers: readonly DesiredPeer[], last: readonly DesiredPeer[] | null): string[] {
  if (!last) return [];
  const before = new Map(last.map((p) => [p.publicKey, p.endpoint]));
  return peers.filter((p) => before.has(p.publicKey) && p.endpoint !== null && before.get(p.publicKey) !== p.endpoint).map((p) => p.publicKey);
}
