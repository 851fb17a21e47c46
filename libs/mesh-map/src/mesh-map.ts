import type { DataplaneState, DriverKind, NatReport, NatType, PathDecision, PathReport, PeerRecord, PunchTechnique } from '@wgmesh/contracts';
import type { MirrorChange } from '@wgmesh/peer-sync';

/**
 * The mesh as the map shows it, folded from what the registry already has on NATS: the peer table
 * (a PeerMirror's changes: snapshot, then `peers.events`), the members' NAT reports
 * (`node.<id>.nat`), their path decisions (`node.<id>.paths`) and dataplane states
 * (`node.<id>.dataplane.state`, the hub's for its handshakes). Pure: no I/O, no clock but `now`.
 *
 * Pairs: both ends of a pair report it, and the end with the smaller public key leads (decides;
 * the other follows). One decision is kept per pair: the leader's, or the follower's until the
 * leader's arrives. Decisions about keys that are not members are ignored. Pairs are kept in nested maps by the members' own key strings, so 1,000
 * members (499,500 pairs) cost one small record per pair.
 *
 * Events (enrolments, removals, endpoint and NAT changes, path changes) are recorded only once the
 * map is live (`live()`): what was there when it started is state, not news.
 */

/** How a pair is connected: direct, relayed through the registry, or relayed while a direct attempt runs. */
export type PairPath = 'direct' | 'relayed' | 'trying';
/** How a direct path was made: registry-observed endpoints (plain), a hole punch, or a punch at predicted ports. */
export type PairTechnique = 'plain' | PunchTechnique;

export interface PairState {
  path: PairPath;
  reason: string;
  technique: PairTechnique | null;
  /** When the deciding end took this decision (ms since the epoch): the pair's last change. */
  since: number;
  /** True when the pair's leader reported it (else its follower, until the leader does). */
  fromLeader: boolean;
}

export interface MemberState {
  key: string;
  name: string | null;
  /** Tunnel addresses (allowed IPs without the host prefix length). */
  addresses: string[];
  /** Registry-observed endpoint. */
  endpoint: string | null;
  nat: NatType | null;
  /** From the member's NAT report: mapping and filtering behaviour, port step. */
  natReport: Pick<NatReport, 'mapping' | 'filtering' | 'portStep'> | null;
  driver: DriverKind | null;
  /** Latest handshake with the hub (unix seconds, 0 for never): the hub's state, else the peer record. */
  hubHandshake: number;
}

export type MapEvent =
  | { kind: 'enrolled'; at: number; member: string; address: string | null }
  | { kind: 'removed'; at: number; member: string }
  | { kind: 'moved'; at: number; member: string; from: string | null; to: string | null }
  | { kind: 'nat'; at: number; member: string; from: NatType | null; to: NatType }
  | { kind: 'path'; at: number; a: string; b: string; from: PairPath | null; to: PairPath; reason: string };

export interface RegistryInfo {
  /** The hub device's public key (its peers are the members). */
  publicKey: string;
  address: string;
  /** Where members reach the hub device (--public-endpoint), when enrolment is on. */
  endpoint: string | null;
  device: string;
  driver: DriverKind;
}

export interface MeshMapOptions {
  mesh: string;
  registry: RegistryInfo;
  /** Events kept (newest first); default 200. */
  maxEvents?: number;
  now?: () => number;
}

/**
 * Why an input was not taken: `unknown` — from a node that is not a member (not yet loaded, or
 * removed and still running: nothing wrong); `forged` — on another node's subject, or with a key
 * not enrolled under its name.
 */
export class MapInputError extends Error {
  override readonly name = 'MapInputError';
  constructor(
    readonly kind: 'unknown' | 'forged',
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_MAX_EVENTS = 200;

export class MeshMap {
  readonly mesh: string;
  readonly registry: RegistryInfo;
  private readonly members = new Map<string, MemberState>();
  private readonly byName = new Map<string, string>();
  /** pairs.get(a).get(b) with a < b (a leads). */
  private readonly pairs = new Map<string, Map<string, PairState>>();
  private readonly hubHandshakes = new Map<string, number>();
  private readonly events: MapEvent[] = [];
  private readonly reasons = new Map<string, string>();
  private readonly now: () => number;
  private readonly maxEvents: number;
  private isLive = false;
  private loaded = false;
  private changes = 0;

  constructor(opts: MeshMapOptions) {
    this.mesh = opts.mesh;
    this.registry = { ...opts.registry };
    this.now = opts.now ?? Date.now;
    this.maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
  }

  /** Grows with every change the map shows: a feed re-sends its view when it moved. */
  get version(): number {
    return this.changes;
  }

  /** The peer table has been loaded once. */
  get ready(): boolean {
    return this.loaded;
  }

  /** From now on, changes are news: they are recorded as events. */
  live(): void {
    this.isLive = true;
  }

  memberCount(): number {
    return this.members.size;
  }

  /** Current members, in no particular order. */
  memberList(): IterableIterator<MemberState> {
    return this.members.values();
  }

  member(key: string): MemberState | undefined {
    return this.members.get(key);
  }

  /** The key of the member enrolled under `name`. */
  keyOf(name: string): string | undefined {
    return this.byName.get(name);
  }

  /** Calls `visit` for every pair of two current members that has a decision (a: the leader's key). */
  forEachPair(visit: (a: string, b: string, pair: PairState) => void): void {
    for (const [a, row] of this.pairs) {
      if (!this.members.has(a)) continue;
      for (const [b, pair] of row) if (this.members.has(b)) visit(a, b, pair);
    }
  }

  pair(x: string, y: string): PairState | undefined {
    const [a, b] = x < y ? [x, y] : [y, x];
    return this.pairs.get(a)?.get(b);
  }

  /** Newest first. */
  eventList(): readonly MapEvent[] {
    return this.events;
  }

  // ---- inputs ------------------------------------------------------------------------------

  /** A change of the peer table (PeerMirror's apply). */
  peers(change: MirrorChange): void {
    if (change.type === 'reset') {
      const next = new Set(change.peers.map((p) => p.publicKey));
      for (const key of [...this.members.keys()]) if (!next.has(key)) this.removeMember(key);
      for (const p of change.peers) this.upsertMember(p);
      this.loaded = true;
    } else if (change.type === 'upsert') this.upsertMember(change.peer);
    else this.removeMember(change.publicKey);
    this.changes++;
  }

  /** A member's NAT report, received on `node.<node>.nat`. */
  natReport(node: string, report: NatReport): void {
    const m = this.sender(node, report.node, report.publicKey);
    m.natReport = { mapping: report.mapping, filtering: report.filtering, ...(report.portStep !== undefined ? { portStep: report.portStep } : {}) };
    if (m.nat !== report.nat) this.record({ kind: 'nat', at: report.at, member: label(m), from: m.nat, to: report.nat });
    m.nat = report.nat;
    this.changes++;
  }

  /**
   * A member's path decisions, received on `node.<node>.paths` (or as its `paths.get` reply): they
   * replace what it reported before, so a pair it no longer reports is forgotten (unless its
   * other end reported it).
   */
  pathReport(node: string, report: PathReport): void {
    const self = this.sender(node, report.node, report.publicKey).key;
    const reported = new Set<string>();
    let changed = false;
    for (const d of report.decisions) {
      // Only pairs of two members: a member cannot make the map hold keys nobody enrolled.
      if (d.peer === self || reported.has(d.peer) || !this.members.has(d.peer)) continue;
      reported.add(d.peer);
      changed = this.decide(self, d) || changed;
    }
    for (const other of this.members.keys()) {
      if (other === self || reported.has(other)) continue;
      const [a, b] = self < other ? [self, other] : [other, self];
      const pair = this.pairs.get(a)?.get(b);
      if (pair && pair.fromLeader === (self === a)) {
        this.pairs.get(a)!.delete(b);
        changed = true;
      }
    }
    if (changed) this.changes++;
  }

  /**
   * A dataplane state of `node` (whole, from `dataplane.state.get`, or the peers an update on
   * `node.<node>.dataplane.state` changed): the hub's (node "registry") gives each member's latest
   * handshake with it; a member's gives its dataplane kind.
   */
  dataplaneState(node: string, state: Pick<DataplaneState, 'node' | 'driver' | 'publicKey' | 'peers'>, registryNode: string): void {
    if (node !== state.node) throw new MapInputError('forged', `a state of node "${state.node}" on node "${node}"'s subject`);
    if (node === registryNode) {
      if (state.publicKey !== this.registry.publicKey) throw new MapInputError('forged', `the hub state carries key ${state.publicKey}, not the hub's`);
      let changed = this.registry.driver !== state.driver;
      this.registry.driver = state.driver;
      for (const p of state.peers) {
        if (this.hubHandshakes.get(p.publicKey) === p.latestHandshake) continue;
        this.hubHandshakes.set(p.publicKey, p.latestHandshake);
        const m = this.members.get(p.publicKey);
        if (m && m.hubHandshake !== p.latestHandshake) {
          m.hubHandshake = Math.max(p.latestHandshake, m.hubHandshake);
          changed = true;
        }
      }
      if (changed) this.changes++;
      return;
    }
    const m = this.sender(node, state.node, state.publicKey);
    if (m.driver !== state.driver) {
      m.driver = state.driver;
      this.changes++;
    }
  }

  // ---- folding -----------------------------------------------------------------------------

  private upsertMember(p: PeerRecord): void {
    const old = this.members.get(p.publicKey);
    const addresses = p.allowedIps.map((c) => c.replace(/\/(32|128)$/, ''));
    const m: MemberState = {
      key: p.publicKey,
      name: p.name ?? null,
      addresses,
      endpoint: p.endpoint,
      nat: p.nat ?? old?.nat ?? null,
      natReport: old?.natReport ?? null,
      driver: old?.driver ?? null,
      hubHandshake: Math.max(p.latestHandshake ?? 0, this.hubHandshakes.get(p.publicKey) ?? 0, old?.hubHandshake ?? 0),
    };
    if (old?.name && old.name !== m.name) this.byName.delete(old.name);
    if (m.name) this.byName.set(m.name, m.key);
    this.members.set(p.publicKey, m);
    const at = this.now();
    if (!old) this.record({ kind: 'enrolled', at, member: label(m), address: addresses[0] ?? null });
    else {
      if (old.endpoint !== m.endpoint) this.record({ kind: 'moved', at, member: label(m), from: old.endpoint, to: m.endpoint });
      if (p.nat && old.nat !== p.nat) this.record({ kind: 'nat', at, member: label(m), from: old.nat, to: p.nat });
    }
  }

  private removeMember(key: string): void {
    const m = this.members.get(key);
    if (!m) return;
    this.members.delete(key);
    if (m.name && this.byName.get(m.name) === key) this.byName.delete(m.name);
    this.hubHandshakes.delete(key);
    this.pairs.delete(key);
    for (const row of this.pairs.values()) row.delete(key);
    this.record({ kind: 'removed', at: this.now(), member: label(m) });
  }

  /** The member that sent a node message: the subject's node, named in the message, enrolled with its key. */
  private sender(subjectNode: string, node: string, publicKey: string): MemberState {
    if (subjectNode !== node) throw new MapInputError('forged', `a message of node "${node}" on node "${subjectNode}"'s subject`);
    const key = this.byName.get(node);
    if (key === undefined) throw new MapInputError('unknown', `node "${node}" is not a member (yet)`);
    if (key !== publicKey) throw new MapInputError('forged', `node "${node}" sent key ${publicKey}, but is enrolled with ${key}`);
    return this.members.get(key)!;
  }

  /** Takes one end's decision about a pair; true when the pair changed. */
  private decide(self: string, d: PathDecision): boolean {
    const [a, b] = self < d.peer ? [self, d.peer] : [d.peer, self];
    const fromLeader = self === a;
    let row = this.pairs.get(a);
    const old = row?.get(b);
    if (old && old.fromLeader && !fromLeader) return false;
    const next: PairState = {
      path: d.path === 'direct' ? 'direct' : d.attempt ? 'trying' : 'relayed',
      reason: this.intern(d.reason),
      technique: d.technique ?? (d.path === 'direct' ? 'plain' : null),
      since: d.since,
      fromLeader,
    };
    if (old && old.path === next.path && old.reason === next.reason && old.technique === next.technique && old.since === next.since && old.fromLeader === fromLeader) return false;
    if (!row) this.pairs.set(a, (row = new Map()));
    row.set(b, next);
    if (old?.path !== next.path && this.members.has(a) && this.members.has(b)) {
      this.record({ kind: 'path', at: next.since, a: label(this.members.get(a)!), b: label(this.members.get(b)!), from: old?.path ?? null, to: next.path, reason: next.reason });
    }
    return true;
  }

  /** One string per distinct reason: most pairs of a big mesh share a handful. */
  private intern(reason: string): string {
    const known = this.reasons.get(reason);
    if (known !== undefined) return known;
    if (this.reasons.size >= 50_000) this.reasons.clear();
    this.reasons.set(reason, reason);
    return reason;
  }

  private record(event: MapEvent): void {
    if (!this.isLive) return;
    this.events.unshift(event);
    if (this.events.length > this.maxEvents) this.events.length = this.maxEvents;
  }
}

/** A member's name, or its key shortened when it has none (a peer added to the hub by hand). */
export function label(m: Pick<MemberState, 'name' | 'key'>): string {
  return m.name ?? `${m.key.slice(0, 8)}…`;
}
