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

/**
 * `credentialOptions` of a creds file (checked: format, seed matches the JWT, mode 0600). The
 * file is read again at every (re)connection, so a renewed credential written there is used by
 * the next connection without a restart (a member's credential expires: the server then closes
 * the connection and the client reconnects with the new one). The user key, and so the inbox
 * prefix, must stay the same.
 */
export function credsFileOptions(path: string): Partial<ConnectionOptions> {
  const first = readCreds(path);
  const user = decodeJwt(first.jwt).sub;
  let last = first;
  const current = (): Credentials => {
    try {
      const now = readCreds(path);
      if (decodeJwt(now.jwt).sub === user) last = now;
    } catch {
      // Being rewritten, or gone: the last good one is all there is (the server says if it expired).
    }
    return last;
  };
  return {
    authenticator: (nonce?: string) => {
      const creds = current();
      return (creds.seed ? credsAuthenticator(new TextEncoder().encode(formatCreds(creds))) : jwtAuthenticator(creds.jwt))(nonce);
    },
    inboxPrefix: inboxPrefix(user),
  };
}
