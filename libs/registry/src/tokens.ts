import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { registryKeys } from './keys';
import { ProofFields, tokenVerifyKey, verifyEnrollProof } from './token-proof';

/**
 * Pre-auth tokens for enrolment. The token text (`wgm_` + 32 random bytes, base64url) is shown
 * once, at creation; Redis holds only its SHA-256 with the token's id, name, expiry, reusable
 * flag and use count. A single-use token is consumed in one Lua script, so two enrolments racing
 * with the same token cannot both succeed.
 */
export const TOKEN_PREFIX = 'wgm_';
/** Expired and used-up tokens stay this long (to tell "expired" or "already used" from "unknown"), then go. */
export const TOKEN_RETENTION_MS = 7 * 24 * 3600 * 1000;
export const MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600;

export type TokenRefusal = 'unknown' | 'expired' | 'already_used' | 'invalid_proof';

/** What is known about a token; never the token itself. */
export interface TokenInfo {
  id: string;
  name?: string;
  reusable: boolean;
  /** Unix milliseconds. */
  createdAt: number;
  expiresAt: number;
  /** Successful enrolments with it. */
  uses: number;
}

export type ConsumeResult = { ok: true; token: TokenInfo } | { ok: false; reason: TokenRefusal };

export interface CreateTokenOptions {
  reusable: boolean;
  ttlSeconds: number;
  name?: string;
}

export interface TokenStoreOptions {
  /** Clock (unix ms); tests move it to expire tokens without waiting. */
  now?: () => number;
}

/** A malformed token option (ttl, name); the message names it. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

interface StoredToken extends TokenInfo {
  /** Public key of the single-use token's enrolment: the same key may retry (a lost reply). */
  usedBy?: string;
  /** Verification key of the token's enrolment proofs (token-proof.ts); absent in tokens made before proofs. */
  verifyKey?: string;
}

const CONSUME = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'unknown'} end
local t = cjson.decode(raw)
if tonumber(ARGV[2]) >= t.expiresAt then return {'expired'} end
if not t.reusable and t.uses > 0 and t.usedBy ~= ARGV[3] then return {'already_used'} end
t.uses = t.uses + 1
if ARGV[3] ~= '' and t.usedBy == nil and not t.reusable then t.usedBy = ARGV[3] end
raw = cjson.encode(t)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return {'ok', raw}
`;

// Gives a single-use token back after an enrolment that failed past the token check.
const UNCONSUME = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local t = cjson.decode(raw)
if t.reusable or t.uses == 0 or t.usedBy ~= ARGV[2] then return 0 end
t.uses = t.uses - 1
if t.uses == 0 then t.usedBy = nil end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(t))
return 1
`;

const PURGE = `
local all = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #all, 2 do
  local ok, t = pcall(cjson.decode, all[i + 1])
  if not ok or type(t) ~= 'table' or type(t.expiresAt) ~= 'number' or t.expiresAt + tonumber(ARGV[2]) < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], all[i])
    removed = removed + 1
  end
end
return removed
`;

interface ScriptedRedis {
  wgmeshTokenConsume(key: string, hash: string, now: string, publicKey: string): Promise<string[]>;
  wgmeshTokenUnconsume(key: string, hash: string, publicKey: string): Promise<number>;
  wgmeshTokenPurge(key: string, now: string, retention: string): Promise<number>;
}

export class TokenStore {
  private readonly key: string;
  private readonly now: () => number;
  private readonly scripted: ScriptedRedis;

  constructor(
    private readonly redis: Redis,
    mesh: string,
    options: TokenStoreOptions = {},
  ) {
    this.key = registryKeys(mesh).tokens;
    this.now = options.now ?? Date.now;
    redis.defineCommand('wgmeshTokenConsume', { numberOfKeys: 1, lua: CONSUME });
    redis.defineCommand('wgmeshTokenUnconsume', { numberOfKeys: 1, lua: UNCONSUME });
    redis.defineCommand('wgmeshTokenPurge', { numberOfKeys: 1, lua: PURGE });
    this.scripted = redis as unknown as ScriptedRedis;
  }

  /** Creates a token and returns its text: the only time it exists outside the caller's hands. */
  async create(opts: CreateTokenOptions): Promise<{ token: string; info: TokenInfo }> {
    if (!Number.isSafeInteger(opts.ttlSeconds) || opts.ttlSeconds < 1 || opts.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
      throw new TokenError(`token ttl must be 1 s to ${MAX_TOKEN_TTL_SECONDS / 86400} days, got ${opts.ttlSeconds} s`);
    }
    if (opts.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(opts.name)) {
      throw new TokenError('token name must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    await this.purge();
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = this.now();
    const info: TokenInfo = { id: randomBytes(6).toString('hex'), reusable: opts.reusable, createdAt: now, expiresAt: now + opts.ttlSeconds * 1000, uses: 0 };
    if (opts.name !== undefined) info.name = opts.name;
    const stored: StoredToken = { ...info, verifyKey: tokenVerifyKey(token) };
    await this.redis.hset(this.key, hashToken(token), JSON.stringify(stored));
    return { token, info };
  }

  /**
   * Checks a token and counts one use, atomically. A single-use token succeeds once; the same
   * `publicKey` may use it again (an enrolment retried after a lost reply), any other is refused.
   */
  async consume(token: string, publicKey = ''): Promise<ConsumeResult> {
    if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || token.length > 128) return { ok: false, reason: 'unknown' };
    return this.consumeHash(hashToken(token), publicKey);
  }

  /**
   * `consume` for a request that proves the token instead of sending it (token-proof.ts): the
   * token with SHA-256 `proof.id` must exist and `proof.sig` verify over the request's fields.
   */
  async consumeProof(proof: { id: string; sig: string }, fields: ProofFields): Promise<ConsumeResult> {
    if (!/^[0-9a-f]{64}$/.test(proof.id)) return { ok: false, reason: 'unknown' };
    const raw = await this.redis.hget(this.key, proof.id);
    if (raw === null) return { ok: false, reason: 'unknown' };
    const stored = JSON.parse(raw) as StoredToken;
    if (!stored.verifyKey || !verifyEnrollProof(stored.verifyKey, proof.sig, fields)) return { ok: false, reason: 'invalid_proof' };
    return this.consumeHash(proof.id, fields.publicKey);
  }

  private async consumeHash(hash: string, publicKey: string): Promise<ConsumeResult> {
    const [status, raw] = await this.scripted.wgmeshTokenConsume(this.key, hash, String(this.now()), publicKey);
    if (status === 'ok') return { ok: true, token: publicInfo(JSON.parse(raw) as StoredToken) };
    return { ok: false, reason: status as TokenRefusal };
  }

  /** Undoes `consume` for a single-use token when the enrolment failed afterwards. */
  async unconsume(token: string, publicKey: string): Promise<boolean> {
    return this.unconsumeHash(hashToken(token), publicKey);
  }

  /** `unconsume` by the token's SHA-256 (for a proof's `id`). */
  async unconsumeHash(hash: string, publicKey: string): Promise<boolean> {
    return (await this.scripted.wgmeshTokenUnconsume(this.key, hash, publicKey)) === 1;
  }

  /** Every token still kept (valid, and expired or used up within the retention), oldest first. */
  async list(): Promise<TokenInfo[]> {
    await this.purge();
    const all = await this.redis.hvals(this.key);
    return all.map((raw) => publicInfo(JSON.parse(raw) as StoredToken)).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Deletes the token with this id; false when there is none. */
  async revoke(id: string): Promise<boolean> {
    const all = await this.redis.hgetall(this.key);
    for (const [hash, raw] of Object.entries(all)) {
      if ((JSON.parse(raw) as StoredToken).id === id) return (await this.redis.hdel(this.key, hash)) === 1;
    }
    return false;
  }

  /** Deletes every token of the mesh. */
  async clear(): Promise<void> {
    await this.redis.del(this.key);
  }

  private purge(): Promise<number> {
    return this.scripted.wgmeshTokenPurge(this.key, String(this.now()), String(TOKEN_RETENTION_MS));
  }
}

/** SHA-256 of the token text, hex: what Redis keys tokens by. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function publicInfo(t: StoredToken): TokenInfo {
  const info: TokenInfo = { id: t.id, reusable: t.reusable, createdAt: t.createdAt, expiresAt: t.expiresAt, uses: t.uses };
  if (t.name !== undefined) info.name = t.name;
  return info;
}

/** Parses "90s", "15m", "1h", "7d" or plain seconds into seconds (for --ttl). */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" must be a duration such as 90s, 15m, 1h or 7d`);
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  if (n < 1) throw new Error(`"${text}" must be at least 1 second`);
  return n;
}
