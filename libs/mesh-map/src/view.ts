import type { DriverKind, NatType } from '@wgmesh/contracts';
import { label, MapEvent, MemberState, MeshMap, PairPath, PairState, PairTechnique } from './mesh-map';

/**
 * What the page gets: the map at one moment, as data for drawing and tables, plus the sentences
 * for events. Bounded whatever the mesh's size: every member (one row each), but at most
 * `pairLimit` pairs (all of them in a small mesh; in a big one the relayed and trying pairs
 * first, most recently changed first, then the latest direct ones), and the pair lines are drawn
 * only up to `drawLimit` members (beyond, n² lines are no picture: the page shows the members and
 * the tables).
 */

/** A member is online while its latest handshake with the hub is younger than this (WireGuard drops a session after 180 s). */
export const ONLINE_WINDOW_S = 180;
/** Up to this many members the page draws every pair as a line. */
export const DRAW_LIMIT = 40;
/** At most this many pairs in a view. */
export const PAIR_LIMIT = 500;
/** At most this many events in a view (newest first). */
export const EVENT_LIMIT = 100;

export interface PathCounts {
  direct: number;
  relayed: number;
  trying: number;
}

export interface ViewMember {
  key: string;
  name: string;
  /** First tunnel address. */
  address: string | null;
  endpoint: string | null;
  nat: NatType | null;
  /** How the NAT behaves, in words (from its report), e.g. "mapping endpoint-independent, filtering address-and-port-dependent". */
  natDetail: string | null;
  /** The NAT hands out new ports in sequence, this far apart (port prediction can get through it). */
  portStep: number | null;
  driver: DriverKind | null;
  online: boolean;
  /** Latest handshake with the hub, unix seconds (0: never). */
  hubHandshake: number;
  paths: PathCounts;
}

export interface ViewPair {
  /** The two members by key, `a` the one whose name sorts first. */
  a: string;
  b: string;
  path: PairPath;
  reason: string;
  technique: PairTechnique | null;
  /** Round trip in ms: nothing in wgmesh measures it yet, so always null (the page shows "—"). */
  rttMs: null;
  /** When the pair last changed (ms since the epoch). */
  since: number;
  /** The member whose decision this is (the leader's, or the follower's until the leader's arrives). */
  reportedBy: string;
}

export interface ViewEvent {
  at: number;
  kind: MapEvent['kind'];
  text: string;
  /** The reason of a path change. */
  detail?: string;
}

export interface MapView {
  mesh: string;
  /** Server time of the view (ms since the epoch): the page computes "ago" against it. */
  now: number;
  status: { ready: boolean; detail: string };
  registry: { name: 'registry'; key: string; address: string; endpoint: string | null; device: string; driver: DriverKind };
  /** Sorted by name. */
  members: ViewMember[];
  pairs: ViewPair[];
  pairCounts: PathCounts & { total: number; undecided: number };
  /** True when `pairs` is a selection (more pairs than `limits.pairs`). */
  pairsSampled: boolean;
  /** True when the page draws the pairs as lines (at most `limits.draw` members). */
  draw: boolean;
  events: ViewEvent[];
  limits: { draw: number; pairs: number; onlineWindowS: number };
}

export interface ViewOptions {
  now?: number;
  /** What the feed says about its NATS connection, e.g. "live" or "NATS disconnected". */
  status?: string;
  pairLimit?: number;
  drawLimit?: number;
}

export function buildView(map: MeshMap, opts: ViewOptions = {}): MapView {
  const now = opts.now ?? Date.now();
  const pairLimit = opts.pairLimit ?? PAIR_LIMIT;
  const drawLimit = opts.drawLimit ?? DRAW_LIMIT;
  const counts = new Map<string, PathCounts>();
  const countsOf = (key: string) => {
    let c = counts.get(key);
    if (!c) counts.set(key, (c = { direct: 0, relayed: 0, trying: 0 }));
    return c;
  };
  const totals = { direct: 0, relayed: 0, trying: 0 };
  const chosen = new TopPairs(pairLimit);
  map.forEachPair((a, b, pair) => {
    totals[pair.path]++;
    countsOf(a)[pair.path]++;
    countsOf(b)[pair.path]++;
    chosen.offer(a, b, pair);
  });
  const n = map.memberCount();
  const total = (n * (n - 1)) / 2;
  const decided = totals.direct + totals.relayed + totals.trying;
  const members = [...map.memberList()].map((m) => viewMember(m, now, counts.get(m.key) ?? { direct: 0, relayed: 0, trying: 0 })).sort((x, y) => compareNames(x.name, y.name));
  const sampled = decided > pairLimit;
  const names = new Map(members.map((m) => [m.key, m.name]));
  const pairs = chosen.result().map(([leader, other, p]) => {
    const [a, b] = compareNames(names.get(leader)!, names.get(other)!) <= 0 ? [leader, other] : [other, leader];
    return { a, b, path: p.path, reason: p.reason, technique: p.technique, rttMs: null, since: p.since, reportedBy: p.fromLeader ? leader : other } satisfies ViewPair;
  });
  if (!sampled) pairs.sort((x, y) => compareNames(names.get(x.a)!, names.get(y.a)!) || compareNames(names.get(x.b)!, names.get(y.b)!));
  const r = map.registry;
  return {
    mesh: map.mesh,
    now,
    status: { ready: map.ready, detail: map.ready ? (opts.status ?? 'live') : 'loading the peer table' },
    registry: { name: 'registry', key: r.publicKey, address: r.address, endpoint: r.endpoint, device: r.device, driver: r.driver },
    members,
    pairs,
    pairCounts: { ...totals, total, undecided: total - decided },
    pairsSampled: sampled,
    draw: n <= drawLimit,
    events: map.eventList().slice(0, EVENT_LIMIT).map(describeEvent),
    limits: { draw: drawLimit, pairs: pairLimit, onlineWindowS: ONLINE_WINDOW_S },
  };
}

function viewMember(m: MemberState, now: number, paths: PathCounts): ViewMember {
  return {
    key: m.key,
    name: label(m),
    address: m.addresses[0] ?? null,
    endpoint: m.endpoint,
    nat: m.nat,
    natDetail: m.natReport ? natDetail(m.natReport) : null,
    portStep: m.natReport?.portStep ?? null,
    driver: m.driver,
    online: m.hubHandshake > 0 && now / 1000 - m.hubHandshake < ONLINE_WINDOW_S,
    hubHandshake: m.hubHandshake,
    paths,
  };
}

export function natDetail(r: NonNullable<MemberState['natReport']>): string {
  const step = r.portStep === undefined ? '' : `, new ports in sequence (step ${r.portStep > 0 ? '+' : ''}${r.portStep})`;
  return `mapping ${r.mapping}, filtering ${r.filtering}${step}`;
}

const PATH_WORDS: Record<PairPath, string> = { direct: 'direct', relayed: 'relayed', trying: 'trying direct' };

/** An event as the page lists it. */
export function describeEvent(e: MapEvent): ViewEvent {
  switch (e.kind) {
    case 'enrolled':
      return { at: e.at, kind: e.kind, text: `${e.member} enrolled${e.address ? ` (${e.address})` : ''}` };
    case 'removed':
      return { at: e.at, kind: e.kind, text: `${e.member} removed` };
    case 'moved':
      return { at: e.at, kind: e.kind, text: e.from === null ? `${e.member} is at ${e.to}` : e.to === null ? `${e.member} lost its endpoint (was ${e.from})` : `${e.member} moved ${e.from} → ${e.to}` };
    case 'nat':
      return { at: e.at, kind: e.kind, text: e.from === null ? `${e.member}'s NAT: ${e.to}` : `${e.member}'s NAT: ${e.from} → ${e.to}` };
    case 'path':
      return { at: e.at, kind: e.kind, text: `${e.a} – ${e.b}: ${e.from === null ? '' : `${PATH_WORDS[e.from]} → `}${PATH_WORDS[e.to]}`, detail: e.reason };
  }
}

function compareNames(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Negative when `x` comes first: not direct first (what an operator looks for), then the most recent change. */
function precedes(x: PairState, y: PairState): number {
  return (x.path === 'direct' ? 1 : 0) - (y.path === 'direct' ? 1 : 0) || y.since - x.since;
}

/**
 * The `limit` pairs that come first, from any number offered: offers collect until there are
 * twice the limit, then the first `limit` are kept, and from then on an offer that comes after
 * the last one kept is not even collected (most, in a big mesh).
 */
class TopPairs {
  private items: Array<[string, string, PairState]> = [];
  private last: PairState | null = null;

  constructor(private readonly limit: number) {}

  offer(a: string, b: string, pair: PairState): void {
    if (this.last && precedes(pair, this.last) >= 0) return;
    this.items.push([a, b, pair]);
    if (this.items.length >= 2 * this.limit) this.trim();
  }

  result(): Array<[string, string, PairState]> {
    this.trim();
    return this.items;
  }

  private trim(): void {
    this.items.sort(([, , x], [, , y]) => precedes(x, y));
    if (this.items.length > this.limit) this.items.length = this.limit;
    this.last = this.limit > 0 && this.items.length === this.limit ? this.items[this.limit - 1][2] : null;
  }
}
