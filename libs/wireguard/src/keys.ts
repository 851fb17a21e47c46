import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';

/**
 * WireGuard keys are 32 raw bytes. They travel as base64 (wg, our NATS messages), as lowercase
 * RFC 4648 base32 with padding (wgsd's DNS names) and as hex (the UAPI protocol).
 */
export class KeyError extends Error {
  override readonly name = 'KeyError';
}

const KEY_BYTES = 32;
const B64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const B32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** Decodes a base64 WireGuard key, accepting only the canonical 44-character form. */
export function keyFromBase64(text: string): Buffer {
  if (typeof text !== 'string' || !B64_KEY.test(text)) {
    throw new KeyError('a WireGuard key is 44 characters of base64 ending in "=" (32 bytes)');
  }
  return Buffer.from(text, 'base64');
}

export function isBase64Key(text: unknown): text is string {
  return typeof text === 'string' && B64_KEY.test(text);
}

export function keyToBase64(key: Uint8Array): string {
  assertLength(key);
  return Buffer.from(key).toString('base64');
}

/** Lowercase base32 with "=" padding: 56 characters for a key, as wgsd names peers. */
export function keyToBase32(key: Uint8Array): string {
  assertLength(key);
  return base32(key, { pad: true });
}

/** RFC 4648 base32 of any bytes: lowercase unless `upper`, "=" padding only with `pad`. */
export function base32(data: Uint8Array, opts: { upper?: boolean; pad?: boolean } = {}): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32_ALPHABET[(value << (5 - bits)) & 31];
  if (opts.pad) while (out.length % 8 !== 0) out += '=';
  return opts.upper ? out.toUpperCase() : out;
}

/** Decodes a base32 key name (case-insensitive, padding required as wgsd emits it). */
export function keyFromBase32(text: string): Buffer {
  if (typeof text !== 'string' || !/^[a-z2-7]{51}[aq]====$/i.test(text)) {
    throw new KeyError('a base32 WireGuard key is 52 base32 characters followed by "===="');
  }
  const out = Buffer.alloc(KEY_BYTES);
  let bits = 0;
  let value = 0;
  let i = 0;
  for (const ch of text.slice(0, 52).toLowerCase()) {
    value = ((value << 5) | B32_ALPHABET.indexOf(ch)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out[i++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

export function keyToHex(key: Uint8Array): string {
  assertLength(key);
  return Buffer.from(key).toString('hex');
}

export function keyFromHex(text: string): Buffer {
  if (typeof text !== 'string' || !/^[0-9a-f]{64}$/i.test(text)) {
    throw new KeyError('a hex WireGuard key is 64 hexadecimal characters');
  }
  return Buffer.from(text, 'hex');
}

function assertLength(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new KeyError(`a WireGuard key is ${KEY_BYTES} bytes, got ${key.length}`);
}

// X25519 keys through node:crypto. PKCS#8 / SPKI DER prefixes for a raw 32-byte X25519 key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** A new clamped Curve25519 private key (raw 32 bytes). */
export function generatePrivateKey(): Buffer {
  const { privateKey } = generateKeyPairSync('x25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return clamp(Buffer.from(der.subarray(der.length - KEY_BYTES)));
}

export function publicKeyFromPrivate(privateKey: Uint8Array): Buffer {
  assertLength(privateKey);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return Buffer.from(spki.subarray(SPKI_PREFIX.length));
}

/**
 * The X25519 shared secret of a private key and another party's public key (32 bytes), as both
 * parties compute it: x25519(a, B) = x25519(b, A). Refused when it is all zeros (a low-order
 * public key: the "secret" would be known to anyone).
 */
export function sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  assertLength(privateKey);
  assertLength(publicKey);
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  let secret: Buffer;
  try {
    secret = diffieHellman({ privateKey: priv, publicKey: pub }); // OpenSSL refuses an all-zero result itself
  } catch {
    throw new KeyError('the public key is of low order: no shared secret');
  }
  if (secret.every((b) => b === 0)) throw new KeyError('the public key is of low order: no shared secret');
  return secret;
}

function clamp(key: Buffer): Buffer {
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}
