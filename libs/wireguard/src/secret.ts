import { timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { KeyError } from './keys';

const REDACTED = '[redacted]';

/**
 * A private or preshared key read from (or written to) a device. The bytes live in a private
 * field, so the key never appears in `JSON.stringify`, `String()`, `util.inspect`, console or
 * structured logs; `reveal()` is the one explicit way to get them.
 */
export class SecretKey {
  readonly #bytes: Buffer;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== 32) throw new KeyError(`a WireGuard key is 32 bytes, got ${bytes.length}`);
    this.#bytes = Buffer.from(bytes);
  }

  /** A copy of the raw 32 bytes. */
  reveal(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** Constant-time comparison with another secret or raw key bytes. */
  equals(other: SecretKey | Uint8Array | null | undefined): boolean {
    if (!other) return false;
    const bytes = other instanceof SecretKey ? other.#bytes : other;
    return bytes.length === 32 && timingSafeEqual(this.#bytes, bytes);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `SecretKey ${REDACTED}`;
  }
}

/** True for the all-zero key, which the UAPI uses for "no key". */
export function isZeroKey(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}
