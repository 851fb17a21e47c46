import { formatIp } from '@wgmesh/netaddr';
import { ATTR, FINGERPRINT_XOR, HEADER_BYTES, KNOWN_REQUIRED, MAGIC_COOKIE, splitMessageType } from './constants';
import { crc32 } from './crc32';
import { pad4, xorMask } from './encode';
import { FingerprintMismatchError, MalformedAttributeError, NotStunError, UnknownComprehensionRequiredError } from './errors';
import type { ChangeRequest, ErrorCode, StunAddress, StunAttribute, StunMessage } from './message';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Cheap demultiplexing test (header only): could this datagram be STUN? */
export function isStun(buf: Uint8Array): boolean {
  try {
    checkHeader(buf);
    return true;
  } catch (e) {
    if (e instanceof NotStunError) return false;
    throw e;
  }
}

/**
 * Decodes one STUN message. Throws NotStunError, MalformedAttributeError, FingerprintMismatchError
 * or UnknownComprehensionRequiredError, and nothing else for any input. MESSAGE-INTEGRITY is
 * accepted but not verified; attributes after it (except FINGERPRINT) are listed but ignored,
 * as RFC 8489 section 14.5 requires.
 */
export function parseMessage(buf: Uint8Array): StunMessage {
  const view = checkHeader(buf);
  const { cls, method } = splitMessageType(view.getUint16(0));
  const transactionId = buf.slice(8, HEADER_BYTES);

  const attributes: StunAttribute[] = [];
  const offsets: number[] = [];
  for (let at = HEADER_BYTES; at < buf.length; ) {
    // The body is a multiple of 4 and every step is too, so a 4-byte attribute header always fits.
    const type = view.getUint16(at);
    const length = view.getUint16(at + 2);
    if (at + 4 + pad4(length) > buf.length) throw new MalformedAttributeError(type, `length ${length} runs past the end of the message`);
    attributes.push({ type, value: buf.slice(at + 4, at + 4 + length) });
    offsets.push(at);
    at += 4 + pad4(length);
  }

  let fingerprintOk = false;
  const fp = attributes.findIndex((a) => a.type === ATTR.FINGERPRINT);
  if (fp >= 0) {
    if (fp !== attributes.length - 1) throw new MalformedAttributeError(ATTR.FINGERPRINT, 'FINGERPRINT must be the last attribute');
    const value = attributes[fp].value;
    if (value.length !== 4) throw new MalformedAttributeError(ATTR.FINGERPRINT, `length ${value.length}, want 4`);
    const actual = new DataView(value.buffer, value.byteOffset, 4).getUint32(0);
    const expected = (crc32(buf.subarray(0, offsets[fp])) ^ FINGERPRINT_XOR) >>> 0;
    if (actual !== expected) throw new FingerprintMismatchError(expected, actual);
    fingerprintOk = true;
  }

  const fields: Mutable<Omit<StunMessage, 'class' | 'method' | 'transactionId' | 'attributes' | 'fingerprintOk'>> = {};
  const unknown: number[] = [];
  let afterIntegrity = false;
  for (const { type, value } of attributes) {
    if (afterIntegrity && type !== ATTR.MESSAGE_INTEGRITY_SHA256 && type !== ATTR.FINGERPRINT) continue;
    switch (type) {
      case ATTR.XOR_MAPPED_ADDRESS:
        fields.xorMappedAddress ??= decodeAddress(type, value, transactionId);
        break;
      case ATTR.MAPPED_ADDRESS:
        fields.mappedAddress ??= decodeAddress(type, value);
        break;
      case ATTR.RESPONSE_ORIGIN:
        fields.responseOrigin ??= decodeAddress(type, value);
        break;
      case ATTR.OTHER_ADDRESS:
        fields.otherAddress ??= decodeAddress(type, value);
        break;
      case ATTR.CHANGE_REQUEST:
        fields.changeRequest ??= decodeChangeRequest(value);
        break;
      case ATTR.SOFTWARE:
        fields.software ??= decodeText(type, value);
        break;
      case ATTR.ERROR_CODE:
        fields.errorCode ??= decodeErrorCode(value);
        break;
      case ATTR.UNKNOWN_ATTRIBUTES:
        fields.unknownAttributes ??= decodeUnknownAttributes(value);
        break;
      case ATTR.MESSAGE_INTEGRITY:
      case ATTR.MESSAGE_INTEGRITY_SHA256:
        afterIntegrity = true;
        break;
      default:
        if (type < 0x8000 && !KNOWN_REQUIRED.has(type) && !unknown.includes(type)) unknown.push(type);
    }
  }
  if (unknown.length > 0) throw new UnknownComprehensionRequiredError(unknown, transactionId, cls === 'request');

  return { class: cls, method, transactionId, attributes, ...fields, fingerprintOk };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function checkHeader(buf: Uint8Array): DataView {
  if (!(buf instanceof Uint8Array)) throw new NotStunError('not a byte array');
  if (buf.length < HEADER_BYTES) throw new NotStunError(`${buf.length} bytes is shorter than the 20-byte STUN header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if ((buf[0] & 0xc0) !== 0) throw new NotStunError('the top two bits of a STUN message are zero');
  if (view.getUint32(4) !== MAGIC_COOKIE) throw new NotStunError('no STUN magic cookie');
  const length = view.getUint16(2);
  if (length % 4 !== 0) throw new NotStunError(`STUN length ${length} is not a multiple of 4`);
  if (HEADER_BYTES + length !== buf.length) throw new NotStunError(`STUN length ${length} does not match the ${buf.length - HEADER_BYTES} bytes after the header`);
  return view;
}

function decodeAddress(type: number, value: Uint8Array, txId?: Uint8Array): StunAddress {
  if (value.length < 4) throw new MalformedAttributeError(type, `address of ${value.length} bytes`);
  const family = value[1];
  const want = family === 0x01 ? 8 : family === 0x02 ? 20 : -1;
  if (want < 0) throw new MalformedAttributeError(type, `address family 0x${family.toString(16)}`);
  if (value.length !== want) throw new MalformedAttributeError(type, `IPv${family === 1 ? 4 : 6} address of ${value.length} bytes, want ${want}`);
  let port = (value[2] << 8) | value[3];
  const bytes = value.slice(4);
  if (txId) {
    port ^= MAGIC_COOKIE >>> 16;
    const mask = xorMask(txId);
    for (let i = 0; i < bytes.length; i++) bytes[i] ^= mask[i];
  }
  return { ip: formatIp({ family: family === 0x01 ? 4 : 6, bytes }), port };
}

function decodeChangeRequest(value: Uint8Array): ChangeRequest {
  if (value.length !== 4) throw new MalformedAttributeError(ATTR.CHANGE_REQUEST, `length ${value.length}, want 4`);
  return { changeIp: (value[3] & 0x04) !== 0, changePort: (value[3] & 0x02) !== 0 };
}

function decodeErrorCode(value: Uint8Array): ErrorCode {
  if (value.length < 4) throw new MalformedAttributeError(ATTR.ERROR_CODE, `length ${value.length}, want at least 4`);
  const cls = value[2] & 0x07;
  const number = value[3];
  if (cls < 3 || cls > 6 || number > 99) throw new MalformedAttributeError(ATTR.ERROR_CODE, `class ${cls} number ${number} is not a code 300-699`);
  return { code: cls * 100 + number, reason: decodeText(ATTR.ERROR_CODE, value.subarray(4)) };
}

function decodeUnknownAttributes(value: Uint8Array): number[] {
  if (value.length % 2 !== 0) throw new MalformedAttributeError(ATTR.UNKNOWN_ATTRIBUTES, `odd length ${value.length}`);
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push((value[i] << 8) | value[i + 1]);
  return out;
}

function decodeText(type: number, value: Uint8Array): string {
  try {
    return utf8.decode(value);
  } catch {
    throw new MalformedAttributeError(type, 'text is not UTF-8');
  }
}
