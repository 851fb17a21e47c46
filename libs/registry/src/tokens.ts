import { randomBytes } from 'node:crypto';
import type { KV } from 'nats';
import { EnrollFields, hashToken, tokenVerifyKey, verifyTokenProof } from './enroll-proof';
import { deleteAt, encode, getLive, isConflict, json, readPrefix } from './state';

/**
 * Pre-auth tokens for enrolment, in the store of record. The token text (`wgm_` + 32 random
 * bytes, base64url) is shown once, at creation; the store holds only its SHA-256 (the key) with
 * the token's verification key, id, name, expiry, reusable flag and use count. A use is counted
 * with a write at the revision read, so two enrolments racing with one single-use token cannot
 * both succeed.
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
  /** Verification key of the token's enrolment proofs (enroll-proof.ts). */
  verifyKey: string;
}

const TOKENS = 'tokens';
const tokenKey = (hash: string) => `${TOKENS}.${hash}`;
/** Writes at a stale revision retried (another registry used the token meanwhile), a few ms apart. */
const MAX_ATTEMPTS = 20;
const backoff = () => new Promise((r) => setTimeout(r, 1 + Math.random() * 10));

export class TokenStore {
  private readonly now: () => number;
  /** Uses of tokens by this process, one at a time (the store arbitrates between processes). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kv: KV,
    options: TokenStoreOptions = {},
  ) {
    this.now = options.now ?? Date.now;
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
    await this.kv.create(tokenKey(hashToken(token)), encode({ ...info, verifyKey: tokenVerifyKey(token) } satisfies StoredToken));
    return { token, info };
  }

  /**
   * Checks a request's proof of the token and counts one use, atomically: the token with SHA-256
   * `proof.id` must exist, be valid, and `proof.sig` verify over the request's fields. A
   * single-use token succeeds once; the same public key may use it again (an enrolment retried
   * after a lost reply), any other is refused.
   */
  consumeProof(proof: { id: string; sig: string }, fields: EnrollFields): Promise<ConsumeResult> {
    return this.serialise(() => this.consumeNow(proof, fields));
  }

  private async consumeNow(proof: { id: string; sig: string }, fields: EnrollFields): Promise<ConsumeResult> {
    if (!/^[0-9a-f]{64}$/.test(proof.id)) return { ok: false, reason: 'unknown' };
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const e = await getLive(this.kv, tokenKey(proof.id));
      if (!e) return { ok: false, reason: 'unknown' };
      const t = json<StoredToken>(e);
      if (!verifyTokenProof(t.verifyKey, proof.sig, fields)) return { ok: false, reason: 'invalid_proof' };
      if (this.now() >= t.expiresAt) return { ok: false, reason: 'expired' };
      if (!t.reusable && t.uses > 0 && t.usedBy !== fields.publicKey) return { ok: false, reason: 'already_used' };
      const next: StoredToken = { ...t, uses: t.uses + 1 };
      if (!t.reusable) next.usedBy = fields.publicKey;
      try {
        await this.kv.update(e.key, encode(next), e.revision);
        return { ok: true, token: publicInfo(next) };
      } catch (err) {
        if (!isConflict(err)) throw err;
        await backoff();
      }
    }
    throw new Error('the token kept changing while it was used; try again');
  }

  /** Gives a use back after an enrolment that failed past the token check (single-use tokens: only to the key that used it). */
  unconsume(id: string, publicKey: string): Promise<boolean> {
    return this.serialise(() => this.unconsumeNow(id, publicKey));
  }

  private async unconsumeNow(id: string, publicKey: string): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const e = await getLive(this.kv, tokenKey(id));
      if (!e) return false;
      const t = json<StoredToken>(e);
      if (t.uses === 0 || (!t.reusable && t.usedBy !== publicKey)) return false;
      const next: StoredToken = { ...t, uses: t.uses - 1 };
      if (next.uses === 0) delete next.usedBy;
      try {
        await this.kv.update(e.key, encode(next), e.revision);
        return true;
      } catch (err) {
        if (!isConflict(err)) throw err;
        await backoff();
      }
    }
    return false;
  }

  /** Every token still kept (valid, and expired or used up within the retention), oldest first. */
  async list(): Promise<TokenInfo[]> {
    await this.purge();
    return [...(await this.stored()).values()].map(({ token }) => publicInfo(token)).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Deletes the token with this id; false when there is none. */
  async revoke(id: string): Promise<boolean> {
    for (const { token, key, revision } of (await this.stored()).values()) {
      if (token.id === id) return deleteAt(this.kv, key, revision);
    }
    return false;
  }

  private async stored(): Promise<Map<string, { token: StoredToken; key: string; revision: number }>> {
    const out = new Map<string, { token: StoredToken; key: string; revision: number }>();
    for (const [key, e] of await readPrefix(this.kv, TOKENS)) out.set(key, { token: json<StoredToken>(e), key, revision: e.revision });
    return out;
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets tokens expired longer than the retention. */
  private async purge(): Promise<void> {
    const now = this.now();
    for (const { token, key, revision } of (await this.stored()).values()) {
      if (token.expiresAt + TOKEN_RETENTION_MS < now) await deleteAt(this.kv, key, revision);
    }
  }
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
