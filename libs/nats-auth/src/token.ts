import { meshOfSubject } from '@wgmesh/contracts';
import { decodeJwt } from './jwt';

/**
 * An enrolment token as `wgmesh registry token create` prints it when NATS runs with
 * authentication: the pre-auth token (`wgm_…`, the secret the registry checks, stored hashed)
 * and, after a dot, the token's enrolment credential (a bearer JWT that may only ask `enroll`
 * and expires with the token). One string to hand to `wgmesh member up --token`.
 */
export interface EnrollToken {
  /** The pre-auth token sent in the enrolment request. */
  token: string;
  /** The NATS credential to send it with, when NATS needs one. */
  enrollJwt?: string;
  /** The mesh the credential may enrol in (the mesh of the subject it may publish), when it carries one. */
  mesh?: string;
  /** When the credential (and the token) expires, unix seconds, when it carries one. */
  expiresAt?: number;
}

export function joinEnrollToken(token: string, enrollJwt?: string): string {
  if (token.includes('.')) throw new Error('a pre-auth token has no "."');
  return enrollJwt ? `${token}.${enrollJwt}` : token;
}

export function splitEnrollToken(text: string): EnrollToken {
  const t = text.trim();
  const dot = t.indexOf('.');
  if (dot < 0) return { token: t };
  const enrollJwt = t.slice(dot + 1);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(enrollJwt)) throw new Error('the token is malformed: after the first "." must come a JWT');
  let claims;
  try {
    claims = decodeJwt(enrollJwt);
  } catch (err) {
    throw new Error(`the token is malformed: its NATS credential is not a readable JWT (${(err as Error).message})`);
  }
  const out: EnrollToken = { token: t.slice(0, dot), enrollJwt };
  const allowed = (claims.nats.pub as { allow?: unknown } | undefined)?.allow;
  const mesh = Array.isArray(allowed) && typeof allowed[0] === 'string' ? meshOfSubject(allowed[0]) : null;
  if (mesh) out.mesh = mesh;
  if (typeof claims.exp === 'number') out.expiresAt = claims.exp;
  return out;
}
