import { createHash } from 'node:crypto';
import { createAccount, createOperator, createUser, fromPublic, fromSeed, KeyPair } from 'nkeys.js';
import { base32 } from '@wgmesh/wireguard';

/**
 * NATS decentralised authentication, the parts nats-server verifies: nkeys (ed25519 keys with a
 * role prefix, base32 with a CRC16) and JWTs signed with them (header
 * `{"typ":"JWT","alg":"ed25519-nkey"}`, base64url without padding, the signature over
 * `header.payload`). An operator signs accounts, an account (or one of its signing keys) signs
 * users; the server trusts the operator named in its config and checks the chain on each connect.
 */

export type KeyRole = 'operator' | 'account' | 'user';

const PUBLIC_PREFIX: Record<KeyRole, string> = { operator: 'O', account: 'A', user: 'U' };

/** A fresh key of a role. Its seed (`S` + role letter) is the secret; keep it in a 0600 file. */
export function createKey(role: KeyRole): KeyPair {
  return role === 'operator' ? createOperator() : role === 'account' ? createAccount() : createUser();
}

/** The key pair of a seed text ("SO…", "SA…", "SU…"); throws on a malformed seed or a role mismatch. */
export function keyFromSeed(seed: string, role?: KeyRole): KeyPair {
  const kp = fromSeed(new TextEncoder().encode(seed.trim()));
  if (role && !kp.getPublicKey().startsWith(PUBLIC_PREFIX[role])) throw new Error(`the seed is not a NATS ${role} key`);
  return kp;
}

export function seedText(kp: KeyPair): string {
  return new TextDecoder().decode(kp.getSeed());
}

/** True for a well-formed public key of the role (prefix, length, checksum). */
export function isPublicKey(text: unknown, role: KeyRole): text is string {
  if (typeof text !== 'string' || !text.startsWith(PUBLIC_PREFIX[role]) || text.length !== 56) return false;
  try {
    fromPublic(text);
    return true;
  } catch {
    return false;
  }
}

/** Matches any nkey seed (operator, account, user, server, cluster, curve): what must never leak. */
export const NKEY_SEED_PATTERN = /\bS[OAUNCPX][A-Z2-7]{56}\b/g;

export interface Permission {
  allow?: string[];
  deny?: string[];
}

/** The permissions part of a user JWT (`nats.pub`, `nats.sub`, `nats.resp`). */
export interface UserPermissions {
  pub?: Permission;
  sub?: Permission;
  /** Lets the user answer requests it received (reply subjects), `max` replies within `ttl` ns. */
  resp?: { max: number; ttl: number };
}

export interface ClaimsBase {
  jti?: string;
  iat?: number;
  exp?: number;
  iss?: string;
  name?: string;
  sub: string;
  nats: Record<string, unknown> & { type: 'operator' | 'account' | 'user'; version: 2 };
}

const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' };
/** The signer role each claim type must be signed by. */
const SIGNER: Record<'operator' | 'account' | 'user', string> = { operator: 'O', account: 'O', user: 'A' };

const b64 = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');

/**
 * Signs claims with `signer` into a JWT: sets `iss` (the signer's public key), `iat` (now, or
 * the given one) and `jti` (base32 of the SHA-512/256 of the claims, as NATS's own tools do).
 */
export function encodeJwt(claims: ClaimsBase, signer: KeyPair, now = Date.now()): string {
  const iss = signer.getPublicKey();
  if (!iss.startsWith(SIGNER[claims.nats.type])) throw new Error(`a ${claims.nats.type} JWT must be signed by a key starting with ${SIGNER[claims.nats.type]}, not ${iss[0]}`);
  const body: ClaimsBase = { ...claims, iat: claims.iat ?? Math.floor(now / 1000), iss };
  delete body.jti;
  const standard = { aud: undefined, exp: body.exp, jti: undefined, iat: body.iat, iss: body.iss, name: body.name, nbf: undefined, sub: body.sub };
  const jti = base32(createHash('sha512-256').update(JSON.stringify(standard)).digest(), { upper: true });
  const payload = { jti, iat: body.iat, iss, ...(body.exp !== undefined ? { exp: body.exp } : {}), name: body.name, sub: body.sub, nats: body.nats };
  const signingInput = `${b64(JSON.stringify(HEADER))}.${b64(JSON.stringify(payload))}`;
  return `${signingInput}.${b64(signer.sign(new TextEncoder().encode(signingInput)))}`;
}

/** The claims of a JWT, unverified (for reading one's own credential). Throws on a malformed one. */
export function decodeJwt(jwt: string): ClaimsBase & { iss: string } {
  const parts = jwt.trim().split('.');
  if (parts.length !== 3) throw new Error('not a JWT (three dot-separated parts)');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { typ?: string; alg?: string };
  if (header.alg !== HEADER.alg) throw new Error(`unsupported JWT algorithm ${JSON.stringify(header.alg)}`);
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as ClaimsBase & { iss: string };
  if (typeof claims.sub !== 'string' || typeof claims.iss !== 'string' || typeof claims.nats !== 'object' || claims.nats === null) throw new Error('the JWT lacks sub, iss or nats');
  return claims;
}

/** Decodes a JWT and checks its signature against its issuer (not the chain of trust, not expiry). */
export function verifyJwt(jwt: string): ClaimsBase & { iss: string } {
  const claims = decodeJwt(jwt);
  const [h, p, s] = jwt.trim().split('.');
  const ok = fromPublic(claims.iss).verify(new TextEncoder().encode(`${h}.${p}`), Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('the JWT signature does not verify against its issuer');
  return claims;
}

export function operatorClaims(opts: { operator: string; name: string; systemAccount?: string }): ClaimsBase {
  return { sub: opts.operator, name: opts.name, nats: { ...(opts.systemAccount ? { system_account: opts.systemAccount } : {}), type: 'operator', version: 2 } };
}

/** JetStream limits of an account (its JWT's `limits`); JetStream is on for it when a storage limit is not 0. */
export interface JetStreamLimits {
  /** Bytes of memory storage; -1 unlimited. */
  mem_storage: number;
  /** Bytes of file storage; -1 unlimited. */
  disk_storage: number;
  streams: number;
  consumer: number;
}

export interface AccountClaimsOptions {
  account: string;
  name: string;
  signingKeys?: string[];
  /** JetStream for the account (off without). */
  jetstream?: JetStreamLimits;
  /** User public key → unix seconds: every user JWT of that key issued at or before is refused (and its connections closed). */
  revocations?: Record<string, number>;
}

/** An account with no limits on connections and messages, these signing keys, JetStream as given, and revoked users. */
export function accountClaims(opts: AccountClaimsOptions): ClaimsBase {
  return {
    sub: opts.account,
    name: opts.name,
    nats: {
      limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, ...(opts.jetstream ?? {}) },
      default_permissions: { pub: {}, sub: {} },
      ...(opts.signingKeys?.length ? { signing_keys: opts.signingKeys } : {}),
      ...(opts.revocations && Object.keys(opts.revocations).length ? { revocations: opts.revocations } : {}),
      type: 'account',
      version: 2,
    },
  };
}

export interface UserClaimsOptions {
  user: string;
  name: string;
  /** The account the user belongs to, when the JWT is signed by one of its signing keys. */
  issuerAccount?: string;
  permissions?: UserPermissions;
  /** Source addresses (CIDRs) the user may connect from. */
  src?: string[];
  /** Unix seconds. */
  expiresAt?: number;
  /** The server skips the nonce signature: the JWT alone is the credential. */
  bearer?: boolean;
}

export function userClaims(opts: UserClaimsOptions): ClaimsBase {
  const p = opts.permissions ?? {};
  return {
    sub: opts.user,
    name: opts.name,
    ...(opts.expiresAt !== undefined ? { exp: opts.expiresAt } : {}),
    nats: {
      ...(p.pub ? { pub: p.pub } : {}),
      ...(p.sub ? { sub: p.sub } : {}),
      ...(p.resp ? { resp: p.resp } : {}),
      ...(opts.src?.length ? { src: opts.src } : {}),
      subs: -1,
      data: -1,
      payload: -1,
      ...(opts.bearer ? { bearer_token: true } : {}),
      ...(opts.issuerAccount ? { issuer_account: opts.issuerAccount } : {}),
      type: 'user',
      version: 2,
    },
  };
}


export type { KeyPair };
