import { builtinModules } from 'node:module';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { transformSync } from '@swc/core';

/**
 * The production build: compiles the `wgmesh` command and everything it imports (apps and libs,
 * the lab among them) from TypeScript to CommonJS with swc, one file per source file, into dist/ with
 * the same layout (dist/apps/…, dist/libs/…), so paths computed from __dirname still hold.
 * `@wgmesh/<name>` imports are rewritten to relative paths from tsconfig.base.json's mapping.
 * Only files reachable from the entry are built, and every package they require must be a
 * `dependencies` entry of package.json (or a Node builtin): what `npm ci --omit=dev` installs.
 */
export interface BuildOptions {
  /** Workspace root (holds package.json, .swcrc, tsconfig.base.json). */
  root: string;
  /** Output directory, emptied first [default: <root>/dist]. */
  outDir?: string;
  /** Entry files relative to root [default: apps/cli/src/main.ts]. */
  entries?: string[];
}

export interface BuildResult {
  outDir: string;
  /** Built source files, relative to root. */
  sources: string[];
  /** Packages the built code requires (package names, not subpaths). */
  packages: string[];
  /** The launcher: node <outDir>/bin/wgmesh.js … */
  bin: string;
}

export class BuildError extends Error {
  override readonly name = 'BuildError';
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
/** Required by the launcher before anything else, as bin/register.js does for the sources (NestJS). */
const LAUNCHER_PACKAGE = 'reflect-metadata';
/** Files the commands read or run by path at run time (`wgmesh demo`, `wgmesh lab`; the mesh map's page). */
const RUNTIME_FILES = ['tools/dev/ensure-packages.sh', 'tools/dev/ensure-services.sh', 'libs/mesh-map/web/index.html', 'libs/mesh-map/web/map.js', 'libs/mesh-map/web/map.css'];

export function build(opts: BuildOptions): BuildResult {
  const root = resolve(opts.root);
  const outDir = resolve(opts.outDir ?? join(root, 'dist'));
  const entries = opts.entries ?? ['apps/cli/src/main.ts'];
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const swcrc = JSON.parse(readFileSync(join(root, '.swcrc'), 'utf8'));
  delete swcrc.$schema;
  const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } };

  if (`${root}/`.startsWith(`${outDir}/`)) throw new BuildError(`refusing to empty ${outDir}: it holds the workspace`);
  rmSync(outDir, { recursive: true, force: true });
  const queue = entries.map((e) => resolve(root, e));
  const seen = new Set<string>();
  const packages = new Map<string, string>(); // package → first file requiring it
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(root, file);
    if (rel.startsWith('..')) throw new BuildError(`${rel}: outside the workspace`);
    let code: string;
    let map: string | undefined;
    try {
      ({ code, map } = transformSync(readFileSync(file, 'utf8'), {
        ...swcrc,
        filename: file,
        swcrc: false,
        configFile: false,
        sourceMaps: true,
        jsc: { ...swcrc.jsc, baseUrl: root, paths: tsconfig.compilerOptions.paths },
      }));
    } catch (err) {
      throw new BuildError(`${rel}: ${(err as Error).message}`);
    }
    const out = join(outDir, rel.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${code}\n//# sourceMappingURL=${out.split('/').pop()}.map\n`);
    if (map) writeFileSync(`${out}.map`, map);
    for (const spec of requiredSpecifiers(code)) {
      if (spec.startsWith('.')) queue.push(resolveSource(dirname(file), spec, rel));
      else if (spec.startsWith('@wgmesh/')) throw new BuildError(`${rel}: "${spec}" is not in tsconfig.base.json's paths`);
      else if (!BUILTINS.has(spec)) {
        const name = packageName(spec);
        if (!packages.has(name)) packages.set(name, rel);
      }
    }
  }

  packages.set(LAUNCHER_PACKAGE, 'bin/wgmesh.js');
  const missing = [...packages].filter(([name]) => !pkg.dependencies?.[name]);
  if (missing.length > 0) {
    throw new BuildError(
      `the built code requires packages that are not production dependencies in package.json: ${missing.map(([n, f]) => `${n} (from ${f})`).join(', ')}`,
    );
  }
  for (const f of RUNTIME_FILES) {
    if (!existsSync(join(root, f))) continue;
    mkdirSync(dirname(join(outDir, f)), { recursive: true });
    copyFileSync(join(root, f), join(outDir, f));
    chmodSync(join(outDir, f), statSync(join(root, f)).mode);
  }
  const bin = join(outDir, 'bin', 'wgmesh.js');
  mkdirSync(dirname(bin), { recursive: true });
  const main = relative(dirname(bin), join(outDir, entries[0].replace(/\.ts$/, '.js')));
  writeFileSync(bin, `#!/usr/bin/env node\n'use strict';\n// Built by tools/build (npm run build): the wgmesh command from dist/.\nrequire('${LAUNCHER_PACKAGE}');\nrequire('${main}');\n`, { mode: 0o755 });
  return { outDir, sources: [...seen].map((f) => relative(root, f)).sort(), packages: [...packages.keys()].sort(), bin };
}

/** The string arguments of `require("…")` calls in swc's CommonJS output. */
export function requiredSpecifiers(code: string): string[] {
  return [...code.matchAll(/(?<![.\w$])require\("([^"]+)"\)/g)].map((m) => m[1]);
}

/** "@scope/name/sub" → "@scope/name", "name/sub" → "name". */
export function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function resolveSource(dir: string, spec: string, from: string): string {
  const base = resolve(dir, spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  throw new BuildError(`${from}: cannot resolve "${spec}"`);
}

if (require.main === module) {
  const root = resolve(__dirname, '../../..');
  const started = Date.now();
  try {
    const result = build({ root, outDir: process.argv[2] ? resolve(process.argv[2]) : undefined });
    process.stdout.write(
      `built ${result.sources.length} files into ${relative(root, result.outDir) || '.'} in ${Date.now() - started} ms; run: node ${relative(root, result.bin)} --help\n`,
    );
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    process.stderr.write(`build: ${err.message}\n`);
    process.exit(1);
  }
}
