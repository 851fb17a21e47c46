import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The sbin and bin directories a non-login (root) shell may lack on PATH; Debian puts nats-server in /usr/sbin. */
export const SYSTEM_DIRS: readonly string[] = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/**
 * The path of an executable file `name`, searched in `path` (PATH by default) and then in
 * `extraDirs` (the system directories by default), or null. The one PATH lookup of the workspace.
 */
export function findExecutable(name: string, extraDirs: readonly string[] = SYSTEM_DIRS, path: string = process.env.PATH ?? ''): string | null {
  for (const dir of [...path.split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    const file = join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

/** Whether `file` is there and may be executed; unexpected errors (not ENOENT, EACCES, ENOTDIR) are thrown. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch (err) {
    if (['ENOENT', 'EACCES', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw err;
  }
}
