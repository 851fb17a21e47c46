import { parseNodeId } from './names';
import { isAddressed, Pattern, Patterns, subjectFor } from './subjects';

/**
 * Who may send and receive on each pattern: the one table the NATS credentials are built from
 * (libs/nats-auth turns it into the permissions of the user JWTs the registry issues), so the
 * permissions cannot drift from the subjects. A new pattern needs its entry here (the type makes
 * it so); a service that starts using a pattern its role has no right to gets a permissions
 * violation from the NATS server, not silent success.
 *
 * Roles:
 * - registry: the registry's services and the operator's tools on the registry host. Everything
 *   in its mesh's NATS account; not listed here.
 * - member: one enrolled member's services (peer-discovery, dataplane-programmer, nat-probe) and
 *   the CLI on that node. `self` is the member's own `node.<id>` subtree, `any` every node's.
 * - enroll: a node that holds a pre-auth token but no member credential yet.
 *
 * "send" is publishing an event or sending a request; "receive" is subscribing to events or
 * serving requests. Replies to a request need no right of their own: requesters receive on their
 * own inbox, responders may answer the requests they received (NATS "allow responses").
 */
export type NodeScope = 'self' | 'any';
/**
 * On addressed patterns (`node.{node}.….{from}`): 'from-self' sends to any node with this
 * member's id as the sender (`node.*.….<self>`); 'to-self' receives what any node sends to this
 * member (`node.<self>.….*`).
 */
export type AddressScope = 'from-self' | 'to-self';

export interface PatternAccess {
  /** What a member may send on the pattern (node patterns: its own node's subject, or any node's). */
  memberSend?: NodeScope | 'from-self';
  /** What a member may receive. */
  memberReceive?: NodeScope | 'to-self';
  /** The enrolment credential may send it (request). */
  enrollSend?: boolean;
  /** Why, for the threat model and reviewers. */
  why: string;
}

export const ACCESS: Readonly<Record<Pattern, PatternAccess>> = {
  [Patterns.peerEvents]: { memberReceive: 'any', why: 'only the registry watcher publishes peer events; members follow them' },
  [Patterns.peerSnapshot]: { memberSend: 'any', why: 'members load the peer table from the registry' },
  [Patterns.enroll]: { enrollSend: true, why: 'a node with a token asks to join; only the registry answers' },
  [Patterns.registries]: { memberReceive: 'any', why: "only the registry publishes the mesh's registries; members follow them (a registry added after they enrolled)" },
  [Patterns.registriesGet]: { memberSend: 'any', why: "members ask the registry for the mesh's registries (the list is no secret to a member: every registry is its peer)" },
  [Patterns.memberRemove]: { why: 'removing members is for the registry operator only' },
  [Patterns.dataplaneApply]: { memberSend: 'self', memberReceive: 'self', why: "a member's peer-discovery programs its own device only" },
  [Patterns.dataplaneState]: { memberSend: 'self', memberReceive: 'self', why: "a member publishes what changed on its own device; its own nat-probe (and the CLI on that node) follows it" },
  [Patterns.dataplaneStateGet]: { memberSend: 'self', memberReceive: 'self', why: "a member serves its own device's whole state (paged); its own nat-probe and CLI ask for it at start and after a missed update. Other members' device states are not a member's business" },
  [Patterns.nat]: { memberSend: 'self', memberReceive: 'self', why: 'a member reports its own NAT classification' },
  [Patterns.paths]: { memberSend: 'self', memberReceive: 'self', why: "a member publishes what changed in its own path decisions; its own peer-discovery (and the CLI on that node) follows them. Other members get only what concerns them, addressed (paths.from)" },
  [Patterns.pathsGet]: { memberSend: 'any', memberReceive: 'self', why: "a member serves its own path decisions; the follower of a pair asks the leader for its decision about it when it (re)loads the peer table, and the CLI on a node asks its own. A member may ask another for its whole report: path decisions (direct or relayed, and why) are not kept from members, only no longer sent to all of them" },
  [Patterns.pathsTo]: { memberSend: 'from-self', memberReceive: 'to-self', why: "the leader of a pair sends the follower its decision about it: only as itself (the subject's last token is the sender, which NATS enforces), and a member receives only the decisions addressed to it" },
  [Patterns.punch]: { memberSend: 'from-self', memberReceive: 'to-self', why: 'a member offers and answers hole punches to the other end of the pair only, as itself (NATS enforces the sender token), and receives only those addressed to it' },
  [Patterns.credential]: { memberSend: 'self', why: 'a member renews its own NATS credential before it expires; only the registry answers, for the key enrolled under that name' },
  [Patterns.connect]: { memberSend: 'self', memberReceive: 'self', why: "on-demand peers: the CLI on a node changes that node only; asking other members back takes the registry's credential" },
};

/** Subjects a member's credential may publish and subscribe to, from ACCESS. */
export function memberSubjects(mesh: string, node: string): { publish: string[]; subscribe: string[] } {
  node = parseNodeId(node, 'node'); // never "*" nor a reserved id (the registry's hub): a member's own subjects are one member's
  const subject = (pattern: Pattern, scope: NonNullable<PatternAccess['memberSend'] | PatternAccess['memberReceive']>) => {
    if (isAddressed(pattern) !== (scope === 'from-self' || scope === 'to-self')) throw new Error(`ACCESS: ${pattern} takes ${isAddressed(pattern) ? "'from-self'/'to-self'" : "'self'/'any'"}, not '${scope}'`);
    if (scope === 'from-self') return subjectFor(pattern, { mesh, node: '*', from: node });
    if (scope === 'to-self') return subjectFor(pattern, { mesh, node, from: '*' });
    return subjectFor(pattern, { mesh, node: scope === 'self' ? node : '*' });
  };
  const publish: string[] = [];
  const subscribe: string[] = [];
  for (const [pattern, access] of Object.entries(ACCESS) as Array<[Pattern, PatternAccess]>) {
    if (access.memberSend) publish.push(subject(pattern, access.memberSend));
    if (access.memberReceive) subscribe.push(subject(pattern, access.memberReceive));
  }
  return { publish, subscribe };
}

/** Subjects the enrolment credential may publish (it subscribes only to its own inbox). */
export function enrollSubjects(mesh: string): string[] {
  return (Object.entries(ACCESS) as Array<[Pattern, PatternAccess]>).filter(([, a]) => a.enrollSend).map(([p]) => subjectFor(p, { mesh }));
}
