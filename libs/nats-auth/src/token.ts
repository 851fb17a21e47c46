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
  return { token: t.slice(0, dot), enrollJwt };
}
