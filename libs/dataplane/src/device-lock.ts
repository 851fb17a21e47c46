import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, Server } from 'node:net';
import { join } from 'node:path';
import type { DriverKind } from '@wgmesh/contracts';

/**
 * One dataplane service per device: two would undo each other's changes (each thinks it owns the
 * device). The lock is a unix socket named after the device, listened on by the service that owns
 * it; it goes with the process (a crashed owner's socket refuses connections and is taken over),
 * and a second service learns who holds it by connecting.
 *
 * The device is its kind plus what names it on the machine: uapi — the device name (UAPI sockets
 * are machine-wide); wg — the network namespace and name; vpp — VPP's API socket and the
 * interface name.
 */
export interface DeviceIdentity {
  kind: DriverKind;
  device: string;
  netns?: string;
  vppSocket?: string;
}

export interface DeviceHolder {
  pid: number;
  node?: string;
  since: string;
}

export class DeviceInUseError extends Error {
  override readonly name = 'DeviceInUseError';
  constructor(
    readonly device: string,
    readonly holder: DeviceHolder | null,
  ) {
    const who = holder ? `process ${holder.pid}${holder.node ? ` (node ${holder.node})` : ''}, since ${holder.since}` : 'another process';
    super(`device ${device} is already served by another dataplane service (${who}); stop that one first: two services on one device undo each other's changes`);
  }
}

export interface DeviceLock {
  readonly path: string;
  release(): Promise<void>;
}

/** What the lock is named after (stable across processes for the same device). */
export function deviceLockKey(id: DeviceIdentity): string {
  switch (id.kind) {
    case 'uapi':
      return `uapi ${id.device}`;
    case 'wg':
      return `wg ${netnsId(id.netns)} ${id.device}`;
    case 'vpp':
      return `vpp ${resolved(id.vppSocket ?? '/run/vpp/api.sock')} ${id.device}`;
  }
}

/** Takes the device's lock in `dir` or throws DeviceInUseError naming the holder. */
export async function lockDevice(id: DeviceIdentity, dir: string, holder: Omit<DeviceHolder, 'since'>): Promise<DeviceLock> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, `dataplane-${createHash('sha256').update(deviceLockKey(id)).digest('hex').slice(0, 20)}.lock`);
  const info = JSON.stringify({ ...holder, since: new Date().toISOString() });
  const server = createServer((c) => c.end(info));
  server.unref();
  for (let attempt = 0; ; attempt++) {
    try {
      await listen(server, path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 0) throw err;
      const current = await ask(path);
      if (current !== 'stale') throw new DeviceInUseError(id.device, current);
      unlinkSync(path); // its owner is gone
    }
  }
  return {
    path,
    release: () => close(server, path),
  };
}

/**
 * Removes the locks in `dir` that nobody holds any more (their service was killed before it could
 * release them: a later service would take them over anyway). Returns the paths removed.
 */
export async function removeStaleLocks(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!/^dataplane-[0-9a-f]{20}\.lock$/.test(f)) continue;
    const path = join(dir, f);
    if ((await ask(path)) !== 'stale') continue;
    try {
      unlinkSync(path);
      removed.push(path);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function close(server: Server, path: string): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    unlinkSync(path);
  } catch {
    // already gone (close() removes it on most systems)
  }
}

/** The holder's answer, or 'stale' when nobody listens on the socket any more. */
function ask(path: string): Promise<DeviceHolder | null | 'stale'> {
  return new Promise((resolve) => {
    const c = createConnection({ path });
    let data = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve(null);
    }, 2000);
    c.on('data', (d) => (data += d.toString()));
    c.on('end', () => {
      clearTimeout(timer);
      try {
        const h = JSON.parse(data) as DeviceHolder;
        resolve(typeof h.pid === 'number' ? h : null);
      } catch {
        resolve(null);
      }
    });
    c.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'stale' : null);
    });
  });
}

function netnsId(netns: string | undefined): string {
  try {
    return `ino:${statSync(netns ? `/var/run/netns/${netns}` : '/proc/self/ns/net').ino}`;
  } catch {
    return `name:${netns ?? 'self'}`;
  }
}

function resolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
