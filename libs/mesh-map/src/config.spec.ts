import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@wgmesh/config';
import { mapAccess } from './config';

describe('mapAccess', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-map-config-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    return join(dir, name);
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const loopback = { host: '127.0.0.1', port: 9470 };
  const anywhere = { host: '0.0.0.0', port: 9470 };

  it('serves on loopback without a token, and not at all when off or without an HTTP endpoint', () => {
    expect(mapAccess({ map: true, httpListen: loopback })).toEqual({ serve: true, token: undefined });
    expect(mapAccess({ map: true, httpListen: { host: '::1', port: 1 } })).toEqual({ serve: true, token: undefined });
    expect(mapAccess({ map: false, httpListen: anywhere })).toEqual({ serve: false });
    expect(mapAccess({ map: true, httpListen: null })).toEqual({ serve: false });
  });

  it('refuses beyond loopback without a token, naming the ways out', () => {
    expect(() => mapAccess({ map: true, httpListen: anywhere })).toThrow(ConfigError);
    expect(() => mapAccess({ map: true, httpListen: { host: '10.99.0.1', port: 9470 } })).toThrow(
      '--http-listen 10.99.0.1:9470 is beyond loopback, and the mesh map there needs a bearer token: give --map-token-file <file> (WGMESH_MAP_TOKEN_FILE), or --map off',
    );
  });

  it('reads the token from its file (trimmed), and refuses a short, spaced or missing one', () => {
    expect(mapAccess({ map: true, httpListen: anywhere, mapTokenFile: file('ok', '0123456789abcdef0123\n') })).toEqual({ serve: true, token: '0123456789abcdef0123' });
    expect(() => mapAccess({ map: true, httpListen: anywhere, mapTokenFile: file('short', 'abc\n') })).toThrow(/at least 16 characters/);
    expect(() => mapAccess({ map: true, httpListen: anywhere, mapTokenFile: file('spaced', '0123456789 abcdef0123') })).toThrow(/without spaces/);
    expect(() => mapAccess({ map: true, httpListen: anywhere, mapTokenFile: join(dir, 'none') })).toThrow(/cannot read .*none: ENOENT/);
  });
});
