'use strict';
// Runs the TypeScript sources directly: compiles each .ts file with swc on first require and maps
// the workspace's @wgmesh/<lib> imports to libs/<lib>/src/index.ts, @wgmesh/<lib>/testing to
// libs/<lib>/src/testing and @wgmesh/app/<app> to apps/<app>/src/index.ts (the same mapping as
// tsconfig.base.json). Used by bin/wgmesh.js and the tools, so `npx wgmesh` needs no build step.
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const swc = require('@swc/core');

const root = path.resolve(__dirname, '..');
const swcrc = JSON.parse(fs.readFileSync(path.join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;

const originalResolve = Module._resolveFilename;

Module._resolveFilename = function resolveWorkspace(request, parent, ...rest) {
  if (request.startsWith('@wgmesh/')) {
    const name = request.slice('@wgmesh/'.length);
    let m;
    if ((m = /^app\/([a-z0-9-]+)$/.exec(name))) request = path.join(root, 'apps', m[1], 'src', 'index.ts');
    else if ((m = /^([a-z0-9-]+)\/testing$/.exec(name))) request = path.join(root, 'libs', m[1], 'src', 'testing');
    else if (/^[a-z0-9-]+$/.test(name)) request = path.join(root, 'libs', name, 'src', 'index.ts');
  }
  return originalResolve.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = swc.transformSync(source, { ...swcrc, filename, swcrc: false, configFile: false });
  module._compile(code, filename);
};
require('reflect-metadata');
