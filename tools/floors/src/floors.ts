import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/**
 * The dependency rule over the workspace's import graph. Every project (a directory with a
 * project.json) carries a `floor:*` tag; a file may import only from its own floor or a lower
 * one, projects import one another without a cycle, and a project is reached only through its
 * public surface: `@wgmesh/<lib>`, `@wgmesh/app/<app>`, `@wgmesh/<lib>/testing` (test kits: for
 * tests, test libs and tools), never a relative path into another project (tools, which nothing
 * else imports, may use one another's files).
 *
 *   ground  pure codecs and types (contracts, netaddr, wireguard, stun, vpp-api, nats-auth)
 *   middle  the logic (dataplane, registry, peer-discovery, nat-probe, transports, …)
 *   test    test kits and the lab (testing, vpp-sim, vpp-live, lab)
 *   app     the services and the CLI (apps/*)
 *   tool    benchmarks, build, deploy checks, docs, fault tests (tools/*)
 *
 * Tests (`*.spec.ts`) and test kits (`testing.ts`, `testing/`) stand at least on the test floor:
 * a lib's spec may use the lab or a test kit, never an app. Cycles count production imports
 * only (a test importing its own project's dependants would otherwise be one).
 */
export const FLOORS = ['ground', 'middle', 'test', 'app', 'tool'] as const;
export type Floor = (typeof FLOORS)[number];

export interface Project {
  name: string;
  /** Workspace-relative directory, e.g. libs/dns-sd. */
  root: string;
  floor: Floor;
}

export interface Violation {
  kind: 'floor' | 'deep-import' | 'testing-kit' | 'unknown-import' | 'cycle' | 'no-floor';
  file: string;
  message: string;
}

/** Workspace-relative path → source text. */
export type Sources = ReadonlyMap<string, string>;

const rank = (f: Floor): number => FLOORS.indexOf(f);

export function isTestFile(file: string): boolean {
  return /\.spec\.ts$/.test(file) || /\/src\/testing(\.ts$|\/)/.test(file);
}

/** The module specifiers a TypeScript file imports, exports from or requires (type-only too). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  // Static imports start a line (an import inside a string, as in a fixture, does not count).
  const patterns = [/^\s*(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\b(?:require|import)\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

function owner(projects: readonly Project[], file: string): Project | undefined {
  let best: Project | undefined;
  for (const p of projects) if ((file === p.root || file.startsWith(`${p.root}/`)) && (!best || p.root.length > best.root.length)) best = p;
  return best;
}

interface Edge {
  from: Project;
  to: Project;
  file: string;
  specifier: string;
}

/** Checks the rule over the given sources; returns every violation (empty: the rule holds). */
export function checkFloors(projects: readonly Project[], sources: Sources): Violation[] {
  const violations: Violation[] = [];
  const byName = new Map(projects.map((p) => [p.root, p]));
  const production: Edge[] = [];
  for (const [file, text] of sources) {
    const from = owner(projects, file);
    if (!from) {
      violations.push({ kind: 'no-floor', file, message: `${file} is in no project with a floor:* tag` });
      continue;
    }
    const test = isTestFile(file);
    const floor = test ? Math.max(rank(from.floor), rank('test')) : rank(from.floor);
    for (const spec of importsOf(text)) {
      let to: Project | undefined;
      let kit = false;
      if (spec.startsWith('.')) {
        to = owner(projects, normalize(join(dirname(file), spec)));
        // Tools have no public surface (nothing but another tool imports one): between tools a
        // relative path is fine.
        if (to && to !== from && !(from.floor === 'tool' && to.floor === 'tool')) {
          violations.push({ kind: 'deep-import', file, message: `${file} reaches into ${to.root} by a relative path ('${spec}'); import its public surface` });
          continue;
        }
        if (!to) continue; // a file outside the projects (bin/register.js, package.json)
      } else if (spec.startsWith('@wgmesh/')) {
        const m = /^@wgmesh\/(?:app\/([a-z0-9-]+)|([a-z0-9-]+)(\/testing)?)$/.exec(spec);
        to = m ? (m[1] ? byName.get(`apps/${m[1]}`) : byName.get(`libs/${m[2]}`)) : undefined;
        kit = !!m?.[3];
        if (!to) {
          violations.push({ kind: 'unknown-import', file, message: `${file} imports '${spec}', which is no project's public surface` });
          continue;
        }
      } else continue; // node: and npm packages
      if (to === from) continue;
      if (kit && !test && rank(from.floor) < rank('test')) {
        violations.push({ kind: 'testing-kit', file, message: `${file} (production code of ${from.root}) imports the test kit '${spec}'` });
      }
      if (rank(to.floor) > floor) {
        violations.push({ kind: 'floor', file, message: `${file} (floor ${test ? `${from.floor}, a test` : from.floor}) imports ${to.root} (floor ${to.floor}): imports go down or level, never up` });
      }
      if (!test && !kit) production.push({ from, to, file, specifier: spec });
    }
  }
  for (const cycle of cycles(production)) violations.push({ kind: 'cycle', file: cycle.file, message: `import cycle: ${cycle.path.join(' → ')} (${cycle.file} imports '${cycle.specifier}')` });
  return violations;
}

/** Each cycle of the project graph once (the first edge found that closes it). */
function cycles(edges: readonly Edge[]): Array<{ path: string[]; file: string; specifier: string }> {
  const out = new Map<Project, Edge[]>();
  for (const e of edges) {
    const list = out.get(e.from) ?? [];
    if (!list.some((x) => x.to === e.to)) list.push(e);
    out.set(e.from, list);
  }
  const found: Array<{ path: string[]; file: string; specifier: string }> = [];
  const seen = new Set<string>();
  const state = new Map<Project, 'open' | 'done'>();
  const stack: Project[] = [];
  const visit = (p: Project): void => {
    state.set(p, 'open');
    stack.push(p);
    for (const e of out.get(p) ?? []) {
      if (state.get(e.to) === 'open') {
        const path = [...stack.slice(stack.indexOf(e.to)), e.to].map((x) => x.root);
        const key = [...path.slice(0, -1)].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          found.push({ path, file: e.file, specifier: e.specifier });
        }
      } else if (!state.has(e.to)) visit(e.to);
    }
    stack.pop();
    state.set(p, 'done');
  };
  for (const p of out.keys()) if (!state.has(p)) visit(p);
  return found;
}

/** The projects (project.json with a floor:* tag) and the .ts sources under apps/, libs/ and tools/. */
export function readWorkspace(root: string): { projects: Project[]; sources: Map<string, string>; untagged: string[] } {
  const projects: Project[] = [];
  const untagged: string[] = [];
  const sources = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(root, dir))) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const rel = `${dir}/${name}`;
      const st = statSync(join(root, rel));
      if (st.isDirectory()) walk(rel);
      else if (name === 'project.json') {
        const json = JSON.parse(readFileSync(join(root, rel), 'utf8')) as { name?: string; tags?: string[] };
        const tag = (json.tags ?? []).find((t) => t.startsWith('floor:'))?.slice('floor:'.length);
        if (tag && (FLOORS as readonly string[]).includes(tag)) projects.push({ name: json.name ?? dir, root: dir, floor: tag as Floor });
        else untagged.push(dir);
      } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) sources.set(rel, readFileSync(join(root, rel), 'utf8'));
    }
  };
  for (const top of ['apps', 'libs', 'tools']) if (existsSync(join(root, top))) walk(top);
  return { projects, sources, untagged: untagged.map((d) => relative(root, join(root, d))) };
}
