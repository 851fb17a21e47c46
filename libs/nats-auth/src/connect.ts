import { credsAuthenticator, jwtAuthenticator, type ConnectionOptions } from 'nats';
import { Credentials, formatCreds, readCreds } from './creds';
import { decodeJwt } from './jwt';
import { inboxPrefix } from './permissions';

/**
 * nats.js connection options for a credential: the JWT authenticator (the seed signs the
 * server's nonce; a bearer JWT goes alone) and the user's own inbox prefix, the only inbox its
 * permissions let it subscribe to.
 */
export function credentialOptions(creds: Credentials): Partial<ConnectionOptions> {
  const user = decodeJwt(creds.jwt).sub;
  const authenticator = creds.seed ? credsAuthenticator(new TextEncoder().encode(formatCreds(creds))) : jwtAuthenticator(creds.jwt);
  return { authenticator, inboxPrefix: inboxPrefix(user) };
}

/** `credentialOptions` of a creds file (checked: format, seed matches the JWT, mode 0600). */
export function credsFileOptions(path: string): Partial<ConnectionOptions> {
  return credentialOptions(readCreds(path));
}
