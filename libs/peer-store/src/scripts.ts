import type { Redis } from 'ioredis';

// The Lua scripts that keep "record changed" and "revision incremented" in one atomic step.
// Each returns {changed (0|1), revision}. Lua sees a missing key as `false`.

const UPSERT = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return {0, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, redis.call('INCR', KEYS[2])}
`;

const REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, tonumber(redis.call('GET', KEYS[2]) or '0')}
`;

type ScriptReply = [changed: number, revision: number];

export interface PeerScripts {
  upsert(peersKey: string, revisionKey: string, publicKey: string, json: string): Promise<ScriptReply>;
  remove(peersKey: string, revisionKey: string, publicKey: string): Promise<ScriptReply>;
}

interface ScriptedRedis {
  wgmeshPeerUpsert(peersKey: string, revisionKey: string, publicKey: string, json: string): Promise<ScriptReply>;
  wgmeshPeerRemove(peersKey: string, revisionKey: string, publicKey: string): Promise<ScriptReply>;
}

/**
 * Defines the scripts on the client (ioredis runs them with EVALSHA and loads them on NOSCRIPT).
 * The command names are namespaced, so sharing a client with other code is safe.
 */
export function definePeerScripts(redis: Redis): PeerScripts {
  redis.defineCommand('wgmeshPeerUpsert', { numberOfKeys: 2, lua: UPSERT });
  redis.defineCommand('wgmeshPeerRemove', { numberOfKeys: 2, lua: REMOVE });
  const scripted = redis as unknown as ScriptedRedis;
  return {
    upsert: (peersKey, revisionKey, publicKey, json) => scripted.wgmeshPeerUpsert(peersKey, revisionKey, publicKey, json),
    remove: (peersKey, revisionKey, publicKey) => scripted.wgmeshPeerRemove(peersKey, revisionKey, publicKey),
  };
}
