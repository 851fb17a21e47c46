import { createHash, createPrivateKey, createPublicKey, KeyObject, sign, verify } from 'node:crypto';

/**
 * Enrolment without sending the token. The token text derives an ed25519 key pair; the registry
 * keeps the public half (with the token's SHA-256, by which it looks the token up) and the member
 * signs its enrolment request with the private half. The token never crosses the network, NATS
 * or Redis; a captured proof is bound to one mesh, WireGuard key, name and NATS key, so replaying
 * it enrols nothing an eavesdropper could use; and what Redis holds (hash, public key) cannot
 * make a proof.
 */

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

function proofKey(token: string): KeyObject {
  const seed = createHash('sha256').update('wgmesh enrolment proof v1\0', 'utf8').update(token, 'utf8').digest();
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

/** The token's verification key (32 bytes, base64), stored with its hash. */
export function tokenVerifyKey(token: string): string {
  const der = createPublicKey(proofKey(token)).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_ED25519.length).toString('base64');
}

export interface ProofFields {
  mesh: string;
  publicKey: string;
  name: string;
  natsKey?: string;
}

/** What is signed: every field of the request that the enrolment grants something to. */
export function proofMessage(f: ProofFields): Buffer {
  return Buffer.from(['wgmesh-enroll-v1', f.mesh, f.publicKey, f.name, f.natsKey ?? ''].join('\n'), 'utf8');
}

/** The member's side: `{id, sig}` for the enrolment request. */
export function enrollProof(token: string, f: ProofFields): { id: string; sig: string } {
  return { id: createHash('sha256').update(token, 'utf8').digest('hex'), sig: sign(null, proofMessage(f), proofKey(token)).toString('base64') };
}

/** The registry's side: does `sig` prove the token whose verification key is `verifyKey`? */
export function verifyEnrollProof(verifyKey: string, sig: string, f: ProofFields): boolean {
  const raw = Buffer.from(verifyKey, 'base64');
  if (raw.length !== 32) return false;
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
  try {
    return verify(null, proofMessage(f), key, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}
