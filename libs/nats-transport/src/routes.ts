import { ContractError, parseName, Pattern, Patterns, subjectFor } from '@wgmesh/contracts';

const KNOWN: readonly string[] = Object.values(Patterns);

/** Scope of one server or bus: its mesh, and its node id for `node.{node}.…` patterns. */
export interface MeshScope {
  mesh: string;
  node?: string;
}

export function parseScope(scope: MeshScope): MeshScope {
  return { mesh: parseName(scope.mesh, 'mesh'), node: scope.node === undefined ? undefined : parseName(scope.node, 'node') };
}

/** A handler's logical pattern must be one of contracts' `Patterns` (catches typos at startup). */
export function parsePattern(pattern: string): Pattern {
  if (!KNOWN.includes(pattern)) {
    throw new ContractError('pattern', `"${pattern}" is not one of the contracts' Patterns (${KNOWN.join(', ')})`);
  }
  return pattern as Pattern;
}

/**
 * The subject of a pattern in this scope; `node` overrides the scope's node ("*" subscribes to
 * all). On addressed patterns (`node.{node}.….{from}`) `node` is the receiver and `from` the
 * sender, the scope's node unless given ("*" subscribes to every sender's).
 */
export function subjectOf(pattern: string, scope: MeshScope, node?: string, from?: string): string {
  return subjectFor(parsePattern(pattern), { mesh: scope.mesh, node: node ?? scope.node, from: from ?? scope.node });
}
