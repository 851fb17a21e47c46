import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKey, initAuthority, loadIssuer } from '@wgmesh/nats-auth';
import { renewalDelay, renewalRetryDelay } from './credential-renewal';

describe('renewing a member credential', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'wgmesh-renewal-'));
    initAuthority(join(dir, 'nats'), 'lab');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const jwt = (expiresAt?: number) => loadIssuer(join(dir, 'nats')).memberJwt('a', createKey('user').getPublicKey(), { expiresAt });

  it('renews at two thirds of the lifetime, at once when it is (nearly) over, never when it does not expire', () => {
    const now = Date.now();
    const day = jwt(now + 24 * 3600_000);
    expect(renewalDelay(day, now)).toBeGreaterThan(15.9 * 3600_000);
    expect(renewalDelay(day, now)).toBeLessThan(16.1 * 3600_000);
    expect(renewalDelay(day, now + 20 * 3600_000)).toBe(1000);
    expect(renewalDelay(jwt(), now)).toBeNull();
  });

  it('retries after a failure within what is left, between 1 and 30 s', () => {
    const now = Date.now();
    expect(renewalRetryDelay(jwt(now + 24 * 3600_000), now)).toBe(30_000);
    expect(renewalRetryDelay(jwt(now + 60_000), now)).toBeGreaterThan(5000);
    expect(renewalRetryDelay(jwt(now + 60_000), now)).toBeLessThanOrEqual(6000);
    expect(renewalRetryDelay(jwt(now - 1000), now)).toBe(1000);
  });
});
