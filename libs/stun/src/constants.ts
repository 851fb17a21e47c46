/** Wire constants from RFC 8489 (STUN) and RFC 5780 (NAT behaviour discovery). */
export const HEADER_BYTES = 20;
export const MAGIC_COOKIE = 0x2112a442;
export const TRANSACTION_ID_BYTES = 12;
export const FINGERPRINT_XOR = 0x5354554e;

export const METHOD_BINDING = 0x001;

export type StunClass = 'request' | 'indication' | 'success' | 'error';
export const CLASS_BITS: Record<StunClass, number> = { request: 0, indication: 1, success: 2, error: 3 };
export const CLASS_NAMES: readonly StunClass[] = ['request', 'indication', 'success', 'error'];

export const ATTR = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
} as const;

/**
 * Comprehension-required types (below 0x8000) the parser accepts. MESSAGE-INTEGRITY(-SHA256) are
 * accepted and skipped: this codec does not authenticate, the caller may verify them from `attributes`.
 */
export const KNOWN_REQUIRED: ReadonlySet<number> = new Set([
  ATTR.MAPPED_ADDRESS,
  ATTR.CHANGE_REQUEST,
  ATTR.MESSAGE_INTEGRITY,
  ATTR.ERROR_CODE,
  ATTR.UNKNOWN_ATTRIBUTES,
  ATTR.MESSAGE_INTEGRITY_SHA256,
  ATTR.XOR_MAPPED_ADDRESS,
]);

/** SOFTWARE and an ERROR-CODE reason phrase: fewer than 128 characters, at most 763 bytes. */
export const MAX_TEXT_CHARS = 127;
export const MAX_TEXT_BYTES = 763;

export const CHANGE_IP_FLAG = 0x04;
export const CHANGE_PORT_FLAG = 0x02;

/** Message type: the 2 class bits are interleaved with the 12 method bits (RFC 8489 section 5). */
export function messageType(cls: StunClass, method: number): number {
  const c = CLASS_BITS[cls];
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((c & 2) << 7) | ((c & 1) << 4);
}

export function splitMessageType(type: number): { cls: StunClass; method: number } {
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const c = ((type >> 7) & 2) | ((type >> 4) & 1);
  return { cls: CLASS_NAMES[c], method };
}
