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

// Writes a whole table back at a given revision, only when the stored revision is below it (the
// table was lost: Redis flushed, or restarted without persistence). KEYS: peers, revision.
// ARGV: revision, then key, json pairs.
const RESTORE = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local revision = tonumber(ARGV[1])
if current >= revision then
  return {0, current}
end
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[2], ARGV[1])
return {1, revision}
`;

type ScriptReply = [changed: number, revision: number];

export interface PeerScripts {
  upsert(peersKey: string, revisionKey: string, publicKey: string, json: string): Promise<ScriptReply>;
  remove(peersKey: string, revisionKey: string, publicKey: string): Promise<ScriptReply>;
  restore(peersKey: string, revisionKey: string, revision: number, entries: string[]): Promise<ScriptReply>;
}

interface ScriptedRedis {
  wgmeshPeerUpsert(peersKey: string, revisionKey: string, publicKey: string, json: string): Promise<ScriptReply>;
  wgmeshPeerRemove(peersKey: string, revisionKey: string, publicKey: string): Promise<ScriptReply>;
  wgmeshPeerRestore(peersKey: string, revisionKey: string, revision: number, ...entries: string[]): Promise<ScriptReply>;
}

/**
 * Defines the scripts on the client (ioredis runs them with EVALSHA and loads them on NOSCRIPT).
 * The command names are namespaced, so sharing a client with other code is safe.
 */
export function definePeerScripts(redis: Redis): PeerScripts {
  redis.defineCommand('wgmeshPeerUpsert', { numberOfKeys: 2, lua: UPSERT });
  redis.defineCommand('wgmeshPeerRemove', { numberOfKeys: 2, lua: REMOVE });
  redis.defineCommand('wgmeshPeerRestore', { numberOfKeys: 2, lua: RESTORE });
  const scripted = redis as unknown as ScriptedRedis;
  return {
    upsert: (peersKey, revisionKey, publicKey, json) => scripted.wgmeshPeerUpsert(peersKey, revisionKey, publicKey, json),
    remove: (peersKey, revisionKey, publicKey) => scripted.wgmeshPeerRemove(peersKey, revisionKey, publicKey),
    restore: (peersKey, revisionKey, revision, entries) => scripted.wgmeshPeerRestore(peersKey, revisionKey, revision, ...entries),
  };
}
