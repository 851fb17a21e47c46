import { decodeJwt } from '@wgmesh/nats-auth';

/** Renew at this fraction of a credential's lifetime. */
export const RENEW_AT = 2 / 3;
/** Never sooner than this (a credential that is about to expire, or already has). */
export const MIN_RENEW_DELAY_MS = 1000;

/**
 * When to ask for a new NATS credential (ms from now): at two thirds of its lifetime, so a
 * registry that is briefly away leaves a third of it for retries; null when it never expires.
 * Pure (over the JWT's `iat` and `exp`).
 */
export function renewalDelay(jwt: string, nowMs: number): number | null {
  const claims = decodeJwt(jwt);
  if (typeof claims.exp !== 'number') return null;
  const issued = (typeof claims.iat === 'number' ? claims.iat : claims.exp) * 1000;
  const at = issued + (claims.exp * 1000 - issued) * RENEW_AT;
  return Math.max(MIN_RENEW_DELAY_MS, at - nowMs);
}

/** How long to wait before trying again after a failed renewal: a tenth of what is left, between 1 s and 30 s. */
export function renewalRetryDelay(jwt: string, nowMs: number): number {
  const exp = decodeJwt(jwt).exp;
  const left = typeof exp === 'number' ? exp * 1000 - nowMs : 300_000;
  return Math.min(30_000, Math.max(1000, left / 10));
}
