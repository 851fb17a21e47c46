import { createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync, KeyObject, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto';
import type { EnrollRequest } from '@wgmesh/contracts';
import { keyFromBase64, SecretKey, sharedSecret } from '@wgmesh/wireguard';

/**
 * The two proofs of an enrolment request, over one canonical text of the whole request (mesh,
 * WireGuard key, name, NATS key, token id, time, nonce), so that no field can be changed on the
 * way and neither secret ever leaves the member:
 *
 * - **the token** (`proof`): the token text derives an ed25519 key pair; the registry keeps the
 *   public half with the token's SHA-256 (its id) and the member signs with the private half. The
 *   token never crosses the network, NATS or the store of record, and what the store holds (hash,
 *   verification key) cannot make a proof.
 * - **the WireGuard key** (`possession`): an HMAC-SHA256 keyed by HKDF of the X25519 shared
 *   secret of the member's private key and the registry's public key. The registry recomputes
 *   the secret from its own private key and the member's public key: only the holder of the
 *   member's private key (or of the registry's) can make it. Enrolling someone else's public key
 *   is impossible without its private key.
 *
 * A captured request is good for nothing but itself: the same key, name and NATS key (whose seed
 * only the member has), within the time window, once (the registry remembers nonces).
 */

/** How far `possession.at` may be from the registry's clock. */
export const PROOF_WINDOW_MS = 5 * 60 * 1000;

export interface EnrollFields {
  mesh: string;
  publicKey: string;
  name: string;
  natsKey?: string;
  /** The token's id: its SHA-256, hex. */
  tokenId: string;
  /** Unix ms when the member made the request. */
  at: number;
  /** 16 random bytes, base64. */
  nonce: string;
}

/** The canonical text both proofs are computed over. */
export function enrollMessage(f: EnrollFields): Buffer {
  return Buffer.from(['wgmesh-enroll-v2', f.mesh, f.publicKey, f.name, f.natsKey ?? '', f.tokenId, String(f.at), f.nonce].join('\n'), 'utf8');
}

/** The fields of a parsed request (the mesh is the registry's own, never the request's). */
export function enrollFields(mesh: string, req: EnrollRequest): EnrollFields {
  return { mesh, publicKey: req.publicKey, name: req.name, natsKey: req.natsKey, tokenId: req.proof.id, at: req.possession.at, nonce: req.possession.nonce };
}

// ---- the token ------------------------------------------------------------------------------

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

function tokenSigningKey(token: string): KeyObject {
  const seed = createHash('sha256').update('wgmesh enrolment proof v1\0', 'utf8').update(token, 'utf8').digest();
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

/** SHA-256 of the token text, hex: the token's id, what the registry keys tokens by. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The token's verification key (32 bytes, base64), stored with its hash. */
export function tokenVerifyKey(token: string): string {
  const der = createPublicKey(tokenSigningKey(token)).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_ED25519.length).toString('base64');
}

/** Does `sig` prove the token whose verification key is `verifyKey`, over these fields? */
export function verifyTokenProof(verifyKey: string, sig: string, f: EnrollFields): boolean {
  const raw = Buffer.from(verifyKey, 'base64');
  if (raw.length !== 32) return false;
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
  try {
    return verify(null, enrollMessage(f), key, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}

// ---- the WireGuard key ----------------------------------------------------------------------

function possessionKey(secret: Buffer, memberKey: string, registryKey: string): Buffer {
  const info = Buffer.concat([keyFromBase64(memberKey), keyFromBase64(registryKey)]);
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('wgmesh enrolment possession v1', 'utf8'), info, 32));
}

function mac(key: Buffer, f: EnrollFields): Buffer {
  return createHmac('sha256', key).update(enrollMessage(f)).digest();
}

export type PossessionCheck = { ok: true } | { ok: false; reason: 'stale' | 'not_holder'; message: string };

/**
 * The registry's side: recomputes the MAC with its own private key. `now` is the registry's
 * clock. The message of a refusal says exactly why (and is safe to send back: no secret in it).
 */
export function checkPossession(registryPrivateKey: SecretKey, registryPublicKey: string, f: EnrollFields, macB64: string, now = Date.now()): PossessionCheck {
  if (Math.abs(now - f.at) > PROOF_WINDOW_MS) {
    return {
      ok: false,
      reason: 'stale',
      message: `the request was made at ${new Date(f.at).toISOString()}, more than ${PROOF_WINDOW_MS / 60_000} minutes from the registry's clock (${new Date(now).toISOString()}): check the member's clock`,
    };
  }
  const notHolder: PossessionCheck = { ok: false, reason: 'not_holder', message: `the request is not signed by the holder of the private key of ${f.publicKey}` };
  let expected: Buffer;
  try {
    expected = mac(possessionKey(sharedSecret(registryPrivateKey.reveal(), keyFromBase64(f.publicKey)), f.publicKey, registryPublicKey), f);
  } catch {
    return notHolder; // a low-order key: nobody holds a private key for it
  }
  const given = Buffer.from(macB64, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected) ? { ok: true } : notHolder;
}

// ---- the member's side ----------------------------------------------------------------------

export interface EnrollRequestInput {
  mesh: string;
  name: string;
  /** The member's WireGuard private key (never sent) and its public key. */
  privateKey: SecretKey;
  publicKey: string;
  /** The registry's public key (`--registry-key`). */
  registryKey: string;
  /** The pre-auth token text (never sent). */
  token: string;
  natsKey?: string;
  /** Unix ms (default now). */
  now?: number;
}

/** A complete `enroll` request: both proofs over a fresh time and nonce. */
export function buildEnrollRequest(i: EnrollRequestInput): EnrollRequest {
  const f: EnrollFields = { mesh: i.mesh, publicKey: i.publicKey, name: i.name, natsKey: i.natsKey, tokenId: hashToken(i.token), at: i.now ?? Date.now(), nonce: randomBytes(16).toString('base64') };
  const key = possessionKey(sharedSecret(i.privateKey.reveal(), keyFromBase64(i.registryKey)), i.publicKey, i.registryKey);
  const req: EnrollRequest = {
    publicKey: i.publicKey,
    name: i.name,
    proof: { id: f.tokenId, sig: sign(null, enrollMessage(f), tokenSigningKey(i.token)).toString('base64') },
    possession: { at: f.at, nonce: f.nonce, mac: mac(key, f).toString('base64') },
  };
  if (i.natsKey !== undefined) req.natsKey = i.natsKey;
  req.registry = i.registryKey; // with several registries, only this one answers
  return req;
}
