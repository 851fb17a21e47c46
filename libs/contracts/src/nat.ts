import { formatEndpoint, parseEndpoint } from '@wgmesh/netaddr';
import { MAX_PUNCH_ENDPOINTS } from './dataplane';
import { NAT_TYPES, NatType, parsePeerEndpoint, parsePublicKey } from './peer';
import { parseName } from './names';
import { olderThanHeld, updateStanding } from './sequence';
import { array, ContractError, field, integer, join, object, oneOf, string } from './validate';

/**
 * NAT classification and path decisions (nat-probe). RFC 4787 / RFC 5780 vocabulary:
 * mapping and filtering behaviour are each endpoint-independent, address-dependent or
 * address-and-port-dependent. `nat` is the one-word summary the registry publishes (TXT `nat=`):
 * none (no NAT: the mapped address is local), eim (mapping endpoint-independent), edm (mapping
 * depends on the destination), unknown (no answer from the server, or not decidable).
 */
export const BEHAVIOURS = ['endpoint-independent', 'address-dependent', 'address-and-port-dependent', 'unknown'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

/** `node.<id>.nat` event: one member's NAT, as its nat-probe measured it. */
export interface NatReport {
  /** The member's node id (its name). */
  node: string;
  /** The member's WireGuard public key. */
  publicKey: string;
  nat: NatType;
  mapping: Behaviour;
  filtering: Behaviour;
  /** The address the STUN server saw (ip:port), null when no server answered. */
  mappedAddress: string | null;
  /** The STUN server probed (ip:port). */
  server: string;
  /** How the classification was reached, in words (which tests ran, what they showed). */
  method: string;
  /**
   * Present when the mapping is endpoint-dependent and the NAT allocates ports sequentially: each
   * new mapping's port is this far from the previous one's (usually +1), so the port it will give
   * a new destination next can be predicted (port prediction). Absent: not sequential, or untested.
   */
  portStep?: number;
  /** Milliseconds since the epoch. */
  at: number;
}

/** The largest |portStep| called sequential: beyond it, allocations are too far apart to predict. */
export const MAX_PORT_STEP = 64;

export const PATH_KINDS = ['direct', 'relayed'] as const;
export type PathKindDecided = (typeof PATH_KINDS)[number];

/**
 * One pair's path, as one end decided it:
 * - direct: the peer is configured with its endpoint and routes (tunnel address /32).
 * - relayed: no direct route; traffic takes the registry peer's mesh-CIDR route. With
 *   `attempt: true` a direct attempt is under way meanwhile: the peer is configured with its
 *   endpoint and a keepalive but no routes, so a handshake can happen without risking traffic.
 */
export interface PathDecision {
  /** The other member's public key. */
  peer: string;
  /** Its name, when known. */
  peerName?: string;
  path: PathKindDecided;
  attempt: boolean;
  /** Why, in words: "direct: a is endpoint-independent", "relayed: both endpoint-dependent", … */
  reason: string;
  /** When a relayed pair tries direct again (ms since the epoch), null when it will not by itself. */
  retryAt: number | null;
  /** When this decision was taken (ms since the epoch). */
  since: number;
  /**
   * Present when nat-probe sets the pair's endpoints by hole punching (`node.<to>.punch.<from>`) rather
   * than the registry-observed ones: on attempts, and on a direct path that one of them opened.
   * The device then keeps the endpoint it learnt (WireGuard roams to where the peer's
   * authenticated packets come from). "prediction": the punch aimed at predicted ports.
   */
  technique?: PunchTechnique;
  /**
   * What brought the pair here (the `reason` in words is made from it and the rule):
   * rule: the rule's first step; session-up: a session was up already when the pair was first
   * seen; handshake: a handshake on a direct attempt; no-handshake: none within the deadline;
   * handshakes-stopped: a direct path went quiet; retry: trying direct again after failures.
   */
  cause?: PathCause;
  /** The pair's rule, from both sides' NATs (see `PAIR_WHYS`). */
  why?: PairWhy;
}

export const PATH_CAUSES = ['rule', 'session-up', 'handshake', 'no-handshake', 'handshakes-stopped', 'retry'] as const;
export type PathCause = (typeof PATH_CAUSES)[number];
/**
 * Why a pair's rule is what it is: public (a side has a public address), both-eim, both-edm,
 * sequential (both endpoint-dependent, one allocating ports sequentially), eim-edm, edm-unknown
 * (one endpoint-dependent, the other's NAT not known), unknown (no side known to be dependent).
 */
export const PAIR_WHYS = ['public', 'both-eim', 'both-edm', 'sequential', 'eim-edm', 'edm-unknown', 'unknown'] as const;
export type PairWhy = (typeof PAIR_WHYS)[number];

/** How a direct path is set up: registry-observed endpoints, a punch, or a punch at predicted ports. */
export const TECHNIQUES = ['direct', 'punch', 'prediction'] as const;
export type Technique = (typeof TECHNIQUES)[number];
export const PUNCH_TECHNIQUES = ['punch', 'prediction'] as const;
export type PunchTechnique = (typeof PUNCH_TECHNIQUES)[number];

/**
 * How often a technique was tried on the pairs a member leads, and how it went. attempts minus
 * successes and failures: under way, or abandoned because a NAT changed meanwhile.
 */
export interface TechniqueCount {
  attempts: number;
  successes: number;
  failures: number;
}

/**
 * `node.<id>.paths.get` reply: every pair decision of one member (with `{peer}`, at most the one
 * about that member). Also the `node.<follower>.paths.from.<leader>` event: the leader's decision
 * about the follower (one, or none when it has none any more), sent when it changes.
 */
export interface PathReport {
  node: string;
  publicKey: string;
  /** This member's own NAT summary, as last classified. */
  nat: NatType;
  decisions: PathDecision[];
  /** Counters per technique over the pairs this member leads, since it started. */
  techniques?: Record<Technique, TechniqueCount>;
  /**
   * When it was sent (ms since the epoch): strictly increasing per member, so of two reports of
   * one member (an event and a `paths.get` reply may cross) the one with the larger `at` is newer.
   */
  at: number;
  /** The member's nat-probe's start (ms since the epoch): `seq` counts within it. */
  epoch?: number;
  /** The `seq` of the last `PathUpdate` this report includes (0: none sent yet). */
  seq?: number;
  /**
   * A `paths.get` reply is one page of the report (decisions by public key, at most
   * PATHS_PAGE_MAX): present when more follow, the key to ask after (`{after: next}`).
   */
  next?: string;
}

/**
 * `node.<id>.paths` event: what changed in one member's decisions since its previous update
 * (sent on change only; nothing is repeated periodically). `seq` goes up by one per update within
 * an `epoch`: a consumer that holds the report up to `seq - 1` applies it; one that missed an
 * update (or holds none, or an older epoch's) fetches the whole report (`paths.get`) instead.
 */
export interface PathUpdate {
  node: string;
  publicKey: string;
  nat: NatType;
  epoch: number;
  seq: number;
  /** Decisions new or changed since the previous update. */
  changed: PathDecision[];
  /** Public keys of the members there is no decision about any more. */
  removed: string[];
  techniques?: Record<Technique, TechniqueCount>;
  at: number;
}

/**
 * `node.<to>.punch.<from>` event, addressed to the receiver and naming the sender (NATS lets a
 * member send only with its own id as the last token, so it vouches for who sent it; a receiver
 * also checks that `from` is the key enrolled under that node). Hole punching between
 * two members, led by the pair's leader:
 * 1. offer (leader → peer): the leader's candidates (where its device will send from: its
 *    registry-observed endpoint, or its predicted next ports) and its decision about the pair;
 * 2. the peer samples its own NAT if it allocates sequentially, sends a handshake initiation to
 *    each of the leader's candidates (its NAT now lets them in), and answers with its candidates;
 * 3. the leader sends to each of the peer's candidates: the first that matches gets through.
 */
export interface PunchMessage {
  kind: 'offer' | 'answer';
  /** The sender's public key. */
  from: string;
  /** The member the message is for. */
  to: string;
  /** Ties an answer to its offer: 1-64 characters [A-Za-z0-9_-]. */
  id: string;
  /** Endpoints of the sender, one IP, at most MAX_PUNCH_ENDPOINTS (empty only in a refusal). */
  candidates: string[];
  /** True when the candidates are predicted ports of a sequentially allocating NAT. */
  predicted: boolean;
  /** Offer: the leader's decision about the pair, which the peer follows at once. */
  decision?: PathDecision;
  /** Answer: why the peer did not punch (the offer is refused). */
  refused?: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/**
 * `node.<id>.paths.get` request: `{}` for the report (its first page), `{after, limit}` for the
 * page of decisions about the members whose keys come after `after` (see `readPathReport`);
 * `{peer}` for the decision about that one member only (what the follower of a pair asks its
 * leader: one decision, not the report).
 */
export interface PathsGetRequest {
  peer?: string;
  after?: string;
  /** Decisions in the reply at most (PATHS_PAGE_MAX when absent). */
  limit?: number;
}

export const MAX_PATH_DECISIONS = 10_000;
/**
 * Decisions in one `paths.get` reply at most: a decision is ~250 bytes (~800 with the longest
 * reason and name), so a page stays under NATS' 1 MiB max_payload, which replies cannot exceed
 * (the transport chunks requests and events, not replies).
 */
export const PATHS_PAGE_MAX = 1000;
const MS = (value: unknown, path: string) => integer(value, path, 0, Number.MAX_SAFE_INTEGER);

function endpointOrNull(value: unknown, path: string): string | null {
  if (value === null) return null;
  return field(path, () => formatEndpoint(parseEndpoint(string(value, path, 64))));
}

export function parseNatReport(value: unknown): NatReport {
  const o = object(value, '', ['node', 'publicKey', 'nat', 'mapping', 'filtering', 'mappedAddress', 'server', 'method', 'portStep', 'at']);
  const report: NatReport = {
    node: parseName(o.node, 'node'),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    nat: oneOf(o.nat, 'nat', NAT_TYPES),
    mapping: oneOf(o.mapping, 'mapping', BEHAVIOURS),
    filtering: oneOf(o.filtering, 'filtering', BEHAVIOURS),
    mappedAddress: endpointOrNull(o.mappedAddress, 'mappedAddress'),
    server: field('server', () => formatEndpoint(parseEndpoint(string(o.server, 'server', 64)))),
    method: string(o.method, 'method', 1024),
    at: MS(o.at, 'at'),
  };
  if (o.portStep !== undefined) {
    report.portStep = integer(o.portStep, 'portStep', -MAX_PORT_STEP, MAX_PORT_STEP);
    if (report.portStep === 0) throw new ContractError('portStep', 'must not be 0');
  }
  return report;
}

/**
 * The parsers of the events members exchange (path decisions, reports, updates, punch messages)
 * ignore fields they do not know (LENIENT): a member running a newer version may add optional
 * fields without older members dropping its messages during a rolling upgrade. A new field that
 * changes the meaning of the known ones needs a new pattern instead.
 */
const LENIENT = { ignoreUnknown: true } as const;

export function parsePathDecision(value: unknown, path: string): PathDecision {
  const o = object(value, path, ['peer', 'peerName', 'path', 'attempt', 'reason', 'retryAt', 'since', 'technique', 'cause', 'why'], LENIENT);
  if (typeof o.attempt !== 'boolean') throw new ContractError(join(path, 'attempt'), 'must be true or false');
  const d: PathDecision = {
    peer: parsePublicKey(o.peer, join(path, 'peer')),
    path: oneOf(o.path, join(path, 'path'), PATH_KINDS),
    attempt: o.attempt,
    reason: string(o.reason, join(path, 'reason'), 512),
    retryAt: o.retryAt === null ? null : MS(o.retryAt, join(path, 'retryAt')),
    since: MS(o.since, join(path, 'since')),
  };
  if (o.peerName !== undefined) d.peerName = string(o.peerName, join(path, 'peerName'), 64);
  if (o.technique !== undefined) d.technique = oneOf(o.technique, join(path, 'technique'), PUNCH_TECHNIQUES);
  if (o.cause !== undefined) d.cause = oneOf(o.cause, join(path, 'cause'), PATH_CAUSES);
  if (o.why !== undefined) d.why = oneOf(o.why, join(path, 'why'), PAIR_WHYS);
  if (d.attempt && d.path !== 'relayed') throw new ContractError(join(path, 'attempt'), 'can only be true on a relayed path');
  return d;
}

function parseTechniques(value: unknown): Record<Technique, TechniqueCount> {
  const t = object(value, 'techniques', TECHNIQUES);
  const count = (name: Technique): TechniqueCount => {
    const path = join('techniques', name);
    const c = object(t[name], path, ['attempts', 'successes', 'failures'], LENIENT);
    return { attempts: MS(c.attempts, join(path, 'attempts')), successes: MS(c.successes, join(path, 'successes')), failures: MS(c.failures, join(path, 'failures')) };
  };
  return { direct: count('direct'), punch: count('punch'), prediction: count('prediction') };
}

/** Decisions with one per peer at most. */
function decisionList(value: unknown, path: string, max: number): PathDecision[] {
  const decisions = array(value, path, max).map((d, i) => parsePathDecision(d, join(path, i)));
  const seen = new Set<string>();
  decisions.forEach((d, i) => {
    if (seen.has(d.peer)) throw new ContractError(join(join(path, i), 'peer'), 'has a decision already');
    seen.add(d.peer);
  });
  return decisions;
}

export function parsePathReport(value: unknown): PathReport {
  const o = object(value, '', ['node', 'publicKey', 'nat', 'decisions', 'techniques', 'at', 'epoch', 'seq', 'next'], LENIENT);
  const report: PathReport = {
    node: parseName(o.node, 'node'),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    nat: oneOf(o.nat, 'nat', NAT_TYPES),
    decisions: decisionList(o.decisions, 'decisions', MAX_PATH_DECISIONS),
    at: MS(o.at, 'at'),
  };
  if (o.techniques !== undefined) report.techniques = parseTechniques(o.techniques);
  if ((o.epoch === undefined) !== (o.seq === undefined)) throw new ContractError(o.epoch === undefined ? 'epoch' : 'seq', 'epoch and seq come together');
  if (o.epoch !== undefined) {
    report.epoch = MS(o.epoch, 'epoch');
    report.seq = MS(o.seq, 'seq');
  }
  if (o.next !== undefined) report.next = parsePublicKey(o.next, 'next');
  return report;
}

/**
 * A member's whole report through paged `paths.get` requests (`request` sends one): the pages
 * in key order, put together. Pages may come from different moments; the report takes the first
 * page's `seq`, the oldest: applying the updates after it again only sets decisions to what they
 * became since (an update says what a decision is now, not how it changed), so the report then
 * follows the member exactly. A member that restarted between pages makes it throw.
 */
export async function readPathReport(request: (req: PathsGetRequest) => Promise<PathReport>): Promise<PathReport> {
  const first = await request({ limit: PATHS_PAGE_MAX });
  const decisions = [...first.decisions];
  let page = first;
  for (let pages = 1; page.next !== undefined; pages++) {
    if (pages > Math.ceil(MAX_PATH_DECISIONS / PATHS_PAGE_MAX) + 1) throw new Error(`${first.node}'s path report has more than ${MAX_PATH_DECISIONS} decisions`);
    const after: string = page.next;
    page = await request({ after, limit: PATHS_PAGE_MAX });
    if (page.publicKey !== first.publicKey || page.epoch !== first.epoch) throw new Error(`${first.node}'s nat-probe restarted while its path report was read`);
    for (const d of page.decisions) if (d.peer > after) decisions.push(d);
  }
  const { next: _next, ...last } = page;
  return { ...last, decisions, ...(first.epoch !== undefined ? { epoch: first.epoch, seq: first.seq } : {}) };
}

/** `node.<follower>.paths.from.<leader>` event: a report with the one decision about the follower (or none). */
export function parseAddressedPathReport(value: unknown): PathReport {
  const report = parsePathReport(value);
  if (report.decisions.length > 1) throw new ContractError('decisions', 'must hold at most the one decision about the receiver');
  return report;
}

export function parsePathUpdate(value: unknown): PathUpdate {
  const o = object(value, '', ['node', 'publicKey', 'nat', 'epoch', 'seq', 'changed', 'removed', 'techniques', 'at'], LENIENT);
  const update: PathUpdate = {
    node: parseName(o.node, 'node'),
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    nat: oneOf(o.nat, 'nat', NAT_TYPES),
    epoch: MS(o.epoch, 'epoch'),
    seq: integer(o.seq, 'seq', 1, Number.MAX_SAFE_INTEGER),
    changed: decisionList(o.changed, 'changed', MAX_PATH_DECISIONS),
    removed: array(o.removed, 'removed', MAX_PATH_DECISIONS).map((k, i) => parsePublicKey(k, join('removed', i))),
    at: MS(o.at, 'at'),
  };
  if (o.techniques !== undefined) update.techniques = parseTechniques(o.techniques);
  const changed = new Set(update.changed.map((d) => d.peer));
  update.removed.forEach((k, i) => {
    if (changed.has(k)) throw new ContractError(join('removed', i), 'is also in changed');
  });
  return update;
}

/**
 * One member's path report as a consumer of its updates holds it (`node.<id>.paths` events on
 * top of a `paths.get` reply). `update` says what to do with an update: 'applied', 'stale' (the
 * report includes it already), or 'gap' (one was missed, the member restarted, or no report is
 * held yet: fetch the whole report with `paths.get` and hand it to `full`).
 */
export class PathReportView {
  private held: PathReport | undefined;
  private byPeer = new Map<string, PathDecision>();
  /** Decisions changed by updates since `held.decisions` was built (built again when read: an update costs O(what it names)). */
  private dirty = false;

  /** The report held (undefined before the first `full`). */
  get report(): PathReport | undefined {
    if (this.held && this.dirty) {
      this.held = { ...this.held, decisions: [...this.byPeer.values()] };
      this.dirty = false;
    }
    return this.held;
  }

  /** A whole report (a `paths.get` reply): taken unless older than the one held. True when taken. */
  full(report: PathReport): boolean {
    const h = this.held;
    if (h && h.publicKey === report.publicKey && olderThanHeld(h, report)) return false;
    this.held = report;
    this.byPeer = new Map(report.decisions.map((d) => [d.peer, d]));
    this.dirty = false;
    return true;
  }

  update(u: PathUpdate): 'applied' | 'stale' | 'gap' {
    const h = this.held;
    if (!h || h.publicKey !== u.publicKey || h.node !== u.node) return 'gap';
    const standing = updateStanding(h, u);
    if (standing !== 'next') return standing;
    for (const k of u.removed) this.byPeer.delete(k);
    for (const d of u.changed) this.byPeer.set(d.peer, d);
    this.held = { node: u.node, publicKey: u.publicKey, nat: u.nat, decisions: h.decisions, ...(u.techniques ? { techniques: u.techniques } : h.techniques ? { techniques: h.techniques } : {}), at: Math.max(h.at, u.at), epoch: u.epoch, seq: u.seq };
    this.dirty = this.dirty || u.changed.length > 0 || u.removed.length > 0;
    return 'applied';
  }

  /** Forgets the report (the member left). */
  clear(): void {
    this.held = undefined;
    this.byPeer.clear();
    this.dirty = false;
  }
}

const PUNCH_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function parsePunchMessage(value: unknown): PunchMessage {
  const o = object(value, '', ['kind', 'from', 'to', 'id', 'candidates', 'predicted', 'decision', 'refused', 'at'], LENIENT);
  if (typeof o.predicted !== 'boolean') throw new ContractError('predicted', 'must be true or false');
  const id = string(o.id, 'id', 64);
  if (!PUNCH_ID.test(id)) throw new ContractError('id', 'must be 1-64 characters [A-Za-z0-9_-]');
  const m: PunchMessage = {
    kind: oneOf(o.kind, 'kind', ['offer', 'answer'] as const),
    from: parsePublicKey(o.from, 'from'),
    to: parsePublicKey(o.to, 'to'),
    id,
    candidates: array(o.candidates, 'candidates', MAX_PUNCH_ENDPOINTS).map((e, i) => parsePeerEndpoint(e, join('candidates', i))),
    predicted: o.predicted,
    at: MS(o.at, 'at'),
  };
  if (m.from === m.to) throw new ContractError('to', 'must not be the sender');
  const ips = new Set(m.candidates.map((e) => e.slice(0, e.lastIndexOf(':'))));
  if (ips.size > 1) throw new ContractError('candidates', 'must all have the same address');
  if (o.decision !== undefined) {
    if (m.kind !== 'offer') throw new ContractError('decision', 'only an offer carries a decision');
    m.decision = parsePathDecision(o.decision, 'decision');
  }
  if (o.refused !== undefined) {
    if (m.kind !== 'answer') throw new ContractError('refused', 'only an answer can refuse');
    m.refused = string(o.refused, 'refused', 256);
  }
  if (m.candidates.length === 0 && m.refused === undefined) throw new ContractError('candidates', 'must name at least one endpoint');
  return m;
}

export function parsePathsGetRequest(value: unknown): PathsGetRequest {
  const o = object(value, '', ['peer', 'after', 'limit']);
  const req: PathsGetRequest = {};
  if (o.peer !== undefined) req.peer = parsePublicKey(o.peer, 'peer');
  if (o.after !== undefined) req.after = parsePublicKey(o.after, 'after');
  if (o.limit !== undefined) req.limit = integer(o.limit, 'limit', 1, PATHS_PAGE_MAX);
  if (req.peer !== undefined && (req.after !== undefined || req.limit !== undefined)) throw new ContractError('peer', 'asks for one decision: no page with it');
  return req;
}
