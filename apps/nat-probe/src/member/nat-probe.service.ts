import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataplaneApplyRequest, DataplaneStateUpdate, DataplaneStateView, NatReport, NatType, parseDataplaneApplyResult, parseDataplaneState, parsePathReport, parsePeerSnapshot, PathDecision, PathReport, PathsGetRequest, Patterns, PeerEvent, PeerRecord, PunchMessage, readDataplaneState } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { AddressedDecision, ClassifySchedule, DEFAULT_PLANNER_OPTIONS, FIRST_CLASSIFICATION_WAIT_MS, LeaderDecisions, LeaderRef, MemberPaths, NatLock, Puncher, TechniqueCounts } from '@wgmesh/nat-probe';
import type { StunAddress } from '@wgmesh/stun';
import { attemptKeepalive } from '@wgmesh/peer-discovery';
import { countError, meshMetrics, setNatType, setPathCounts } from '@wgmesh/telemetry';
import { BusRef, RequestError } from '@wgmesh/nats-transport';
import type { Enrollment } from '@wgmesh/peer-discovery';
import { MirrorChange, PeerMirror, snapshotLoader } from '@wgmesh/peer-sync';
import { networkInterfaces } from 'node:os';
import { INTERFACE_CHECK_MS, NatProbeMemberConfig, PATH_RESEND_CHECK_MS } from '../config';
import { BUS_REF, CLASSIFY, CONFIG, ENROLLMENT, LOGGER, SAMPLE } from '../tokens';

/** What a classification yields (the report without who and when). */
export type NatClassification = Omit<NatReport, 'node' | 'publicKey' | 'at'>;
/**
 * Classifies this node's NAT against a STUN server ("ip:port"); without `filtering`, the mapping
 * tests alone (all `nat` needs: a few round trips instead of the seconds filtering tests take).
 */
export type Classify = (server: string, opts: { filtering: boolean; natLock?: () => Promise<() => void> }) => Promise<NatClassification>;
/** This node's mapping now against a STUN server ("ip:port"): one Binding from a fresh socket. */
export type SampleMapping = (server: string) => Promise<StunAddress | null>;

/**
 * A led attempt without a handshake this long after its punch (or the last nudge) sends its
 * initiation again: the state reads 50/250/1000 ms after a punch would have shown a handshake by
 * then. WireGuard retries on its own only after 5 s, which a lost packet costs the attempt.
 */
const NUDGE_MS = 1000;
/** Nudges stop this long after the punch: NATs keep an unanswered UDP flow 30 s and more (Linux: 30 s). */
const NUDGE_WINDOW_MS = 20_000;
/** How long the dataplane-programmer's answer to one page of `dataplane.state.get` is waited for. */
const STATE_GET_MS = 5000;
/** How long a leader's answer to `paths.get` is waited for (then asked again: LeaderDecisions). */
const LEADER_ASK_MS = 2000;

/**
 * nat-probe on a member:
 * - classifies this node's NAT (at start, every --nat-interval, and at once when its interface
 *   addresses or its registry-observed endpoint change) and publishes `node.<id>.nat`, which the
 *   registry turns into the peer record's `nat`;
 * - decides each pair's path with the PathPlanner from both NATs, this node's handshakes
 *   (`node.<id>.dataplane.state`) and the decisions of the pairs' leaders (addressed to it,
 *   `node.<id>.paths.from.<leader>`, and asked for with `node.<leader>.paths.get` at each table
 *   load: see LeaderDecisions); publishes what changed on `node.<id>.paths` (numbered updates,
 *   on change only), which this node's peer-discovery applies, and sends each follower of a pair
 *   it leads its decision (`node.<follower>.paths.from.<id>`, on change and once more 30 s
 *   later); `node.<id>.paths.get` answers with the whole current report;
 * - punches every attempt of a pair it leads (`node.<peer>.punch.<id>`, see Puncher), and answers
 *   the offers of the pairs it follows, through its own dataplane (`punch` in an apply request).
 */
@Injectable()
export class NatProbeService implements OnApplicationBootstrap, OnModuleDestroy {
  readonly mirror: PeerMirror;
  /** The peer table: the mirror's. */
  private get table(): ReadonlyMap<string, PeerRecord> {
    return this.mirror.table;
  }
  /** What the leaders of this node's pairs decided about it (events, and asked for at each table load). */
  private readonly leaders: LeaderDecisions;
  /** Handshakes, the planner, punched attempts and the report (libs/nat-probe: MemberPaths). */
  private readonly paths: MemberPaths;
  /** This node's device state as its updates keep it (`node.<id>.dataplane.state` on a `dataplane.state.get` reply). */
  private readonly deviceState = new DataplaneStateView();
  private stateFetch: Promise<void> | null = null;
  private stateFetchAgain = false;
  private nat: NatClassification | null = null;
  /** The last endpoint the registry saw this node at (null: none yet). */
  private ownEndpoint: string | null = null;
  private interfaces = interfaceFingerprint();
  /** When to classify (libs/nat-probe: ClassifySchedule). */
  private readonly schedule: ClassifySchedule;
  private timers: { plan?: NodeJS.Timeout; interfaces?: NodeJS.Timeout; resend?: NodeJS.Timeout; firstWait?: NodeJS.Timeout } = {};
  private stopped = false;
  readonly counters = { classifications: 0, classificationFailures: 0, natChanges: 0, plans: 0, reportsPublished: 0, decisionsSent: 0, nudges: 0 };
  readonly puncher: Puncher;
  /** Classifications and punches open NAT mappings on purpose: one at a time (port prediction). */
  private readonly natLock = new NatLock();

  constructor(
    @Inject(CONFIG) private readonly config: NatProbeMemberConfig,
    @Inject(ENROLLMENT) private readonly enrollment: Enrollment,
    @Inject(BUS_REF) private readonly bus: BusRef,
    @Inject(CLASSIFY) private readonly classifyNat: Classify,
    @Inject(SAMPLE) private readonly sampleMapping: SampleMapping,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.paths = new MemberPaths({
      self: { publicKey: enrollment.publicKey, name: enrollment.name },
      registryKey: enrollment.registry.publicKey,
      startedAt: Date.now(),
      planner: {
        deadlineMs: config.pathDeadline * 1000,
        retryBaseMs: config.pathRetry * 1000,
        retryMaxMs: Math.max(config.pathRetry, config.pathRetryMax) * 1000,
        staleHandshakeMs: DEFAULT_PLANNER_OPTIONS.staleHandshakeMs,
      },
    });
    this.schedule = new ClassifySchedule({ run: (reason, quick) => this.runClassification(reason, quick), intervalMs: config.natInterval * 1000 });
    this.mirror = new PeerMirror({ load: snapshotLoader(async () => { const bus = await this.bus.ready; return (req) => bus.request(Patterns.peerSnapshot, req, parsePeerSnapshot); }, log), apply: (c) => this.onChange(c), log });
    this.leaders = new LeaderDecisions({ self: enrollment.publicKey, ask: (leader) => this.askLeader(leader), changed: (leader) => this.leaderChanged(leader), log: log.child({ component: 'leaders' }) });
    this.puncher = new Puncher({
      self: { publicKey: enrollment.publicKey, name: enrollment.name },
      portStep: () => this.nat?.portStep,
      natPending: () => this.nat === null,
      sample: () => this.sampleMapping(this.stunServer),
      spray: (peer, endpoints) => this.spray(peer, endpoints),
      publish: (m) => this.publishPunch(m),
      peer: (key) => this.table.get(key),
      follow: (leader, decision) => {
        if (decision.peer === this.enrollment.publicKey) this.leaders.set(leader, decision);
      },
      exclusive: (fn) => this.natLock.run(fn),
      log: log.child({ component: 'punch' }),
    });
  }

  get mesh(): string {
    return this.config.mesh;
  }

  /** The STUN server probed: --stun-server, or port 3478 at the registry endpoint's address. */
  get stunServer(): string {
    if (this.config.stunServer) return this.config.stunServer;
    const host = this.enrollment.registry.endpoint.replace(/:\d+$/, '');
    return `${host}:3478`;
  }

  onApplicationBootstrap(): void {
    void this.classify('start');
    // Pairs wait for the first classification; without one in time they are decided without it.
    this.timers.firstWait = setTimeout(() => this.plan(), FIRST_CLASSIFICATION_WAIT_MS + 1);
    this.timers.firstWait.unref();
    this.timers.interfaces = setInterval(() => {
      const now = interfaceFingerprint();
      if (now === this.interfaces) return;
      this.interfaces = now;
      void this.classify('interface addresses changed');
    }, INTERFACE_CHECK_MS);
    this.timers.resend = setInterval(() => this.resend(), PATH_RESEND_CHECK_MS);
    this.timers.interfaces.unref();
    this.timers.resend.unref();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    this.leaders.stop();
    this.schedule.stop();
    for (const t of Object.values(this.timers)) if (t) clearTimeout(t);
  }

  /** Once subscribed to `peers.events` and `dataplane.state`: (re)load the table and the device state so that nothing before is missed. */
  subscribed(): void {
    void (this.mirror.ready ? this.mirror.reload('subscribed') : this.mirror.start());
    void this.fetchState();
  }

  handlePeerEvent(event: PeerEvent): void {
    this.mirror.handle(event);
  }

  /**
   * An update of this node's device state (`node.<id>.dataplane.state`: the peers that changed,
   * numbered): applied to the state held, and the handshakes in it observed; one that shows a gap
   * (a missed update, the programmer restarted, none held yet) fetches the whole state instead.
   */
  handleState(update: DataplaneStateUpdate): void {
    const outcome = this.deviceState.update(update);
    if (outcome === 'applied') {
      if (update.changed.length > 0 || update.removed.length > 0) this.observe();
    } else if (outcome === 'gap') void this.fetchState();
  }

  /** This node's whole device state (`node.<id>.dataplane.state.get`, paged), one fetch at a time (another after it when asked meanwhile). Never rejects. */
  private fetchState(): Promise<void> {
    if (this.stateFetch) {
      this.stateFetchAgain = true;
      return this.stateFetch;
    }
    this.stateFetch = (async () => {
      do {
        this.stateFetchAgain = false;
        try {
          const bus = await this.bus.ready;
          const node = this.enrollment.name;
          const state = await readDataplaneState((req) => bus.request(Patterns.dataplaneStateGet, req, parseDataplaneState, { node, timeoutMs: STATE_GET_MS }));
          if (this.deviceState.full(state)) this.observe();
        } catch (err) {
          // No dataplane-programmer (yet): its first update (a new epoch) shows the gap and asks again.
          this.log.debug('no device state', { error: (err as Error).message });
        }
      } while (this.stateFetchAgain && !this.stopped);
    })().finally(() => (this.stateFetch = null));
    return this.stateFetch;
  }

  /** The handshakes of the device state held, into the planner; plans when any changed. */
  private observe(): void {
    const state = this.deviceState.state;
    if (state && this.paths.observe(state).length > 0) this.plan();
  }

  /**
   * A leader's decision about this node, addressed to it (`node.<self>.paths.from.<node>`; NATS
   * lets only `node` send with that last token): kept when that member leads our pair. False when
   * the report is not from the key enrolled under that node (dropped: a member cannot speak for
   * another). A key not in the table yet is ignored: its decisions are asked for when it appears
   * (onChange).
   */
  handlePathReport(report: PathReport, node: string): boolean {
    if (report.publicKey === this.enrollment.publicKey) return true;
    const enrolled = this.table.get(report.publicKey);
    if (!enrolled) return true;
    if (enrolled.name !== node || report.node !== node) return false;
    this.leaders.accept(report);
    return true;
  }

  /** A punch message addressed to this node by `node` (offers to us, answers to our offers). */
  handlePunch(message: PunchMessage, node: string): Promise<void> {
    return this.puncher.handle(message, node);
  }

  /** Counters per technique over the pairs this node leads. */
  techniques(): TechniqueCounts {
    return this.paths.techniques();
  }

  /** The current decisions (`node.<id>.paths.get`: one page of them); with `peer`, only the decision about that member. */
  current(request: PathsGetRequest = {}): PathReport {
    return this.paths.current(Date.now(), request.peer, request);
  }

  /**
   * Classifies now (runs once at a time; a request during a run runs again after it). Except on
   * the interval, the mapping tests run alone first, so the NAT type (and the paths that depend on
   * it) is known in a few round trips; the full classification with filtering follows 2 s later.
   */
  classify(reason: string): Promise<void> {
    return this.schedule.request(reason);
  }

  private async runClassification(reason: string, quick: boolean): Promise<void> {
    const server = this.stunServer;
    let result: NatClassification;
    try {
      // The tests that open NAT mappings take the NAT lock (not the filtering tests' wait).
      result = await this.classifyNat(server, { filtering: !quick, natLock: () => this.natLock.acquire() });
      this.counters.classifications++;
    } catch (err) {
      this.counters.classificationFailures++;
      countError('nat_probe');
      this.log.warn('NAT classification failed', { server, reason, error: (err as Error).message });
      return;
    }
    const previous = this.nat;
    if (result.mappedAddress === null && previous !== null) {
      // The STUN server did not answer at all (the registry is away: restarting, its host lost):
      // nothing was learnt about the NAT, which has not changed for that. Paths stay as decided.
      this.log.warn('the STUN server did not answer; keeping the last NAT classification', { server, reason, nat: previous.nat });
      return;
    }
    this.nat = result;
    this.paths.classified(result);
    meshMetrics.natProbes().inc({ nat: result.nat });
    setNatType(result.nat);
    const changed = previous === null || previous.nat !== result.nat || previous.mapping !== result.mapping || previous.filtering !== result.filtering;
    if (changed) {
      this.counters.natChanges++;
      this.log.info('NAT classified', { reason, nat: result.nat, previous: previous?.nat ?? null, mapping: result.mapping, filtering: result.filtering, mappedAddress: result.mappedAddress, server, method: result.method });
    }
    const report: NatReport = { node: this.enrollment.name, publicKey: this.enrollment.publicKey, ...result, at: Date.now() };
    if (changed) this.plan();
    // Sent every time: the registry ignores repeats, and a restarted registry learns it again.
    (await this.bus.ready).publish(Patterns.nat, report);
  }

  private onChange(change: MirrorChange): void {
    this.paths.table(change);
    if (change.type === 'reset') {
      // Subscribed to the reports before this load: what the leaders decided before is asked for now.
      void this.leaders.sync(this.members([...this.table.values()]));
    } else if (change.type === 'upsert') {
      // A member new to the table: its reports were dropped until now (not known yet), so ask it.
      if (!change.previous) void this.leaders.ask(this.members([change.peer]));
    } else {
      this.leaders.forget(change.publicKey);
    }
    const own = this.table.get(this.enrollment.publicKey)?.endpoint ?? null;
    if (own !== null) {
      // A new endpoint, not the first one (the classification at start covers that).
      if (this.ownEndpoint !== null && own !== this.ownEndpoint) void this.classify(`the registry sees this node at a new endpoint (${own})`);
      this.ownEndpoint = own;
    }
    this.plan();
  }

  /** A leader's decision about this node changed: that pair is decided again. */
  private leaderChanged(leader: string): void {
    this.paths.leader(leader, this.leaders.map.get(leader));
    this.plan();
  }

  /**
   * Runs the planner over the pairs touched since the last step and those due (MemberPaths);
   * publishes when a decision changed; wakes up for the next deadline, retry or stale handshake.
   */
  private plan(): void {
    if (this.stopped || !this.mirror.ready) return;
    const now = Date.now();
    const step = this.paths.plan({ now });
    this.counters.plans++;
    if (this.timers.plan) clearTimeout(this.timers.plan);
    if (step.nextWakeAt !== null) this.timers.plan = setTimeout(() => this.plan(), Math.max(0, step.nextWakeAt - now) + 5);
    for (const d of step.punch) this.punch(d);
    if (!step.changed) return;
    setPathCounts(this.paths.pathCounts());
    for (const d of step.changed) this.log.info('path decided', { peer: d.peerName ?? d.peer, publicKey: d.peer, path: d.path, attempt: d.attempt, reason: d.reason });
    this.publishChanges();
  }

  /**
   * Punches an attempt of a pair this node leads (MemberPaths hands each attempt out once):
   * the outcome goes back to the planner (reasons, counters, the decision's technique).
   */
  private punch(d: PathDecision): void {
    void this.puncher.lead(d.peer, d).then(
      (outcome) => {
        if (this.paths.punched(d.peer, d.since, outcome)) {
          this.log.info('punched', { peer: d.peerName ?? d.peer, technique: outcome.technique, detail: outcome.detail });
          this.plan();
          if (outcome.aim) this.nudgeLater(d, outcome.aim, Date.now());
        }
      },
      (err: Error) => {
        countError('nat_probe');
        this.log.warn('punch failed', { peer: d.peerName ?? d.peer, error: err.message });
        if (this.paths.punched(d.peer, d.since, { technique: 'punch', detail: `punch failed: ${err.message}` })) this.plan();
      },
    );
  }

  /**
   * While the attempt a punch served goes on, the device sends its initiation again every
   * NUDGE_MS (for NUDGE_WINDOW_MS at most, while the NATs surely keep the punched flows).
   */
  private nudgeLater(d: PathDecision, aim: string, punchedAt: number): void {
    setTimeout(() => {
      if (this.stopped || !this.paths.attempting(d.peer, d.since) || Date.now() - punchedAt > NUDGE_WINDOW_MS) return;
      this.counters.nudges++;
      this.puncher.nudge(d.peer, aim).then(
        () => this.nudgeLater(d, aim, punchedAt),
        (err: Error) => this.log.warn('nudge failed', { peer: d.peerName ?? d.peer, error: err.message }),
      );
    }, NUDGE_MS).unref();
  }

  /** The dataplane's punch: one handshake initiation to each endpoint, the peer then kept as an attempt. */
  private async spray(peer: string, endpoints: string[]): Promise<void> {
    const request: DataplaneApplyRequest = { peers: [], replace: false, punch: [{ publicKey: peer, endpoints, allowedIps: [], persistentKeepalive: attemptKeepalive(this.config.keepalive ?? 0) }] };
    await (await this.bus.ready).request(Patterns.dataplaneApply, request, parseDataplaneApplyResult, { timeoutMs: 5000 });
  }

  /** To the other end of the pair only (`node.<to>.punch.<self>`). */
  private publishPunch(message: PunchMessage): void {
    const bus = this.bus.current;
    if (!bus) throw new Error('NATS is not connected');
    const to = this.table.get(message.to)?.name;
    if (to === undefined) throw new Error(`no node id for ${message.to} in the peer table`);
    bus.publish(Patterns.punch, message, { node: to });
  }

  /**
   * What changed since the last update: the update on `node.<id>.paths`, and each changed led
   * pair's decision to its follower. Without NATS now, the changes wait for the next call (the
   * next change or the resend check): MemberPaths keeps what was sent last.
   */
  private publishChanges(): void {
    const bus = this.bus.current;
    if (!bus) return;
    const out = this.paths.outgoing(Date.now());
    if (out.update) {
      bus.publish(Patterns.paths, out.update);
      this.counters.reportsPublished++;
    }
    this.sendAddressed(out.addressed);
  }

  /** Changes not sent yet (NATS was away), and the once-more of decisions sent PATH_RESEND_MS ago. */
  private resend(): void {
    if (!this.bus.current || !this.mirror.ready) return;
    this.publishChanges();
    this.sendAddressed(this.paths.resend(Date.now()));
  }

  private sendAddressed(decisions: readonly AddressedDecision[]): void {
    const bus = this.bus.current;
    if (!bus) return;
    for (const a of decisions) bus.publish(Patterns.pathsTo, a.report, { node: a.to });
    this.counters.decisionsSent += decisions.length;
  }

  /** The members that may lead a pair with this node (named: a node id to ask). */
  private members(peers: readonly PeerRecord[]): LeaderRef[] {
    const out: LeaderRef[] = [];
    for (const p of peers) if (p.name !== undefined && p.publicKey !== this.enrollment.registry.publicKey) out.push({ name: p.name, publicKey: p.publicKey });
    return out;
  }

  /** `node.<leader>.paths.get` for the decision about this node; 'absent' when no nat-probe serves it. */
  private async askLeader(leader: LeaderRef): Promise<PathReport | 'absent'> {
    const bus = await this.bus.ready;
    try {
      return await bus.request(Patterns.pathsGet, { peer: this.enrollment.publicKey }, parsePathReport, { node: leader.name, timeoutMs: LEADER_ASK_MS });
    } catch (err) {
      if (err instanceof RequestError && err.code === 'no_responders') return 'absent';
      throw err;
    }
  }


  /** This node's own NAT summary, as last classified (undefined before the first answer). */
  get natType(): NatType | undefined {
    return this.nat?.nat;
  }
}

/** The node's non-internal interface addresses, as one comparable string. */
function interfaceFingerprint(): string {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal) out.push(`${name}=${a.address}`);
  }
  return out.sort().join(',');
}
