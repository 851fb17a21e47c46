import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatOptionsHelp } from '@wgmesh/config';
import { dataplaneOptions } from '@wgmesh/app/dataplane-programmer';
import { peerDiscoveryOptions } from '@wgmesh/app/peer-discovery';
import { resolverOptions } from '@wgmesh/app/registry-resolver';
import { build, BuildError, packageName, requiredSpecifiers } from './build';

const ROOT = resolve(__dirname, '../../..');

describe('build: dist/ from the sources', () => {
  // Laid out as in the container image: <dir>/node_modules beside <dir>/dist.
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-build-'));
  const outDir = join(dir, 'dist');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const result = build({ root: ROOT, outDir });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (...args: string[]) => spawnSync(process.execPath, ['--enable-source-maps', result.bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, WGMESH_CONFIG: '' } });

  it('builds the CLI and what it imports, and nothing from outside (no tests, no TypeScript)', () => {
    expect(result.sources).toContain('apps/cli/src/main.ts');
    expect(result.sources).toContain('libs/config/src/index.ts');
    expect(result.sources).toContain('apps/registry-resolver/src/run.ts');
    expect(result.sources.filter((f) => f.endsWith('.spec.ts'))).toEqual([]);
    expect(existsSync(join(outDir, 'apps/cli/src/main.js'))).toBe(true);
    expect(existsSync(join(outDir, 'apps/cli/src/main.js.map'))).toBe(true);
    // @wgmesh/* imports became relative requires: no workspace alias is left in the output.
    expect(readFileSync(join(outDir, 'apps/registry-resolver/src/main.js'), 'utf8')).not.toMatch(/require\("@wgmesh\//);
  });

  it('carries the mesh map page beside its lib, where the map serves it from', () => {
    expect(result.sources).toContain('libs/mesh-map/src/http.ts');
    for (const f of ['index.html', 'map.js', 'map.css']) {
      expect(readFileSync(join(outDir, 'libs/mesh-map/web', f), 'utf8')).toBe(readFileSync(join(ROOT, 'libs/mesh-map/web', f), 'utf8'));
    }
  });

  it('needs only production dependencies', () => {
    const deps = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies);
    expect(result.packages.length).toBeGreaterThan(3);
    for (const p of result.packages) expect(deps).toContain(p);
    expect(result.packages).toEqual(expect.arrayContaining(['@nestjs/core', 'ioredis', 'nats', 'reflect-metadata']));
  });

  it('runs: wgmesh --help lists the commands', () => {
    const r = run('--help');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const command of ['registry', 'member', 'resolver', 'peer-discovery', 'dataplane']) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it.each([
    ['resolver', resolverOptions],
    ['peer-discovery', peerDiscoveryOptions],
    ['dataplane', dataplaneOptions],
  ])('runs: wgmesh %s --help prints the options of the sources', (command, options) => {
    const r = run(command, '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(formatOptionsHelp(options));
  });

  it('runs: a bad option exits 2 with the option named, as from the sources', () => {
    const r = run('resolver', '--zone', 'mesh.example.', '--listen', 'nowhere');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--listen/);
  });
});

describe('build: refusals', () => {
  const fixture = (files: Record<string, string>) => {
    const root = mkdtempSync(join(tmpdir(), 'wgmesh-build-fixture-'));
    const base = {
      '.swcrc': readFileSync(join(ROOT, '.swcrc'), 'utf8'),
      'tsconfig.base.json': JSON.stringify({ compilerOptions: { paths: { '@wgmesh/a': ['libs/a/src/index.ts'] } } }),
      'package.json': JSON.stringify({ dependencies: { 'reflect-metadata': '0.2.2', ioredis: '6.0.0' } }),
    };
    for (const [path, text] of Object.entries({ ...base, ...files })) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  };

  it('fails when the code requires a package that is only a devDependency (or not listed)', () => {
    const root = fixture({ 'apps/cli/src/main.ts': "import { a } from '@wgmesh/a';\nimport Redis from 'ioredis';\nconsole.log(a, Redis);\n", 'libs/a/src/index.ts': "import { parse } from 'yaml';\nexport const a = parse;\n" });
    expect(() => build({ root })).toThrow(new BuildError('the built code requires packages that are not production dependencies in package.json: yaml (from libs/a/src/index.ts)'));
    rmSync(root, { recursive: true, force: true });
  });

  it('fails on an import it cannot resolve, and on a workspace alias missing from the paths', () => {
    const root = fixture({ 'apps/cli/src/main.ts': "import { b } from './b';\nconsole.log(b);\n" });
    expect(() => build({ root })).toThrow(/apps\/cli\/src\/main.ts: cannot resolve ".\/b"/);
    const root2 = fixture({ 'apps/cli/src/main.ts': "import { c } from '@wgmesh/c';\nconsole.log(c);\n" });
    expect(() => build({ root: root2 })).toThrow(/"@wgmesh\/c" is not in tsconfig.base.json's paths/);
    for (const r of [root, root2]) rmSync(r, { recursive: true, force: true });
  });

  it('builds a small workspace: aliases become relative requires that run', () => {
    const root = fixture({ 'apps/cli/src/main.ts': "import { a } from '@wgmesh/a';\nprocess.stdout.write(a);\n", 'libs/a/src/index.ts': "export const a = 'from lib a';\n" });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    const r = build({ root });
    expect(r.sources).toEqual(['apps/cli/src/main.ts', 'libs/a/src/index.ts']);
    expect(readFileSync(join(root, 'dist/apps/cli/src/main.js'), 'utf8')).toContain('require("../../../libs/a/src")');
    expect(spawnSync(process.execPath, [r.bin], { encoding: 'utf8' }).stdout).toBe('from lib a');
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses an output directory that holds the workspace', () => {
    const root = fixture({ 'apps/cli/src/main.ts': '' });
    expect(() => build({ root, outDir: join(root, '..') })).toThrow(/refusing to empty/);
    rmSync(root, { recursive: true, force: true });
  });

  it('reads requires and package names', () => {
    expect(requiredSpecifiers('const a = require("x/y");\ntable.require("not-this");\nconst b = _interop(require("./z"));')).toEqual(['x/y', './z']);
    expect(packageName('@nestjs/core/injector')).toBe('@nestjs/core');
    expect(packageName('ioredis/built/x')).toBe('ioredis');
  });
});
