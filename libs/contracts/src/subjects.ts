import { parseName } from './names';

/**
 * The NATS subjects of wgmesh. This file is the only place they are spelled.
 *
 * Every subject is `wgmesh.v1.<mesh>.<pattern>`. A pattern is what a NestJS handler declares
 * (`@EventPattern(Patterns.peerEvents)`); the transport turns it into the full subject for the
 * configured mesh, and for `node.{node}.…` patterns, the configured node id.
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
  /** Events: actual device state of one node. */
  dataplaneState: 'node.{node}.dataplane.state',
  /** Events: `NatReport`, the NAT classification of one node (its nat-probe). */
  nat: 'node.{node}.nat',
  /** Events: `PathReport`, one node's path decisions (direct or relayed, and why). */
  paths: 'node.{node}.paths',
  /** Request/reply: `PathsGetRequest` → `PathReport`, one node's current path decisions. */
  pathsGet: 'node.{node}.paths.get',
  /** Events: `PunchMessage`, hole punching between two members (offers and answers, on the sender's subject). */
  punch: 'node.{node}.punch',
  /** Request/reply: `ConnectRequest` → `ConnectReply`, to one member (on-demand peers). */
  connect: 'node.{node}.connect',
  /** Request/reply: `CredentialRequest` → `CredentialReply`, a member renews its NATS credential (the registry answers). */
  credential: 'node.{node}.credential',
} as const;

export type Pattern = (typeof Patterns)[keyof typeof Patterns];

export interface SubjectScope {
  mesh: string;
  node?: string;
}

/** The full subject for a pattern in a mesh (and node, for node patterns). */
export function subjectFor(pattern: Pattern, scope: SubjectScope): string {
  const mesh = parseName(scope.mesh, 'mesh');
  let rest: string = pattern;
  if (pattern.includes('{node}')) {
    const node = scope.node === '*' ? '*' : parseName(scope.node, 'node');
    rest = pattern.replace('{node}', node);
  }
  return `${SUBJECT_ROOT}.${mesh}.${rest}`;
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
