import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findExecutable, isExecutable } from './index';

describe('findExecutable', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wgmesh-exec-'));
    writeFileSync(join(dir, 'tool'), '#!/bin/sh\n');
    chmodSync(join(dir, 'tool'), 0o755);
    writeFileSync(join(dir, 'plain'), '');
    chmodSync(join(dir, 'plain'), 0o644);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds an executable on the given PATH, then in the extra directories', () => {
    expect(findExecutable('tool', [], `/nonexistent${delimiter}${dir}`)).toBe(join(dir, 'tool'));
    expect(findExecutable('tool', [dir], '/nonexistent')).toBe(join(dir, 'tool'));
    expect(findExecutable('tool', [], '/nonexistent')).toBeNull();
  });

  it('skips files that may not be executed (as root too: no x bit at all)', () => {
    expect(isExecutable(join(dir, 'plain'))).toBe(false);
    expect(findExecutable('plain', [], dir)).toBeNull();
    expect(isExecutable(join(dir, 'tool', 'below'))).toBe(false); // ENOTDIR
  });

  it('finds the shell through the system directories by default', () => {
    expect(findExecutable('sh', undefined, '')).toMatch(/\/sh$/);
  });
});
