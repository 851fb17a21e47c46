import type { NatsConnection } from 'nats';

/**
 * Pushes a new JWT of an account to nats-server, as a user of the system account, on the
 * server's own subject (`$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE`). nats-server 2.9 takes it
 * with any resolver that is not itself tracking updates (MEMORY, as wgmesh configures it; the
 * nats-based `full` resolver the same way), checks it was signed by the trusted operator, applies
 * it at once, and closes every connection whose user JWT it now revokes. The MEMORY resolver
 * keeps it until nats-server restarts: push again after a reconnect (and keep auth.conf current).
 */
export class AccountUpdateError extends Error {
  override readonly name = 'AccountUpdateError';
}

export const claimsUpdateSubject = (account: string) => `$SYS.REQ.ACCOUNT.${account}.CLAIMS.UPDATE`;

export async function pushAccountJwt(systemConnection: NatsConnection, account: string, jwt: string, timeoutMs = 5000): Promise<void> {
  let reply;
  try {
    reply = await systemConnection.request(claimsUpdateSubject(account), new TextEncoder().encode(jwt), { timeout: timeoutMs });
  } catch (err) {
    throw new AccountUpdateError(`nats-server did not take the account update: ${(err as Error).message} (is the system account's credential right, and does the server trust this operator?)`);
  }
  const body = JSON.parse(reply.string()) as { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
  if (body.error || body.data?.code !== 200) {
    throw new AccountUpdateError(`nats-server refused the account update: ${body.error?.description ?? body.data?.message ?? reply.string().slice(0, 200)}`);
  }
}
