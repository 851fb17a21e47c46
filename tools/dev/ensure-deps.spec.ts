import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { dependencyProblem } = require('./ensure-deps.js') as { dependencyProblem: (root: string) => string | null };

/** A workspace with package-lock.json and, unless `installed` is null, node_modules as npm records it. */
function workspace(lock: Record<string, object>, installed: Record<string, object> | null, onDisk = Object.keys(installed ?? {})): string {
  const root = mkdtempSync(join(tmpdir(), 'wgmesh-deps-test-'));
  dirs.push(root);
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'x' }, ...lock } }));
  if (installed === null) return root;
  mkdirSync(join(root, 'node_modules'));
  writeFileSync(join(root, 'node_modules', '.package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: installed }));
  for (const name of onDisk) {
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(join(root, name, 'package.json'), '{}');
  }
  return root;
}
const dirs: string[] = [];

describe('ensure-deps: is node_modules what package-lock.json says?', () => {
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const nats = { version: '2.29.2', integrity: 'sha512-a' };
  const jest = { version: '30.5.2', integrity: 'sha512-b', dev: true };
  const darwin = { version: '1.0.0', integrity: 'sha512-c', optional: true };
  const lock = { 'node_modules/nats': nats, 'node_modules/jest': jest, 'node_modules/swc-darwin': darwin };

  it('is up to date after an install (optional packages of other platforms may be absent)', () => {
    expect(dependencyProblem(workspace(lock, { 'node_modules/nats': nats, 'node_modules/jest': jest }))).toBeNull();
  });

  it.each([
    ['nothing installed', null, /node_modules is missing/],
    ['a package missing', { 'node_modules/nats': nats }, /^jest 30.5.2 is not installed/],
    ['another version', { 'node_modules/nats': { ...nats, version: '2.28.0' }, 'node_modules/jest': jest }, /^nats is 2.28.0, package-lock.json wants 2.29.2/],
    ['another tarball', { 'node_modules/nats': { ...nats, integrity: 'sha512-z' }, 'node_modules/jest': jest }, /^nats is 2.29.2, package-lock.json wants 2.29.2/],
    ['a package not in the lock', { 'node_modules/nats': nats, 'node_modules/jest': jest, 'node_modules/left-pad': nats }, /^left-pad is installed but not in package-lock.json/],
  ])('needs an install: %s', (_what, installed, problem) => {
    expect(dependencyProblem(workspace(lock, installed))).toMatch(problem);
  });

  it('needs an install when a recorded package is gone from disk, or npm left no record', () => {
    expect(dependencyProblem(workspace(lock, { 'node_modules/nats': nats, 'node_modules/jest': jest }, ['node_modules/nats']))).toMatch(/^jest is recorded as installed but missing on disk/);
    const root = workspace(lock, null);
    mkdirSync(join(root, 'node_modules'));
    expect(dependencyProblem(root)).toMatch(/no record of an npm install/);
  });
});
