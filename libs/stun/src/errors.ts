/** Every failure of the STUN codec is a StunError, so callers can catch the codec's errors alone. */
export abstract class StunError extends Error {}

/**
 * Not a STUN message: shorter than the 20-byte header, top two bits set, wrong magic cookie,
 * or a length field that is not a multiple of 4 or does not match the datagram. A demultiplexer
 * (WireGuard and STUN on one port) treats this as "someone else's packet".
 */
export class NotStunError extends StunError {
  override readonly name = 'NotStunError';
}

/** A STUN message whose attributes cannot be read: truncated, wrong length, bad family or code. */
export class MalformedAttributeError extends StunError {
  override readonly name = 'MalformedAttributeError';
  constructor(
    readonly attributeType: number,
    reason: string,
  ) {
    super(`STUN attribute 0x${attributeType.toString(16).padStart(4, '0')}: ${reason}`);
  }
}

/**
 * The message carries comprehension-required attributes (0x0000-0x7FFF) this codec does not know.
 * A server answers a request with 420 and UNKNOWN-ATTRIBUTES listing `types`; a client discards
 * the response (RFC 8489 section 6.3).
 */
export class UnknownComprehensionRequiredError extends StunError {
  override readonly name = 'UnknownComprehensionRequiredError';
  constructor(
    readonly types: readonly number[],
    /** Class and transaction id of the offending message, so a server can answer it. */
    readonly transactionId: Uint8Array,
    readonly isRequest: boolean,
  ) {
    super(`unknown comprehension-required STUN attributes: ${types.map((t) => `0x${t.toString(16).padStart(4, '0')}`).join(', ')}`);
  }
}

/** FINGERPRINT is present but is not CRC-32 of the message XOR 0x5354554E. */
export class FingerprintMismatchError extends StunError {
  override readonly name = 'FingerprintMismatchError';
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`STUN FINGERPRINT mismatch: carried 0x${actual.toString(16).padStart(8, '0')}, computed 0x${expected.toString(16).padStart(8, '0')}`);
  }
}

/** A builder was given something it cannot encode (bad transaction id, port, code, over-long text). */
export class StunEncodeError extends StunError {
  override readonly name = 'StunEncodeError';
}
