import { initAuthority, loadIssuer } from './authority';
import { joinEnrollToken, splitEnrollToken } from './token';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('enrolment token with its NATS credential', () => {
  const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIiwiaXNzIjoiQSIsIm5hdHMiOnt9fQ.c2ln';
  it('joins and splits', () => {
    expect(splitEnrollToken(joinEnrollToken('wgm_abc', jwt))).toEqual({ token: 'wgm_abc', enrollJwt: jwt });
    expect(splitEnrollToken(' wgm_abc\n')).toEqual({ token: 'wgm_abc' });
    expect(joinEnrollToken('wgm_abc')).toBe('wgm_abc');
  });
  it('refuses a malformed credential part', () => {
    expect(() => splitEnrollToken('wgm_abc.notajwt')).toThrow(/malformed/);
    expect(() => splitEnrollToken('wgm_abc.a.b.c')).toThrow(/malformed: its NATS credential is not a readable JWT/);
    expect(() => joinEnrollToken('wgm.abc', jwt)).toThrow();
  });
  it('tells the mesh and the expiry the credential carries', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgmesh-token-'));
    try {
      initAuthority(join(dir, 'nats'), 'lab');
      const enrollJwt = loadIssuer(join(dir, 'nats')).enrollJwt(1_900_000_000_000, 'enroll-x');
      expect(splitEnrollToken(joinEnrollToken('wgm_abc', enrollJwt))).toEqual({ token: 'wgm_abc', enrollJwt, mesh: 'lab', expiresAt: 1_900_000_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
