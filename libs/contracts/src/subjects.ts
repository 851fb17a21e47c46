import { parseName } from './names';

/**
 * The NATS subjects of wgmesh. This file is the only place they are spelled.
 *
 * Every subject is `wgmesh.v1.<mesh>.<pattern>`. A pattern is what a NestJS handler declares
 * (`@EventPattern(Patterns.peerEvents)`); the transport turns it into the full subject for the
 * configured mesh, and for `node.{node}.…` patterns, the configured node id.
 *
 * Addressed patterns name two nodes: `node.{node}.….{from}` is a message FOR `{node}` FROM
 * `{from}`. A member may publish only with its own id as `{from}` (`node.*.….<self>`) and subscribe
 * only with its own id as `{node}` (`node.<self>.….*`), so NATS vouches for the sender and only the
 * addressee receives it (see access.ts).
 */
export const SUBJECT_ROOT = 'wgmesh.v1';

export const Patterns = {
  /** Events `{type: upsert|remove, revision, peer}` from the registry watcher. */
  peerEvents: 'peers.events',
  /** Request/reply: `SnapshotRequest` → `PeerSnapshot`. */
  peerSnapshot: 'peers.snapshot',
  /** Request/reply: `EnrollRequest` → `EnrollReply`. */
  enroll: 'enroll',
  /** Events: `RegistriesMessage`, the mesh's registries (preference order), when the list changes. */
  registries: 'registries.events',
  /** Request/reply: `RegistriesRequest` (`{}`) → `RegistriesMessage`, the mesh's registries now. */
  registriesGet: 'registries.get',
  /** Request/reply: `MemberRemoveRequest` → `MemberRemoveReply` (the registry drops a member). */
  memberRemove: 'members.remove',
  /** Request/reply: desired device state → apply result, for one node. */
  dataplaneApply: 'node.{node}.dataplane.apply',
  /**
   * Events: `DataplaneStateUpdate`, what changed on one node's device (peers, endpoints,
   * handshakes; not the byte counters), numbered (`seq`) so that a consumer that missed one
   * fetches the whole state (`dataplane.state.get`).
   */
  dataplaneState: 'node.{node}.dataplane.state',
  /** Request/reply: `DataplaneStateGetRequest` → `DataplaneState`, one page of one node's device state. */
  dataplaneStateGet: 'node.{node}.dataplane.state.get',
  /** Events: `NatReport`, the NAT classification of one node (its nat-probe). */
  nat: 'node.{node}.nat',
  /**
   * Events: `PathUpdate`, what changed in one node's path decisions (direct or relayed, and why),
   * numbered (`seq`) so that a consumer that missed one fetches the whole report (`paths.get`).
   */
  paths: 'node.{node}.paths',
  /** Request/reply: `PathsGetRequest` → `PathReport`, one node's current path decisions. */
  pathsGet: 'node.{node}.paths.get',
  /**
   * Events: `PathReport` with at most one decision, from the leader of a pair (`{from}`) to its
   * follower (`{node}`): the leader's decision about the follower, sent when it changes.
   */
  pathsTo: 'node.{node}.paths.from.{from}',
  /** Events: `PunchMessage`, hole punching between two members (offers and answers), to `{node}` from `{from}`. */
  punch: 'node.{node}.punch.{from}',
  /** Request/reply: `ConnectRequest` → `ConnectReply`, to one member (on-demand peers). */
  connect: 'node.{node}.connect',
  /** Request/reply: `CredentialRequest` → `CredentialReply`, a member renews its NATS credential (the registry answers). */
  credential: 'node.{node}.credential',
} as const;

export type Pattern = (typeof Patterns)[keyof typeof Patterns];

export interface SubjectScope {
  mesh: string;
  /** The node a `node.{node}.…` subject is of (or for, on addressed patterns); "*" for every node. */
  node?: string;
  /** The sender on addressed patterns (`….{from}`); "*" for every sender. */
  from?: string;
}

/** Whether a pattern is addressed: it names the receiver (`{node}`) and the sender (`{from}`). */
export function isAddressed(pattern: Pattern): boolean {
  return pattern.includes('{from}');
}

/** The full subject for a pattern in a mesh (and node, for node patterns; and sender, for addressed ones). */
export function subjectFor(pattern: Pattern, scope: SubjectScope): string {
  const mesh = parseName(scope.mesh, 'mesh');
  let rest: string = pattern;
  if (pattern.includes('{node}')) {
    const node = scope.node === '*' ? '*' : parseName(scope.node, 'node');
    rest = rest.replace('{node}', node);
  }
  if (pattern.includes('{from}')) {
    const from = scope.from === '*' ? '*' : parseName(scope.from, 'from');
    rest = rest.replace('{from}', from);
  }
  return `${SUBJECT_ROOT}.${mesh}.${rest}`;
}

/**
 * The node ids in a subject of `pattern` in a mesh (`node`, and `from` on addressed patterns),
 * or null when the subject is not one of that pattern (or names no concrete node: "*", ">").
 */
export function matchSubject(pattern: Pattern, subject: string, mesh: string): { node?: string; from?: string } | null {
  const prefix = `${SUBJECT_ROOT}.${mesh}.`;
  if (!subject.startsWith(prefix)) return null;
  const got = subject.slice(prefix.length).split('.');
  const want = pattern.split('.');
  if (got.length !== want.length) return null;
  const out: { node?: string; from?: string } = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w === '{node}' || w === '{from}') {
      if (g === '' || g === '*' || g === '>') return null;
      out[w === '{node}' ? 'node' : 'from'] = g;
    } else if (w !== g) return null;
  }
  return out;
}

/** The sender named by a subject of an addressed pattern (its `{from}` token), or null. */
export function senderOfSubject(pattern: Pattern, subject: string, mesh: string): string | null {
  return matchSubject(pattern, subject, mesh)?.from ?? null;
}

/** Every subject of a mesh, for monitoring (`nats sub 'wgmesh.v1.<mesh>.>'`). */
export function meshWildcard(mesh: string): string {
  return `${SUBJECT_ROOT}.${parseName(mesh, 'mesh')}.>`;
}

/** The node id in a `…node.<id>.…` subject of a mesh, or null when the subject is not one. */
export function nodeOfSubject(subject: string, mesh: string): string | null {
  const prefix = `${SUBJECT_ROOT}.${mesh}.node.`;
  if (!subject.startsWith(prefix)) return null;
  const node = subject.slice(prefix.length).split('.')[0];
  return node === '' || node === '*' || node === '>' ? null : node;
}

/** The mesh of a wgmesh subject (`wgmesh.v1.<mesh>.…`), or null when it is not one. */
export function meshOfSubject(subject: string): string | null {
  const m = /^wgmesh\.v1\.([a-z0-9-]{1,63})\./.exec(subject);
  return m && m[1] !== undefined && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(m[1]) ? m[1] : null;
}
