import type { StunClass } from './constants';

/** A transport address as STUN carries it: canonical IP text (netaddr's formatIp) and a port. */
export interface StunAddress {
  readonly ip: string;
  readonly port: number;
}

/** One attribute as it appeared on the wire (value without padding). */
export interface StunAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface ChangeRequest {
  readonly changeIp: boolean;
  readonly changePort: boolean;
}

export interface ErrorCode {
  /** 300-699: class * 100 + number. */
  readonly code: number;
  readonly reason: string;
}

/** A decoded STUN message. Convenience fields hold the first occurrence of each attribute. */
export interface StunMessage {
  readonly class: StunClass;
  readonly method: number;
  /** 12 bytes (96 bits). */
  readonly transactionId: Uint8Array;
  readonly attributes: readonly StunAttribute[];
  readonly xorMappedAddress?: StunAddress;
  readonly mappedAddress?: StunAddress;
  readonly responseOrigin?: StunAddress;
  readonly otherAddress?: StunAddress;
  readonly changeRequest?: ChangeRequest;
  readonly software?: string;
  readonly errorCode?: ErrorCode;
  readonly unknownAttributes?: readonly number[];
  /** True when FINGERPRINT is present and verified (a mismatch throws FingerprintMismatchError). */
  readonly fingerprintOk: boolean;
}
