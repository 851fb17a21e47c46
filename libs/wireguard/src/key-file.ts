import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generatePrivateKey, KeyError, keyFromBase64, keyToBase64 } from './keys';
import { SecretKey } from './secret';

export interface KeyFile {
  key: SecretKey;
  /** True when the file did not exist and a new key was written. */
  created: boolean;
  /** True when group or others may read the file (as `wg` warns). */
  readableByOthers: boolean;
}

/**
 * Reads a private key file (base64, as `wg genkey` writes it), or creates it with a new key,
 * mode 0600, when it does not exist. Never overwrites an existing file.
 */
export function loadOrCreatePrivateKey(path: string): KeyFile {
  let created = false;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // "wx": fails if the file exists, so two starting processes cannot both write a key.
    writeFileSync(path, `${keyToBase64(generatePrivateKey())}\n`, { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyError(`cannot create private key file ${path}: ${(err as Error).message}`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read private key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let bytes: Buffer;
  try {
    bytes = keyFromBase64(text.trim());
  } catch {
    throw new KeyError(`private key file ${path} does not hold a base64 WireGuard key (as wg genkey writes)`);
  }
  const readableByOthers = (statSync(path).mode & 0o077) !== 0;
  return { key: new SecretKey(bytes), created, readableByOthers };
}

/** Writes a private key file (base64, mode 0600) that does not exist yet; an existing file is never overwritten. */
export function savePrivateKey(path: string, key: SecretKey): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${keyToBase64(key.reveal())}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    throw new KeyError(`cannot write private key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
