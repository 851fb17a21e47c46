import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findVpp, VppNotFoundError } from './find';

// An install laid out as `make install` / the packages lay it out: <prefix>/bin/vpp, <prefix>/share/vpp/api.
describe('findVpp', () => {
  const root = mkdtempSync(join(tmpdir(), 'wgmesh-findvpp-'));
  const prefix = join(root, 'opt/vpp');
  const bin = join(prefix, 'bin/vpp');
  const api = join(prefix, 'share/vpp/api');
  beforeAll(() => {
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
    mkdirSync(join(api, 'core'), { recursive: true });
    mkdirSync(join(api, 'plugins'), { recursive: true });
    for (const p of ['wireguard', 'af_packet']) writeFileSync(join(api, 'plugins', `${p}.api.json`), '{}');
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    symlinkSync(bin, join(root, 'usr/local/bin/vpp'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('takes vpp from PATH and the API directory from its install prefix (through a symlink)', () => {
    expect(findVpp({ env: { PATH: `/nonexistent:${join(root, 'usr/local/bin')}` } })).toEqual({ bin: join(root, 'usr/local/bin/vpp'), apiDir: api, prefix });
  });

  it('takes WGMESH_VPP_BIN and WGMESH_VPP_API_DIR over PATH', () => {
    expect(findVpp({ env: { PATH: '', WGMESH_VPP_BIN: bin, WGMESH_VPP_API_DIR: api } })).toMatchObject({ bin, apiDir: api });
  });

  it('says what is missing and how to point at an install', () => {
    expect(() => findVpp({ env: { PATH: '/nonexistent' } })).toThrow(VppNotFoundError);
    expect(() => findVpp({ env: { PATH: '/nonexistent' } })).toThrow(/`vpp` is not on PATH \(set WGMESH_VPP_BIN .* WGMESH_VPP_API_DIR/);
    expect(() => findVpp({ env: { WGMESH_VPP_BIN: join(root, 'nothing') } })).toThrow(/is not an executable file/);
    expect(() => findVpp({ bin, apiDir: join(root, 'empty') })).toThrow(/has no API definitions at .*empty/);
    rmSync(join(api, 'plugins/af_packet.api.json'));
    try {
      expect(() => findVpp({ bin })).toThrow(/lacks the af_packet plugin/);
    } finally {
      writeFileSync(join(api, 'plugins/af_packet.api.json'), '{}');
    }
  });
});
