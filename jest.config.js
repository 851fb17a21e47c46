// One jest configuration for the whole workspace. Unit tests are `*.spec.ts` beside the code,
// integration tests (real NATS and Redis) are `*.int.spec.ts`, end-to-end tests `*.e2e.spec.ts`.
const fs = require('node:fs');
const swcrc = JSON.parse(fs.readFileSync(`${__dirname}/.swcrc`, 'utf8'));
delete swcrc.$schema;
swcrc.sourceMaps = true;

module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/tools'],
  testMatch: ['**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swcrc, swcrc: false }] },
  moduleNameMapper: {
    '^@wgmesh/app/([a-z0-9-]+)$': '<rootDir>/apps/$1/src/index.ts',
    '^@wgmesh/([a-z0-9-]+)/testing$': '<rootDir>/libs/$1/src/testing',
    '^@wgmesh/([a-z0-9-]+)$': '<rootDir>/libs/$1/src/index.ts',
  },
  setupFiles: ['reflect-metadata'],
  testTimeout: 30000,
};
