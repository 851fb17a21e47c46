import { redactUrl } from '@wgmesh/log';

/**
 * Why talking to Redis failed, told apart: nothing answered, or Redis answered and wants a
 * password (NOAUTH), refused the user or password (WRONGPASS), or does not let the user run a
 * command (NOPERM). The sentences name the server (password hidden) and the way out.
 */
export type RedisFailure = 'unreachable' | 'no-password' | 'wrong-password' | 'no-permission' | 'other';

const UNREACHABLE = /^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE)$/;

export function redisFailure(err: unknown): RedisFailure {
  const message = String((err as Error)?.message ?? '');
  const code = String((err as { code?: unknown })?.code ?? '');
  if (/^NOAUTH\b/.test(message)) return 'no-password';
  if (/^WRONGPASS\b/.test(message) || /^ERR invalid password/.test(message)) return 'wrong-password';
  if (/^NOPERM\b/.test(message)) return 'no-permission';
  if (UNREACHABLE.test(code) || /connect (ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH)/.test(message)) return 'unreachable';
  return 'other';
}

/** One sentence: what failed with the Redis at `url`, and what to do. */
export function explainRedisFailure(err: unknown, url: string): string {
  const where = redactUrl(url);
  const message = String((err as Error)?.message ?? err).split('\n')[0];
  switch (redisFailure(err)) {
    case 'unreachable':
      return `nothing answers at ${where} (${message}): is redis-server running there? Give --redis <url> (or WGMESH_REDIS_URL) for another server`;
    case 'no-password':
      return `Redis at ${where} wants a user and password (NOAUTH): give them in the URL, redis://<user>:<password>@host:port, with --redis or WGMESH_REDIS_URL (the registry's ACL user: deploy/security/redis-users.acl)`;
    case 'wrong-password':
      return `Redis at ${where} refused the user or password (WRONGPASS): check the user and password in --redis / WGMESH_REDIS_URL against the server's ACL`;
    case 'no-permission':
      return `Redis at ${where} does not let this user do that (${message}): use the registry's ACL user (deploy/security/redis-users.acl)`;
    default:
      return `Redis at ${where} failed: ${message}`;
  }
}
