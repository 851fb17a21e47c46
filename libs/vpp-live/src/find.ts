import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findExecutable, isExecutable } from '@wgmesh/executables';

/**
 * An installed VPP, found the way a user's install is found: the binary from an option,
 * WGMESH_VPP_BIN or `vpp` on PATH; the API definitions (*.api.json) from an option,
 * WGMESH_VPP_API_DIR, or the install prefix of the binary (`<prefix>/share/vpp/api`, where a
 * source build's `make install` and the Debian/RPM packages put them: /opt/vpp/share/vpp/api,
 * /usr/share/vpp/api).
 */
export interface VppInstall {
  /** The vpp binary as given or found (a symlink is kept: VPP finds its plugins through /proc/self/exe). */
  bin: string;
  /** The directory holding core/ and plugins/ *.api.json files. */
  apiDir: string;
  /** The install prefix (the binary's real path, two levels up). */
  prefix: string;
}

export interface FindVppOptions {
  bin?: string;
  apiDir?: string;
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** No usable VPP here: the message says what was looked for and how to point at one. */
export class VppNotFoundError extends Error {
  override readonly name = 'VppNotFoundError';
}

/** Plugins every live VPP of ours loads (and so needs): the WireGuard dataplane and af_packet host interfaces. */
export const REQUIRED_PLUGINS = ['wireguard', 'af_packet'] as const;

/** Finds VPP or throws VppNotFoundError naming what is missing and the variables that point at it. */
export function findVpp(opts: FindVppOptions = {}): VppInstall {
  const env = opts.env ?? process.env;
  const given = opts.bin ?? env.WGMESH_VPP_BIN;
  const bin = given ?? (findExecutable('vpp', [], env.PATH ?? '') ?? undefined);
  if (!bin) throw new VppNotFoundError('no VPP installed: `vpp` is not on PATH (set WGMESH_VPP_BIN to the vpp binary and WGMESH_VPP_API_DIR to its .api.json directory)');
  if (!isExecutable(bin)) throw new VppNotFoundError(`${bin} (${given ? 'WGMESH_VPP_BIN' : 'PATH'}) is not an executable file`);
  const prefix = dirname(dirname(realpathSync(bin)));
  const apiDir = opts.apiDir ?? env.WGMESH_VPP_API_DIR ?? [join(prefix, 'share/vpp/api'), '/usr/share/vpp/api'].find((d) => existsSync(join(d, 'core')));
  if (!apiDir || !existsSync(join(apiDir, 'core'))) {
    throw new VppNotFoundError(`VPP ${bin} has no API definitions at ${apiDir ?? join(prefix, 'share/vpp/api')} (set WGMESH_VPP_API_DIR to the directory with core/ and plugins/ *.api.json)`);
  }
  const plugins = existsSync(join(apiDir, 'plugins')) ? readdirSync(join(apiDir, 'plugins')) : [];
  const missing = REQUIRED_PLUGINS.filter((p) => !plugins.includes(`${p}.api.json`));
  if (missing.length > 0) throw new VppNotFoundError(`VPP ${bin} lacks the ${missing.join(' and ')} plugin${missing.length > 1 ? 's' : ''} (no ${missing.map((p) => `${p}.api.json`).join(', ')} in ${apiDir}/plugins)`);
  return { bin, apiDir, prefix };
}

/** The install, or why there is none (for tests and tools that skip without VPP). */
export function vppAvailability(opts: FindVppOptions = {}): { install: VppInstall; reason?: undefined } | { install?: undefined; reason: string } {
  try {
    return { install: findVpp(opts) };
  } catch (err) {
    if (err instanceof VppNotFoundError) return { reason: err.message };
    throw err;
  }
}

