#!/usr/bin/env node
'use strict';
try {
  require('./register');
} catch (err) {
  // No dependency installed yet (a fresh clone): say so, rather than a stack trace.
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  const root = require('node:path').resolve(__dirname, '..');
  process.stderr.write(`wgmesh: a dependency is missing (${err.message.split('\n')[0]}): run "npm ci" in ${root} (npm start and npm test install them by themselves)\n`);
  process.exit(1);
}
require('../apps/cli/src/main.ts');
