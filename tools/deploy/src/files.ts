import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * The files the checks read, by path relative to the workspace root. Tests give changed copies
 * of some files (`overrides`: path → text, or null for a deleted file) to see a check fail.
 */
export interface Files {
  read(path: string): string;
  exists(path: string): boolean;
  isDirectory(path: string): boolean;
  /** Names in a directory (sorted). */
  list(path: string): string[];
}

export class FileError extends Error {
  override readonly name = 'FileError';
}

export function workspaceFiles(root: string, overrides: Record<string, string | null> = {}): Files {
  const key = (path: string) => posix.normalize(path).replace(/^\.\//, '');
  const over = new Map(Object.entries(overrides).map(([p, t]) => [key(p), t]));
  return {
    read(path) {
      const k = key(path);
      if (over.has(k)) {
        const text = over.get(k);
        if (text === null || text === undefined) throw new FileError(`${k}: no such file`);
        return text;
      }
      try {
        return readFileSync(join(root, k), 'utf8');
      } catch (err) {
        throw new FileError(`${k}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      }
    },
    exists(path) {
      const k = key(path);
      if (over.has(k)) return over.get(k) !== null;
      return existsSync(join(root, k));
    },
    isDirectory(path) {
      const k = key(path);
      if (over.has(k)) return false;
      try {
        return statSync(join(root, k)).isDirectory();
      } catch {
        return false;
      }
    },
    list(path) {
      try {
        return readdirSync(join(root, key(path))).sort();
      } catch {
        return [];
      }
    },
  };
}
