import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENROLLMENT_FILE, Enrollment, nodeKey, PRIVATE_KEY_FILE, readEnrollment, writeEnrollment } from './member-state';

// State directories (one holds a private key): removed after the tests, keys and all.
const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'wgmesh-member-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const KEY = Buffer.alloc(32, 9).toString('base64');

describe('member state', () => {
  it('creates the private key 0600 once and gives only the public key', () => {
    const d = dir();
    const first = nodeKey(d);
    expect(first.created).toBe(true);
    expect(statSync(join(d, PRIVATE_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = nodeKey(d);
    expect([again.created, again.publicKey, again.path]).toEqual([false, first.publicKey, join(d, PRIVATE_KEY_FILE)]);
    expect(Object.keys(again).sort()).toEqual(['created', 'path', 'publicKey', 'readableByOthers']);
  });

  it('never puts a key file content in an error', () => {
    const d = dir();
    writeFileSync(join(d, PRIVATE_KEY_FILE), 'SECRET-but-not-a-key\n', { mode: 0o600 });
    expect(() => nodeKey(d)).toThrow(/does not hold a base64 WireGuard key/);
    expect(() => nodeKey(d)).not.toThrow(/SECRET/);
  });

  it('writes and validates the enrolment state', () => {
    const d = dir();
    expect(readEnrollment(d)).toBeNull();
    const state: Enrollment = {
      version: 1,
      name: 'site-a',
      publicKey: KEY,
      enrolledAt: '2025-01-01T00:00:00.000Z',
      address: '10.99.0.5/32',
      meshCidr: '10.99.0.0/16',
      registry: { publicKey: KEY, endpoint: '203.0.113.1:51820', address: '10.99.0.1' },
    };
    writeEnrollment(d, state);
    expect(readEnrollment(d)).toEqual(state);
    writeFileSync(join(d, ENROLLMENT_FILE), JSON.stringify({ ...state, address: 'nope' }));
    expect(() => readEnrollment(d)).toThrow(/enrollment.json is not a valid enrolment state \(address: /);
    expect(readFileSync(join(d, ENROLLMENT_FILE), 'utf8')).not.toContain('token');
  });
});
