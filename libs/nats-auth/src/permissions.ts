import { enrollSubjects, memberSubjects } from '@wgmesh/contracts';
import { UserPermissions } from './jwt';

/**
 * The permissions of each role's user JWT, built from contracts' ACCESS table.
 *
 * Every credential receives replies on its own inbox prefix, `_INBOX.<user public key>`, and may
 * subscribe only there: no member sees another's replies (peer snapshots, enrolment answers).
 * Replies to requests a user received are allowed by NATS's "allow responses" (`resp`), not by a
 * publish right on `_INBOX.>`: a member cannot inject answers into anyone else's inbox.
 */

/** How long a responder may answer a request it received (ns): longer than any request timeout. */
export const RESPONSE_TTL_NS = 60_000_000_000;

/** The inbox prefix of a user (nats.js `inboxPrefix`): where its requests' replies arrive. */
export function inboxPrefix(userPublicKey: string): string {
  return `_INBOX.${userPublicKey}`;
}

/** A member: its own `node.<id>` subjects as contracts' ACCESS says, peer events, the snapshot. */
export function memberPermissions(mesh: string, node: string, userPublicKey: string): UserPermissions {
  const { publish, subscribe } = memberSubjects(mesh, node);
  return {
    pub: { allow: publish },
    sub: { allow: [...subscribe, `${inboxPrefix(userPublicKey)}.>`] },
    resp: { max: 1, ttl: RESPONSE_TTL_NS },
  };
}

/** The enrolment credential: the `enroll` request and its own inbox, nothing else. */
export function enrollPermissions(mesh: string, userPublicKey: string): UserPermissions {
  return {
    pub: { allow: enrollSubjects(mesh) },
    sub: { allow: [`${inboxPrefix(userPublicKey)}.>`] },
  };
}

/** The registry's services and operator tools: everything in the mesh's account (no restriction). */
export function registryPermissions(): UserPermissions {
  return {};
}
