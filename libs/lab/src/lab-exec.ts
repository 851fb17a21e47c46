import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { AUTH_DIR, FILES } from '@wgmesh/nats-auth';
import { LabError, LabSpecError } from './errors';
import { toolEnv } from './exec';
import type { LabStatus } from './lab';

/**
 * `wgmesh lab exec`: a wgmesh command inside a lab host's namespace, as that host's own tools
 * would run it. The environment carries what the host's processes use, read from the mesh's
 * directory (so it works for a detached lab, from another shell):
 * - on the registry: its state directory (NATS authority, registry.creds), the mesh name, the NATS
 *   and Redis of the registry namespace, and the Redis ACL user's password (in the URL, in the
 *   environment only: never on a command line);
 * - on a member: its state directory (key, enrollment.json with the mesh and the registry's
 *   tunnel address, nats.creds): the client commands take everything else from there.
 * Flags given to the command still win over these variables.
 */

/** The registry namespace's NATS and Redis, as the lab's mesh runs them. */
export const LAB_SERVICES = { mesh: 'lab', nats: 'nats://127.0.0.1:4222', redisHost: '127.0.0.1:6379', redisUser: 'wgmesh-registry' } as const;

/** How wgmesh commands on the registry host reach the mesh: state directory, NATS (credential) and Redis (ACL user). */
export function registryClientEnv(meshDir: string, redisPassword: string, where: { stateDir?: string; nats?: string; redisHost?: string } = {}): NodeJS.ProcessEnv {
  const stateDir = where.stateDir ?? join(meshDir, 'registry');
  return {
    WGMESH_STATE_DIR: stateDir,
    WGMESH_MESH: LAB_SERVICES.mesh,
    WGMESH_NATS_URL: where.nats ?? LAB_SERVICES.nats,
    WGMESH_NATS_CREDS: join(stateDir, AUTH_DIR, FILES.registryCreds),
    WGMESH_REDIS_URL: `redis://${LAB_SERVICES.redisUser}:${redisPassword}@${where.redisHost ?? LAB_SERVICES.redisHost}`,
  };
}

/** The password of the registry's Redis ACL user, from the ACL file the lab wrote (<mesh>/redis/users.acl). */
export function readRedisPassword(meshDir: string): string {
  const path = join(meshDir, 'redis', 'users.acl');
  if (!existsSync(path)) throw new LabError(`the lab's Redis ACL file ${path} is missing: is its mesh running?`);
  const line = readFileSync(path, 'utf8').split('\n').find((l) => l.startsWith(`user ${LAB_SERVICES.redisUser} `));
  const password = line && /\s>(\S+)/.exec(line)?.[1];
  if (!password) throw new LabError(`${path} has no password for ${LAB_SERVICES.redisUser}`);
  return password;
}

/** The environment of a wgmesh command on `host` (the registry or a member) of the lab whose mesh lives in `meshDir`. */
export function hostEnv(meshDir: string, host: string): NodeJS.ProcessEnv {
  if (host === 'registry' || /^registry\d$/.test(host)) {
    // Several registries: NATS is a cluster and Redis is on the store host (mesh.json says where).
    const record = existsSync(join(meshDir, 'mesh.json')) ? (JSON.parse(readFileSync(join(meshDir, 'mesh.json'), 'utf8')) as { nats?: string; redis?: string }) : {};
    return registryClientEnv(meshDir, readRedisPassword(meshDir), { stateDir: join(meshDir, host), nats: record.nats, redisHost: record.redis });
  }
  return { WGMESH_STATE_DIR: join(meshDir, 'members', host) };
}

/** Which lab and host a `lab exec` means: `[<lab-id>] <host>`, the lab optional when only one runs. */
export function execTarget(positional: readonly string[], labs: readonly LabStatus[]): { lab: LabStatus; host: string } {
  if (positional.length === 0 || positional.length > 2) throw new LabSpecError('exec needs the host (and the lab id when more than one lab runs): wgmesh lab exec [<lab-id>] <registry|member> -- <wgmesh command…>');
  let lab: LabStatus | undefined;
  const host = positional.at(-1)!;
  if (positional.length === 2) {
    lab = labs.find((l) => l.id === positional[0]);
    if (!lab) throw new LabError(`no lab ${positional[0]}${labs.length ? ` (running: ${labs.map((l) => l.id).join(', ')})` : ' (none runs: wgmesh lab up)'}`);
  } else if (labs.length === 1) lab = labs[0];
  else if (labs.length === 0) throw new LabError('no lab runs (start one with "wgmesh lab up")');
  else throw new LabSpecError(`${labs.length} labs run (${labs.map((l) => l.id).join(', ')}): name one, wgmesh lab exec <lab-id> ${host} -- …`);
  const h = lab.hosts.find((x) => x.name === host);
  const choices = lab.hosts.filter((x) => x.role === 'registry' || x.role === 'member').map((x) => x.name);
  if (!h || (h.role !== 'registry' && h.role !== 'member')) throw new LabSpecError(`lab ${lab.id} has no host "${host}" that runs wgmesh: ${choices.join(', ')}`);
  if (!h.present) throw new LabError(`the namespace of ${host} (${h.ns}) is gone: lab ${lab.id} is broken, "wgmesh lab down ${lab.id}"`);
  return { lab, host };
}

/**
 * Runs `node bin/wgmesh.js <args>` in the host's namespace with its environment, the terminal
 * passed through; resolves with its exit status (128 + signal number when a signal ended it).
 */
export function execInHost(ns: string, wgmesh: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, wgmesh, ...args], { stdio: 'inherit', env: toolEnv(env) });
    // Ctrl-C reaches the command too (the same process group): this side waits for it to end.
    // A SIGTERM for this process alone is passed on.
    const ignore = () => undefined;
    const forward = () => child.kill('SIGTERM');
    process.on('SIGINT', ignore);
    process.on('SIGTERM', forward);
    const done = () => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
    };
    child.once('error', (err) => {
      done();
      reject(new LabError(`cannot run "ip netns exec ${ns} …": ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
