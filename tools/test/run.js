#!/usr/bin/env node
'use strict';
// `npm test`: installs the npm dependencies when node_modules is missing or out of date
// (tools/dev/ensure-deps.js: `npm ci`), installs missing Debian packages (as root), makes sure
// NATS and Redis are running (starting them when not), typechecks the whole
// workspace, runs every jest test once (unit, integration, end-to-end), and ends with one line
// "N passed, N failed, N skipped". Extra arguments go to jest (e.g. `npm test -- libs/dns-sd`).
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
if (!require('../dev/ensure-deps').ensureDependencies(root)) process.exit(1);
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env }).status;

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

const report = path.join(mkdtempSync(path.join(tmpdir(), 'wgmesh-test-')), 'jest.json');
const status = run(bin('jest'), ['--maxWorkers=2', '--json', `--outputFile=${report}`, ...extra]);
let summary;
try {
  summary = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  console.error('npm test: jest produced no report');
  process.exit(status || 1);
}
const skipped = summary.numPendingTests + summary.numTodoTests;
console.log(`\n${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skipped} skipped`);
if (summary.numTotalTests === 0) {
  console.error('npm test: no test ran');
  process.exit(1);
}
process.exit(status === 0 && summary.success ? 0 : 1);
