/**
 * Why a connection to NATS failed, told apart: nothing answered there, or NATS answered and
 * refused the credential (none given, a wrong one, an expired one). The sentences name the
 * server, the credential file and the way out; the CLI prints them as they are.
 */
export type NatsConnectFailure = 'unreachable' | 'no-credential' | 'credential-refused' | 'credential-expired' | 'other';

/** nats.js error codes (and socket errors) of a server that could not be reached at all. */
const UNREACHABLE = /^(CONNECTION_REFUSED|CONNECTION_TIMEOUT|TIMEOUT|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)$/;

export function natsConnectFailure(err: unknown, creds?: string): NatsConnectFailure {
  const code = String((err as { code?: unknown })?.code ?? '');
  const message = String((err as Error)?.message ?? '');
  if (code === 'AUTHENTICATION_EXPIRED' || /Authentication Expired/i.test(message)) return 'credential-expired';
  if (code === 'AUTHORIZATION_VIOLATION' || code === 'AUTHENTICATION_TIMEOUT' || /Authorization Violation/i.test(message)) return creds ? 'credential-refused' : 'no-credential';
  if (UNREACHABLE.test(code)) return 'unreachable';
  return 'other';
}

/** One sentence: what failed connecting to `servers` (with `creds`, if one was used), and what to do. */
export function explainNatsConnectFailure(err: unknown, o: { servers: string; creds?: string }): string {
  const detail = String((err as { code?: unknown })?.code ?? (err as Error)?.message ?? err);
  switch (natsConnectFailure(err, o.creds)) {
    case 'unreachable':
      return `nothing answers at ${o.servers} (${detail}): is nats-server running there and reachable from here? Give --nats <url> for another server`;
    case 'no-credential':
      return `NATS at ${o.servers} wants a credential and none was given (Authorization Violation): give --nats-creds <file> (a member's is <state-dir>/nats.creds, the registry's <state-dir>/nats/registry.creds), or --state-dir of the node whose credential to use`;
    case 'credential-refused':
      return `NATS at ${o.servers} refused the credential ${o.creds} (Authorization Violation): it is not valid there (another mesh's, a member's used from another address, or one revoked by "member remove"); give the right one with --nats-creds <file> or --state-dir`;
    case 'credential-expired':
      return `NATS at ${o.servers} refused the credential ${o.creds ?? '(none)'}: it has expired (Authentication Expired); get a new one (a member: enrol again with a new token)`;
    default:
      return `cannot connect to NATS at ${o.servers}: ${(err as Error)?.message ?? String(err)}`;
  }
}
