import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createKey, CredentialsError, decodeJwt, keyFromSeed, loadOrCreateUserSeed, seedText, writeCreds } from '@wgmesh/nats-auth';

/**
 * A member's NATS identity, beside its WireGuard key in the state directory:
 * - `nats.nk`: the member's NATS user seed (0600), made before the first enrolment. Only its
 *   public key ("U…") is sent, in the enrolment request.
 * - `nats.creds`: the user JWT the registry issued at enrolment with that seed (0600): what the
 *   member's services connect with (`--nats-creds`, by default this file when it exists).
 */
export const NATS_SEED_FILE = 'nats.nk';
export const NATS_CREDS_FILE = 'nats.creds';

/** The member's NATS user public key (the seed is created, 0600, when missing). */
export function natsUserKey(stateDir: string): { publicKey: string; created: boolean } {
  const { seed, created } = loadOrCreateUserSeed(join(stateDir, NATS_SEED_FILE), () => seedText(createKey('user')));
  return { publicKey: keyFromSeed(seed, 'user').getPublicKey(), created };
}

/** Writes `nats.creds` from the JWT of the enrolment reply; the JWT must be issued to our key. */
export function writeMemberCreds(stateDir: string, jwt: string): string {
  const { seed } = loadOrCreateUserSeed(join(stateDir, NATS_SEED_FILE), () => {
    throw new CredentialsError(`${join(stateDir, NATS_SEED_FILE)} is missing: the NATS seed the registry issued the JWT for is gone; remove enrollment.json to enrol again`);
  });
  const kp = keyFromSeed(seed, 'user');
  const sub = decodeJwt(jwt).sub;
  if (sub !== kp.getPublicKey()) throw new CredentialsError(`the registry issued the NATS credential to ${sub}, not to this node's key ${kp.getPublicKey()}`);
  const path = join(stateDir, NATS_CREDS_FILE);
  writeCreds(path, { jwt, seed });
  return path;
}

/** `<state-dir>/nats.creds` when it exists (the member's default `--nats-creds`). */
export function memberCredsPath(stateDir: string): string | undefined {
  const path = join(stateDir, NATS_CREDS_FILE);
  return existsSync(path) ? path : undefined;
}
