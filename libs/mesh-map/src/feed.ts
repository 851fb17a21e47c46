import { DataplaneState, DataplaneStateUpdate, DataplaneStateView, nodeOfSubject, parseDataplaneState, parsePathReport, parsePeerSnapshot, PathReportView, PathUpdate, Patterns, readDataplaneState, readPathReport } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { MirrorChange, PeerMirror, readPagedSnapshot } from '@wgmesh/peer-sync';
import { countError } from '@wgmesh/telemetry';
import type { Subscription } from 'nats';
import { MapInputError, MeshMap } from './mesh-map';

/** How long a member's `paths.get` may take; a member that does not answer sends its next update when a decision changes. */
const PATHS_GET_TIMEOUT_MS = 2000;
/** `paths.get` requests in flight at once when (re)loading every member's decisions. */
const PATHS_GET_CONCURRENCY = 8;

export interface MapFeedOptions {
  map: MeshMap;
  bus: MeshBus;
  /** The node id of the hub's dataplane-programmer ("registry"): its state gives the hub handshakes. */
  registryNode: string;
  log: Logger;
  /** Called after every input that changed the map. */
  changed?: () => void;
}

/**
 * Feeds a MeshMap from NATS, state first: it subscribes to `peers.events`, `node.*.paths`,
 * `node.*.nat` and the hub's `node.<registry>.dataplane.state`, then loads the peer table
 * (`peers.snapshot`, through a PeerMirror: revision order, gap reloads) and asks every member for
 * its current decisions (`node.<id>.paths.get`), so a decision taken before the map started shows.
 * A member's `node.<id>.paths` events are updates (what changed, numbered): applied to its report
 * as held (PathReportView); one that shows a gap (a missed update, a restart) fetches the report.
 * The hub's device state (each member's handshake with it) is read whole
 * (`node.<registry>.dataplane.state.get`, paged) at the start and whenever one of its updates
 * (`node.<registry>.dataplane.state`: the peers that changed, numbered) shows a gap; the updates
 * in between go into the map as they are (DataplaneStateView keeps the numbering).
 * After a NATS reconnect it does all again. A member's dataplane kind comes from its first
 * `node.<id>.dataplane.state` update (a one-message subscription per member; every update names
 * the kind, and one comes at least every --state-interval). Inputs that fail their contract are refused by the
 * transport; inputs from a node that is not the member it claims to be are dropped and counted
 * (`wgmesh_errors_total{kind="invalid_event"}`), those of a node that is no member (yet) dropped.
 */
export class MapFeed {
  private readonly mirror: PeerMirror;
  private readonly subs: Subscription[] = [];
  /** Members whose first dataplane state is awaited: key → its one-message subscription. */
  private readonly awaitingState = new Map<string, Subscription>();
  /** Each member's report as its updates keep it (by node id). */
  private readonly views = new Map<string, PathReportView>();
  /** The hub's device state as its updates number it. */
  private readonly hubView = new DataplaneStateView();
  /** A hub state fetch under way. */
  private hubFetch: Promise<void> | null = null;
  private hubFetchAgain = false;
  private stopped = false;
  /** Resolves once the peer table and every member's decisions were loaded the first time. */
  loaded: Promise<void> = Promise.resolve();
  readonly counters = { refused: 0, pathsFetched: 0, pathsMissed: 0, hubStatesFetched: 0 };

  private constructor(private readonly opts: MapFeedOptions) {
    this.mirror = new PeerMirror({
      load: (reason) => this.loadTable(reason),
      apply: (c) => this.applyPeers(c),
      log: opts.log,
    });
  }

  /** Subscribes, then loads in the background (`loaded`): the peer table load retries until it succeeds. */
  static async start(opts: MapFeedOptions): Promise<MapFeed> {
    const feed = new MapFeed(opts);
    await feed.subscribe();
    feed.loaded = feed.resync('start').then(() => opts.map.live());
    return feed;
  }

  private async subscribe(): Promise<void> {
    const { bus, map } = this.opts;
    this.subs.push(
      bus.subscribe(Patterns.peerEvents, (event) => this.mirror.handle(event)),
      bus.subscribe(Patterns.paths, (value, msg) => this.fromNode(msg.subject, (node) => this.pathUpdate(node, value)), { node: '*' }),
      bus.subscribe(Patterns.nat, (value, msg) => this.fromNode(msg.subject, (node) => map.natReport(node, value)), { node: '*' }),
      bus.subscribe(Patterns.dataplaneState, (update) => this.hubUpdate(update), { node: this.opts.registryNode }),
    );
    bus.status.subscribe((s) => {
      if (s === 'reconnected' && !this.stopped) void this.resync('NATS reconnected');
    });
    await bus.flush();
  }

  /** Reloads the peer table, then every member's decisions. Never rejects. */
  private async resync(reason: string): Promise<void> {
    try {
      await this.mirror.reload(reason);
      if (this.stopped) return;
      await this.fetchHubState();
      if (this.stopped) return;
      const names = [...this.opts.map.memberList()].map((m) => m.name).filter((n): n is string => n !== null);
      await inBatches(names, PATHS_GET_CONCURRENCY, (name) => this.fetchPaths(name));
    } catch (err) {
      this.opts.log.warn('mesh map: loading the current state failed; the map follows events meanwhile', { reason, error: (err as Error).message });
    }
  }

  private async fetchPaths(node: string): Promise<void> {
    try {
      const report = await readPathReport((req) => this.opts.bus.request(Patterns.pathsGet, req, parsePathReport, { node, timeoutMs: PATHS_GET_TIMEOUT_MS }));
      const view = this.view(node);
      // A report the map refuses (not the node's own) is not kept either: the next update fetches again.
      if (view.full(report) && !this.input(() => this.opts.map.pathReport(node, report))) view.clear();
      this.counters.pathsFetched++;
    } catch (err) {
      // Not running, or no nat-probe: its reports come as events when it has some.
      if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
      this.counters.pathsMissed++;
    }
  }

  /** An update of a member's decisions: into the map when it follows the report held, else the report is fetched. */
  private pathUpdate(node: string, update: PathUpdate): void {
    const view = this.view(node);
    const outcome = view.update(update);
    if (outcome === 'applied') {
      if (!this.input(() => this.opts.map.pathReport(node, view.report!))) view.clear();
    } else if (outcome === 'gap') void this.fetchPaths(node);
  }

  private view(node: string): PathReportView {
    let view = this.views.get(node);
    if (!view) this.views.set(node, (view = new PathReportView()));
    return view;
  }

  /** The hub's whole device state (`dataplane.state.get`, paged); one fetch at a time. Never rejects. */
  private fetchHubState(): Promise<void> {
    if (this.hubFetch) {
      this.hubFetchAgain = true; // a gap seen during the fetch: the state fetched may be older than it
      return this.hubFetch;
    }
    this.hubFetch = (async () => {
      const node = this.opts.registryNode;
      do {
        this.hubFetchAgain = false;
        try {
          const state = await readDataplaneState((req) => this.opts.bus.request(Patterns.dataplaneStateGet, req, parseDataplaneState, { node, timeoutMs: PATHS_GET_TIMEOUT_MS }));
          if (this.hubView.full(state) && !this.state(node, state)) this.hubView.clear();
          this.counters.hubStatesFetched++;
        } catch (err) {
          // No hub programmer (yet): its next update shows a gap and asks again.
          this.opts.log.debug('mesh map: no hub device state', { error: (err as Error).message });
        }
      } while (this.hubFetchAgain && !this.stopped);
    })().finally(() => (this.hubFetch = null));
    return this.hubFetch;
  }

  /** An update of the hub's device state: its changed peers into the map when it follows the state held, else the state is fetched. */
  private hubUpdate(update: DataplaneStateUpdate): void {
    const outcome = this.hubView.update(update);
    if (outcome === 'applied') {
      if (!this.state(this.opts.registryNode, { ...update, peers: update.changed })) this.hubView.clear();
    } else if (outcome === 'gap') void this.fetchHubState();
  }

  private async loadTable(reason: string) {
    const table = await readPagedSnapshot((req) => this.opts.bus.request(Patterns.peerSnapshot, req, parsePeerSnapshot));
    this.opts.log.info('mesh map: peer table loaded', { reason, revision: table.revision, peers: table.peers.length });
    return table;
  }

  private applyPeers(change: MirrorChange): void {
    this.opts.map.peers(change);
    const members = new Set<string>();
    for (const m of this.opts.map.memberList()) {
      members.add(m.key);
      if (m.driver === null && m.name !== null && !this.awaitingState.has(m.key)) this.awaitState(m.key, m.name);
    }
    const names = new Set([...this.opts.map.memberList()].map((m) => m.name));
    for (const node of this.views.keys()) if (!names.has(node)) this.views.delete(node);
    for (const [key, sub] of this.awaitingState) {
      if (members.has(key)) continue;
      sub.unsubscribe();
      this.awaitingState.delete(key);
    }
    this.opts.changed?.();
  }

  /** One dataplane state update of a member, for its kind (one comes at least every --state-interval: the first is soon). */
  private awaitState(key: string, node: string): void {
    const sub = this.opts.bus.subscribe(
      Patterns.dataplaneState,
      (update) => {
        sub.unsubscribe();
        if (this.awaitingState.get(key) === sub) this.awaitingState.delete(key);
        this.state(node, { ...update, peers: [] });
      },
      { node },
    );
    this.awaitingState.set(key, sub);
  }

  private state(node: string, state: Pick<DataplaneState, 'node' | 'driver' | 'publicKey' | 'peers'>): boolean {
    return this.input(() => this.opts.map.dataplaneState(node, state, this.opts.registryNode));
  }

  /** An input from a `node.<id>.…` subject, for node <id>. */
  private fromNode(subject: string, apply: (node: string) => void): void {
    const node = nodeOfSubject(subject, this.opts.map.mesh);
    if (node !== null) this.input(() => apply(node));
  }

  /** Runs one input into the map; false when the map did not take it. */
  private input(apply: () => void): boolean {
    const before = this.opts.map.version;
    try {
      apply();
    } catch (err) {
      if (!(err instanceof MapInputError)) throw err;
      if (err.kind === 'forged') {
        this.counters.refused++;
        countError('invalid_event');
      }
      this.opts.log.debug('mesh map: input not taken', { reason: err.message });
      return false;
    }
    if (this.opts.map.version !== before) this.opts.changed?.();
    return true;
  }

  close(): void {
    this.stopped = true;
    this.mirror.stop();
    for (const s of [...this.subs, ...this.awaitingState.values()]) s.unsubscribe();
    this.awaitingState.clear();
  }
}

async function inBatches<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}
