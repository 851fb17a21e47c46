import { readFileSync } from 'node:fs';
import { ConfigError, defineOptions, values } from '@wgmesh/config';
import { formatHttpListen, HttpListen, isLoopbackListen } from '@wgmesh/health';

/** The map's options (`wgmesh registry up`). */
export const mapOptions = defineOptions([
  {
    key: 'map',
    flag: 'map',
    env: 'WGMESH_MAP',
    value: '<on|off>',
    parse: values.bool,
    default: 'on',
    description: 'the mesh map: a live page of the registry, every member, every pair\'s path and why, and recent events, at http://<--http-listen>/map; off turns it off',
  },
  {
    key: 'mapTokenFile',
    flag: 'map-token-file',
    env: 'WGMESH_MAP_TOKEN_FILE',
    value: '<file>',
    parse: values.string,
    description: 'a file holding the bearer token the map asks for (at least 16 characters, e.g. openssl rand -hex 32); required when --http-listen is beyond loopback and the map is on',
  },
]);

export const MIN_TOKEN_LENGTH = 16;

export interface MapConfig {
  map: boolean;
  mapTokenFile?: string;
  httpListen: HttpListen;
}

/**
 * Whether the map is served and with what token: not without an HTTP endpoint; on loopback with
 * or without a token; beyond loopback only with one (a ConfigError naming the way out otherwise,
 * before anything starts).
 */
export function mapAccess(c: MapConfig): { serve: false } | { serve: true; token?: string } {
  if (!c.map || !c.httpListen) return { serve: false };
  const token = c.mapTokenFile === undefined ? undefined : readToken(c.mapTokenFile);
  if (token === undefined && !isLoopbackListen(c.httpListen)) {
    throw new ConfigError(
      `--http-listen ${formatHttpListen(c.httpListen)} is beyond loopback, and the mesh map there needs a bearer token: give --map-token-file <file> (WGMESH_MAP_TOKEN_FILE), or --map off`,
    );
  }
  return { serve: true, token };
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--map-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new ConfigError(`--map-token-file: ${file} must hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. openssl rand -hex 32 > ${file})`);
  }
  return token;
}
