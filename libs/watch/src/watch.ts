import {
  ACCESS, DataplaneState, DataplaneStateUpdate, DataplaneStateView, decodeJson, isAddressed, NatReport, nodeOfSubject, parseDataplaneStateUpdate, parseNatReport, parsePathUpdate, parsePeerEvent, parsePunchMessage, PathDecision, PathUpdate, Pattern, Patterns, PeerEvent,
  PeerRecord, PeerState, PunchMessage, subjectFor, SUBJECT_ROOT,
} from '@wgmesh/contracts';

/**
 * `wgmesh watch`: what happens in a mesh, as lines a person reads (or JSON records), from the
 * events every service publishes. Each message is validated with its contract; what it *changed*
 * is shown, not its repeats: NAT reports come every classification, and a line is written only
 * when something in them differs from the last one of the same node (a new decision). Path
 * updates and device state updates carry only what changed (a peer added or gone, an endpoint
 * moved, a first handshake); a device state update that shows a gap (watch started later, missed
 * one, the programmer restarted) is marked `gap`, and the whole state (`dataplane.state.get`)
 * handed to `fullState` makes the node's peers known again. Pure: messages and times in, lines out.
 */
export const WATCH_KINDS = ['peers', 'nat', 'paths', 'state', 'punch'] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];

const PATTERNS: Record<WatchKind, Pattern> = {
  peers: Patterns.peerEvents,
  nat: Patterns.nat,
  paths: Patterns.paths,
  state: Patterns.dataplaneState,
  punch: Patterns.punch,
};

/**
 * The subjects to subscribe to: every kind, node subjects of every node (punches between every
 * two), or with a member's credential (`member`: its node id) only what contracts' ACCESS lets a
 * member receive (its own NAT reports, device state and path updates, the punches addressed to
 * it, the peer events).
 */
export function watchSubjects(mesh: string, o: { member?: string } = {}): Array<{ kind: WatchKind; subject: string }> {
  return WATCH_KINDS.map((kind) => {
    const pattern = PATTERNS[kind];
    const receive = ACCESS[pattern].memberReceive;
    const node = o.member !== undefined && (receive === 'self' || receive === 'to-self') ? o.member : '*';
    return { kind, subject: subjectFor(pattern, { mesh, node, ...(isAddressed(pattern) ? { from: '*' } : {}) }) };
  });
}

/**
 * A `--subject` value, checked (the option's parser): a NATS subject pattern, tokens separated
 * by dots, `*` for one token, `>` for the rest (last), no white space.
 */
export function parseSubjectPattern(pattern: string): string {
  const tokens = pattern.split('.');
  if (pattern.length > 256 || tokens.some((t, i) => t === '' || /\s/.test(t) || (t === '>' && i !== tokens.length - 1) || (/[*>]/.test(t) && t.length > 1))) {
    throw new Error(`"${pattern}" must be a subject pattern: tokens separated by dots, "*" for one token, ">" for the rest (e.g. node.a.>, node.*.paths)`);
  }
  return pattern;
}

/**
 * A `--subject` filter: a NATS subject pattern (`*` one token, `>` the rest), relative to the
 * mesh (`node.a.>`, `peers.events`, `node.*.paths`) or whole (`wgmesh.v1.lab.node.a.nat`).
 */
export function subjectFilter(mesh: string, pattern: string): (subject: string) => boolean {
  parseSubjectPattern(pattern);
  const full = pattern.startsWith(`${SUBJECT_ROOT}.`) ? pattern : `${SUBJECT_ROOT}.${mesh}.${pattern}`;
  const want = full.split('.');
  return (subject) => {
    const got = subject.split('.');
    for (let i = 0; i < want.length; i++) {
      if (want[i] === '>') return got.length > i;
      if (i >= got.length || (want[i] !== '*' && want[i] !== got[i])) return false;
    }
    return got.length === want.length;
  };
}

/** What one message changed: its kind, the node it is about, sentences, and the validated message. */
export interface WatchEvent {
  /** When it was received (ms since the epoch). */
  at: number;
  subject: string;
  kind: WatchKind;
  /** The node of a node subject. */
  node?: string;
  /** One sentence per change, without time and kind. */
  changes: string[];
  /** (A whole device state fetched after a gap is given without its peers.) */
  message: PeerEvent | NatReport | PathUpdate | DataplaneStateUpdate | DataplaneState | PunchMessage;
  /** A device state update that does not follow the state held of its node: fetch it (`fullState`). */
  gap?: true;
}

/** The kind of a subject of `mesh`, or undefined for one watch does not follow (matched against contracts' patterns). */
export function kindOfSubject(mesh: string, subject: string): WatchKind | undefined {
  const prefix = `${SUBJECT_ROOT}.${mesh}.`;
  if (!subject.startsWith(prefix)) return undefined;
  const rest = subject.slice(prefix.length).split('.');
  return WATCH_KINDS.find((kind) => {
    const want = PATTERNS[kind].split('.');
    return want.length === rest.length && want.every((t, i) => (t === '{node}' || t === '{from}' ? rest[i] !== '' : t === rest[i]));
  });
}

/** Keeps what each node last said, to tell what a message changed. */
export class MeshWatcher {
  private readonly names = new Map<string, string>();
  private readonly peers = new Map<string, PeerRecord>();
  private readonly nats = new Map<string, NatReport>();
  private readonly decisions = new Map<string, Map<string, PathDecision>>();
  /** Each node's device state as its updates keep it; `partial`: built from updates alone (no whole state yet). */
  private readonly states = new Map<string, { view: DataplaneStateView; partial: boolean }>();

  constructor(private readonly mesh: string) {}

  /** Names for keys (the peer table at start; peer events keep it current). */
  learn(peers: readonly PeerRecord[]): void {
    for (const p of peers) {
      this.peers.set(p.publicKey, p);
      if (p.name) this.names.set(p.publicKey, p.name);
    }
  }

  /**
   * A message received on `subject` (its JSON body): validated with its contract (a ContractError
   * names what is wrong), and what it changed; null when it changed nothing (a repeat) or the
   * subject is none watch follows.
   */
  accept(subject: string, body: Uint8Array | string, at: number): WatchEvent | null {
    const kind = kindOfSubject(this.mesh, subject);
    if (!kind) return null;
    const node = nodeOfSubject(subject, this.mesh) ?? undefined;
    let message: WatchEvent['message'];
    let changes: string[];
    switch (kind) {
      case 'peers': {
        const event = decodeJson(body, parsePeerEvent);
        [message, changes] = [event, this.peerEvent(event)];
        break;
      }
      case 'nat': {
        const report = decodeJson(body, parseNatReport);
        [message, changes] = [report, this.natReport(report)];
        break;
      }
      case 'paths': {
        const update = decodeJson(body, parsePathUpdate);
        [message, changes] = [update, this.pathUpdate(update)];
        break;
      }
      case 'state': {
        const update = decodeJson(body, parseDataplaneStateUpdate);
        const { changes: lines, gap } = this.dataplaneState(update);
        if (gap) return { at, subject, kind, ...(node ? { node } : {}), changes: lines, message: update, gap: true };
        [message, changes] = [update, lines];
        break;
      }
      case 'punch': {
        const punch = decodeJson(body, parsePunchMessage);
        [message, changes] = [punch, [this.punchMessage(punch)]];
        break;
      }
    }
    return changes.length === 0 ? null : { at, subject, kind, ...(node ? { node } : {}), changes, message };
  }

  private name(key: string): string {
    return this.names.get(key) ?? `${key.slice(0, 8)}…`;
  }

  private peerEvent(e: PeerEvent): string[] {
    const key = e.peer.publicKey;
    const before = this.peers.get(key);
    if (e.type === 'remove') {
      const who = this.name(key);
      this.peers.delete(key);
      return [`r${e.revision} ${who} removed`];
    }
    const p = e.peer;
    this.learn([p]);
    const endpoint = (x: PeerRecord | undefined) => x?.endpoint ?? 'no endpoint yet';
    if (!before) return [`r${e.revision} ${this.name(key)} joined: ${p.allowedIps.join(',') || 'no addresses'}, ${endpoint(p)}${p.nat ? `, nat ${p.nat}` : ''}`];
    const what: string[] = [];
    if (before.endpoint !== p.endpoint) what.push(`endpoint ${endpoint(before)} → ${endpoint(p)}`);
    if (before.allowedIps.join(',') !== p.allowedIps.join(',')) what.push(`addresses ${before.allowedIps.join(',') || 'none'} → ${p.allowedIps.join(',') || 'none'}`);
    if (before.nat !== p.nat) what.push(`nat ${before.nat ?? 'not known'} → ${p.nat ?? 'not known'}`);
    if (before.name !== p.name) what.push(`name ${before.name ?? '-'} → ${p.name ?? '-'}`);
    if (what.length === 0) what.push((p.latestHandshake ?? 0) > (before.latestHandshake ?? 0) ? 'handshake with the registry' : 'unchanged');
    return [`r${e.revision} ${this.name(key)}: ${what.join(', ')}`];
  }

  private natReport(r: NatReport): string[] {
    const before = this.nats.get(r.node);
    this.nats.set(r.node, r);
    const text = (x: NatReport) => `${x.nat} (mapping ${x.mapping}, filtering ${x.filtering}${x.portStep !== undefined ? `, ports in sequence, step ${x.portStep > 0 ? '+' : ''}${x.portStep}` : ''}), seen as ${x.mappedAddress ?? 'nothing (no STUN answer)'}`;
    // Each classification probes from a new port, so the mapped port moves every time: only the address counts.
    const same = (x: NatReport, y: NatReport) => text({ ...x, mappedAddress: ip(x.mappedAddress) }) === text({ ...y, mappedAddress: ip(y.mappedAddress) });
    if (before && same(before, r)) return [];
    return [`${r.node}: ${before ? `${text(before)} → ` : ''}${text(r)}`];
  }

  private pathUpdate(u: PathUpdate): string[] {
    let known = this.decisions.get(u.node);
    if (!known) this.decisions.set(u.node, (known = new Map<string, PathDecision>()));
    const out: string[] = [];
    for (const d of u.changed) {
      const b = known.get(d.peer);
      known.set(d.peer, d);
      // Changes in fields not shown (the retry time, the cause) print nothing.
      if (b && b.path === d.path && b.attempt === d.attempt && b.reason === d.reason && b.since === d.since && b.technique === d.technique) continue;
      // (a reason starts with the path: "direct: …", "relayed: …", "relayed while trying direct: …")
      out.push(`${u.node} → ${d.peerName ?? this.name(d.peer)}: ${d.reason}`);
    }
    for (const key of u.removed) {
      const b = known.get(key);
      known.delete(key);
      out.push(`${u.node} → ${b?.peerName ?? this.name(key)}: no decision any more`);
    }
    return out;
  }

  /**
   * A node's whole device state (`dataplane.state.get`, after an update marked `gap`): held, so
   * that later updates say what they changed; the one line in short. Null when older than held.
   */
  fullState(s: DataplaneState): string[] | null {
    const held = this.states.get(s.node);
    const view = held?.view ?? new DataplaneStateView();
    if (!view.full(s)) return null;
    this.states.set(s.node, { view, partial: false });
    const shaken = s.peers.filter((p) => p.latestHandshake > 0).length;
    return [`${s.node}: ${s.driver} device ${s.device}, port ${s.listenPort}, ${s.peers.length} peers (${shaken} with a handshake)`];
  }

  private dataplaneState(u: DataplaneStateUpdate): { changes: string[]; gap: boolean } {
    let held = this.states.get(u.node);
    const before = new Map<string, PeerState | undefined>(u.changed.map((p) => [p.publicKey, held?.view.peer(p.publicKey)]));
    const outcome = held ? held.view.update(u) : 'gap';
    if (outcome === 'stale') return { changes: [], gap: false };
    let gap = false;
    if (outcome === 'gap') {
      // Held from this update on, partly: peers not in it are unknown until the whole state comes.
      const view = new DataplaneStateView();
      view.full({ node: u.node, driver: u.driver, device: u.device, publicKey: u.publicKey, listenPort: u.listenPort, peers: u.changed, at: u.at, epoch: u.epoch, seq: u.seq });
      this.states.set(u.node, (held = { view, partial: true }));
      before.clear();
      gap = true;
    }
    const out: string[] = [];
    for (const p of u.changed) {
      const b = before.get(p.publicKey);
      const who = this.name(p.publicKey);
      if (!b) {
        out.push(held!.partial ? `${u.node}: ${who} at ${p.endpoint ?? 'no endpoint'}, ${p.allowedIps.join(',') || 'no routes'}${p.latestHandshake > 0 ? ', handshaken' : ''}` : `${u.node}: + ${who} ${p.endpoint ?? 'no endpoint'}, ${p.allowedIps.join(',') || 'no routes'}`);
        continue;
      }
      if (b.endpoint !== p.endpoint) out.push(`${u.node}: ${who} endpoint ${b.endpoint ?? 'none'} → ${p.endpoint ?? 'none'}`);
      if (b.allowedIps.join(',') !== p.allowedIps.join(',')) out.push(`${u.node}: ${who} routes ${b.allowedIps.join(',') || 'none'} → ${p.allowedIps.join(',') || 'none'}`);
      if (b.latestHandshake === 0 && p.latestHandshake > 0) out.push(`${u.node}: ${who} first handshake`);
    }
    for (const key of u.removed) out.push(`${u.node}: - ${this.name(key)}`);
    return { changes: out, gap };
  }

  private punchMessage(m: PunchMessage): string {
    const head = `${this.name(m.from)} → ${this.name(m.to)} ${m.kind}`;
    if (m.refused !== undefined) return `${head} refused: ${m.refused}`;
    return `${head}: ${m.predicted ? 'predicted ports' : 'candidates'} ${m.candidates.join(', ')}`;
  }
}

/** The address of an "ip:port" or "[ip6]:port". */
function ip(endpoint: string | null): string | null {
  return endpoint === null ? null : endpoint.replace(/:\d+$/, '');
}

/** One line per change: "12:00:01.234 paths  a → b: direct: both endpoint-independent". */
export function formatWatchLines(e: WatchEvent): string[] {
  const time = new Date(e.at).toISOString().slice(11, 23);
  return e.changes.map((c) => `${time} ${e.kind.padEnd(5)}  ${c}`);
}

/** One JSON record per message (for scripts): when, where, what changed, and the message as validated. */
export function watchRecord(e: WatchEvent): string {
  return JSON.stringify({ at: new Date(e.at).toISOString(), subject: e.subject, kind: e.kind, ...(e.node ? { node: e.node } : {}), changes: e.changes, message: e.message });
}
