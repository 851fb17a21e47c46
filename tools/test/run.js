#!/usr/bin/env node
'use strict';
// `npm test`: installs the npm dependencies when node_modules is missing or out of date
// (tools/dev/ensure-deps.js: `npm ci`), installs missing Debian packages (as root), makes sure
// NATS and Redis are running (starting them when not), typechecks the whole workspace, runs
// every jest test once (unit, integration, end-to-end), and ends with the skipped suites (one
// line each, with the reason) and one line "N passed, N failed, N skipped". Extra arguments go
// to jest (e.g. `npm test -- libs/dns-sd`).
//
// The tests run with TMPDIR set to a directory of this run's own: whatever a test leaves in its
// temporary directory is listed at the end and fails the run (tests remove what they create,
// keys first), and the directory is removed either way, so /tmp keeps nothing of the run (but
// jest's cache and /tmp/wgmesh-services, the services' state).
const { spawnSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
if (!require('../dev/ensure-deps').ensureDependencies(root)) process.exit(1);

const { skippedSuiteLines } = require('./summary');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const run = (cmd, args, env = process.env) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env }).status;

if (run('bash', [path.join(root, 'tools/dev/ensure-packages.sh')]) !== 0) {
  console.error('npm test: system packages are missing (see above).');
  process.exit(1);
}
if (run('bash', [path.join(root, 'tools/dev/ensure-services.sh')]) !== 0) {
  console.error('npm test: NATS and Redis are needed for the integration tests (see above).');
  process.exit(1);
}

const extra = process.argv.slice(2);
if (extra.length === 0) {
  console.log('typecheck: tsc --noEmit');
  if (run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']) !== 0) {
    console.error('npm test: the typecheck failed.');
    process.exit(1);
  }
}

const scratch = mkdtempSync(path.join(tmpdir(), 'wgmesh-test-'));
const testTmp = path.join(scratch, 'tmp');
mkdirSync(testTmp);
const report = path.join(scratch, 'jest.json');
// Ctrl-C reaches jest too (same process group): this process then cleans up and says so.
let interrupted = null;
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (interrupted = sig));
// jest's cache stays where it is by default (it would follow TMPDIR otherwise).
const cacheDirectory = path.join(tmpdir(), `jest_${(process.getuid ? process.getuid() : 0).toString(36)}`);
const status = run(bin('jest'), ['--maxWorkers=2', `--cacheDirectory=${cacheDirectory}`, '--json', `--outputFile=${report}`, ...extra], { ...process.env, TMPDIR: testTmp });

let summary;
try {
  summary = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  summary = null;
}
const leftovers = readdirSync(testTmp).sort();
rmSync(scratch, { recursive: true, force: true });
if (interrupted) {
  console.error(`npm test: ${interrupted}; stopped`);
  process.exit(1);
}
if (!summary) {
  console.error('npm test: jest produced no report');
  process.exit(status || 1);
}

const skippedSuites = skippedSuiteLines(summary, root);
if (skippedSuites.length > 0) console.log(`\nskipped suites (${skippedSuites.length}):\n${skippedSuites.map((l) => `  ${l}`).join('\n')}`);
if (leftovers.length > 0) console.error(`\nnpm test: the tests left ${leftovers.length} entr${leftovers.length === 1 ? 'y' : 'ies'} in their temporary directory (removed now; a test must remove what it creates): ${leftovers.join(', ')}`);
const skipped = summary.numPendingTests + summary.numTodoTests;
console.log(`\n${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skipped} skipped`);
if (summary.numTotalTests === 0) {
  console.error('npm test: no test ran');
  process.exit(1);
}
process.exit(status === 0 && summary.success && leftovers.length === 0 ? 0 : 1);
