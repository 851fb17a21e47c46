import type { NatType } from '@wgmesh/contracts';
import type { PathBasis, RuleWhy } from './decide';

/**
 * The path decisions in words: the only place their sentences are made (the `reason` of a
 * `PathDecision` on the wire, shown by `wgmesh status`, the mesh map, `wgmesh watch` and the lab).
 * The planner keeps its state as data (decide.ts); nothing reads these sentences back.
 */
const NAT_WORDS: Record<NatType, string> = {
  none: 'has a public address',
  eim: 'is endpoint-independent',
  edm: 'is endpoint-dependent',
  unknown: 'has a NAT that could not be classified',
};

/** Why a pair's rule is what it is, without the path word: "both endpoint-independent", … */
export function ruleSentence(why: RuleWhy): string {
  const what = (m: { name: string; nat?: NatType }) => (m.nat === undefined ? `${m.name}'s NAT is not known yet` : `${m.name} ${NAT_WORDS[m.nat]}`);
  switch (why.kind) {
    case 'public':
      return `${why.side} has a public address`;
    case 'both-eim':
      return 'both endpoint-independent';
    case 'both-edm':
      return 'both endpoint-dependent';
    case 'sequential':
      return `both endpoint-dependent, ${why.sequential.map((m) => `${m.name} allocates ports sequentially (step ${signed(m.step)})`).join(', ')}`;
    case 'eim-edm':
      return `${why.eim} is endpoint-independent, ${why.edm} endpoint-dependent`;
    case 'edm-unknown':
      return `${why.edm} is endpoint-dependent, ${why.unknown.map(what).join(', ')}`;
    case 'unknown':
      return why.unknown.map(what).join(', ');
  }
}

/** A pair's decision in words (the `reason` of a `PathDecision`). */
export function pathSentence(b: PathBasis): string {
  if (b.cause === 'leader') return `${b.leaderReason} (decided by ${b.leaderName})`;
  const why = ruleSentence(b.why);
  const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;
  const punch = 'punch' in b ? b.punch?.detail : undefined;
  switch (b.cause) {
    case 'rule':
      if (b.attempt) return `relayed while trying direct: ${why}${punch ? `; ${punch}` : ''} (deadline ${seconds(b.deadlineMs)})`;
      return `${b.path}: ${why}`;
    case 'session-up':
      return `direct: a session was up already (${why})`;
    case 'handshake':
      return `direct: handshake on a direct attempt (${why}${punch ? `; ${punch}` : ''})`;
    case 'retry':
      return `relayed: trying direct again (after ${b.failures} failed attempt${b.failures === 1 ? '' : 's'})${punch ? `; ${punch}` : ''}`;
    case 'no-handshake':
      return `relayed: no handshake in ${seconds(b.deadlineMs)} on direct${punch ? ` (${punch})` : ''}, retry at ${new Date(b.retryAt).toISOString()}`;
    case 'handshakes-stopped':
      return `relayed: direct handshakes stopped (none for ${seconds(b.silentMs)}), retry at ${new Date(b.retryAt).toISOString()}`;
  }
}

export function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
