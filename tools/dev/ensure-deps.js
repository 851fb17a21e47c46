#!/usr/bin/env node
'use strict';
// Installs the npm dependencies (`npm ci`) when node_modules is missing or out of date with
// package-lock.json. Node built-ins only: `npm start` and `npm test` run it before anything
// imports a dependency. "Up to date" is what npm itself recorded: node_modules/.package-lock.json
// (written by every `npm ci` or `npm install`) lists the same version and integrity for every
// package of package-lock.json (optional ones may be absent: other platforms' binaries), nothing
// else, and each listed package is on disk. So a `npm ci` run before (by hand, or by .ci/run)
// is not repeated.
//
//   node tools/dev/ensure-deps.js           install when needed; exit 0 when the dependencies are in place
//   node tools/dev/ensure-deps.js --check   say what is wrong, install nothing (exit 1 when something is)
const { spawnSync } = require('node:child_process');
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');

/** Why node_modules does not match package-lock.json (a sentence), or null when it does. */
function dependencyProblem(root = ROOT) {
  const lockFile = path.join(root, 'package-lock.json');
  const installedFile = path.join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(path.join(root, 'node_modules'))) return 'node_modules is missing';
  if (!existsSync(installedFile)) return 'node_modules has no record of an npm install (node_modules/.package-lock.json)';
  let lock;
  let installed;
  try {
    lock = JSON.parse(readFileSync(lockFile, 'utf8')).packages;
    installed = JSON.parse(readFileSync(installedFile, 'utf8')).packages;
  } catch (err) {
    return `cannot read the lock files: ${err.message}`;
  }
  if (!lock || !installed) return 'a lock file has no "packages" (lockfileVersion 2 or later is needed)';
  for (const [name, want] of Object.entries(lock)) {
    if (!name.startsWith('node_modules/')) continue;
    const have = installed[name];
    if (!have) {
      if (want.optional) continue; // another platform's binary, say
      return `${name.slice('node_modules/'.length)} ${want.version} is not installed`;
    }
    if (have.version !== want.version || (want.integrity && have.integrity !== want.integrity)) {
      return `${name.slice('node_modules/'.length)} is ${have.version}, package-lock.json wants ${want.version}`;
    }
  }
  for (const [name, have] of Object.entries(installed)) {
    if (!lock[name]) return `${name.slice('node_modules/'.length)} is installed but not in package-lock.json`;
    if (!have.link && !existsSync(path.join(root, name, 'package.json'))) return `${name.slice('node_modules/'.length)} is recorded as installed but missing on disk`;
  }
  return null;
}

/** Runs `npm ci` when the dependencies are not in place, saying why. True when they are in place. */
function ensureDependencies(root = ROOT, say = (line) => process.stderr.write(`${line}\n`)) {
  const problem = dependencyProblem(root);
  if (problem === null) return true;
  say(`wgmesh: installing the npm dependencies (npm ci): ${problem}`);
  // Under `npm start`/`npm test`, the npm that runs us; otherwise the one on PATH.
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const r = spawnSync(npm[0], [...npm[1], 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.error) {
    say(`wgmesh: could not run npm (${r.error.message}): install Node.js 20 with npm (Debian: apt-get install nodejs npm), then run "npm ci" in ${root}`);
    return false;
  }
  if (r.status !== 0) {
    say(`wgmesh: "npm ci" failed (exit ${r.status}, see above); fix that, then run "npm ci" in ${root}`);
    return false;
  }
  const after = dependencyProblem(root);
  if (after !== null) {
    say(`wgmesh: after "npm ci" the dependencies are still not in place: ${after}`);
    return false;
  }
  say('wgmesh: npm dependencies installed');
  return true;
}

module.exports = { dependencyProblem, ensureDependencies };

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const problem = dependencyProblem();
    process.stdout.write(problem === null ? 'npm dependencies: up to date\n' : `npm dependencies: ${problem}\n`);
    process.exit(problem === null ? 0 : 1);
  }
  process.exit(ensureDependencies() ? 0 : 1);
}
