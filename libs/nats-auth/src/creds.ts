import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { decodeJwt, isPublicKey, keyFromSeed } from './jwt';

/**
 * NATS credentials files (`.creds`): a user JWT and the user's nkey seed, in the format nats.js
 * (`credsAuthenticator`), the nats CLI and the Go client read. The file holds a secret (the seed):
 * written 0600, refused when others can read it.
 */

export interface Credentials {
  jwt: string;
  /** The user's seed ("SU…"); absent for a bearer JWT. */
  seed?: string;
}

export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
}

export function formatCreds(creds: Credentials): string {
  const parts = [`-----BEGIN NATS USER JWT-----\n${creds.jwt}\n------END NATS USER JWT------\n`];
  if (creds.seed) {
    parts.push(
      '************************* IMPORTANT *************************',
      'NKEY Seed printed below can be used to sign and prove identity.',
      'NKEYs are sensitive and should be treated as secrets.\n',
      `-----BEGIN USER NKEY SEED-----\n${creds.seed}\n------END USER NKEY SEED------\n`,
      '*************************************************************\n',
    );
  }
  return parts.join('\n');
}

/** Parses a creds file's text; checks that the seed is the key the JWT was issued to. */
export function parseCreds(text: string): Credentials {
  const blocks = [...text.matchAll(/-{3,}BEGIN ([A-Z ]+)-{3,}\s*\n\s*(\S+)\s*\n\s*-{3,}END [A-Z ]+-{3,}/g)];
  const jwt = blocks.find((b) => b[1].includes('JWT'))?.[2];
  const seed = blocks.find((b) => b[1].includes('SEED'))?.[2];
  if (!jwt) throw new CredentialsError('no NATS user JWT block in the credentials');
  let claims;
  try {
    claims = decodeJwt(jwt);
  } catch (err) {
    throw new CredentialsError(`the credentials' JWT is malformed: ${(err as Error).message}`);
  }
  if (!isPublicKey(claims.sub, 'user')) throw new CredentialsError("the credentials' JWT is not issued to a NATS user key");
  if (seed === undefined) {
    if (claims.nats.bearer_token !== true) throw new CredentialsError('the credentials have no seed and the JWT is not a bearer token');
    return { jwt };
  }
  let publicKey: string;
  try {
    publicKey = keyFromSeed(seed, 'user').getPublicKey();
  } catch {
    throw new CredentialsError("the credentials' seed is not a NATS user seed");
  }
  if (publicKey !== claims.sub) throw new CredentialsError(`the credentials' seed is for ${publicKey}, but the JWT was issued to ${claims.sub}`);
  return { jwt, seed };
}

/** Reads and checks a creds file; refuses one that group or others may read (it holds a seed). */
export function readCreds(path: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CredentialsError(`cannot read NATS credentials ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const creds = parseCreds(text);
  if (creds.seed && (statSync(path).mode & 0o077) !== 0) throw new CredentialsError(`${path} holds a NATS seed but others may read it: chmod 600 ${path}`);
  return creds;
}

/** Writes a secret file atomically with mode 0600 (its directory 0700 when created). */
export function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function writeCreds(path: string, creds: Credentials): void {
  writeSecretFile(path, formatCreds(creds));
}

/** A seed file (one line): read, or created with a new user key, 0600. */
export function loadOrCreateUserSeed(path: string, create: () => string): { seed: string; created: boolean } {
  if (existsSync(path)) {
    if ((statSync(path).mode & 0o077) !== 0) throw new CredentialsError(`${path} holds a NATS seed but others may read it: chmod 600 ${path}`);
    const seed = readFileSync(path, 'utf8').trim();
    keyFromSeed(seed, 'user');
    return { seed, created: false };
  }
  const seed = create();
  writeSecretFile(path, `${seed}\n`);
  return { seed, created: true };
}
