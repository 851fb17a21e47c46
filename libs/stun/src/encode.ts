import { AddressError, parseIp } from '@wgmesh/netaddr';
import {
  ATTR,
  CHANGE_IP_FLAG,
  CHANGE_PORT_FLAG,
  FINGERPRINT_XOR,
  HEADER_BYTES,
  MAGIC_COOKIE,
  MAX_TEXT_BYTES,
  MAX_TEXT_CHARS,
  messageType,
  METHOD_BINDING,
  TRANSACTION_ID_BYTES,
} from './constants';
import type { StunClass } from './constants';
import { crc32 } from './crc32';
import { StunEncodeError } from './errors';
import type { StunAddress, StunAttribute } from './message';

export interface EncodeOptions {
  readonly class: StunClass;
  readonly method: number;
  readonly transactionId: Uint8Array;
  readonly attributes?: readonly StunAttribute[];
  /** Append FINGERPRINT (computed over everything before it) as the last attribute. */
  readonly fingerprint?: boolean;
}

export interface BindingRequestOptions {
  readonly changeIp?: boolean;
  readonly changePort?: boolean;
  readonly software?: string;
  readonly fingerprint?: boolean;
}

export interface BindingSuccessOptions {
  readonly xorMapped: StunAddress;
  readonly mapped?: StunAddress;
  readonly responseOrigin?: StunAddress;
  readonly otherAddress?: StunAddress;
  readonly software?: string;
  readonly fingerprint?: boolean;
}

export interface BindingErrorOptions {
  /** For 420 Unknown Attribute: the types the request carried that we do not understand. */
  readonly unknownAttributes?: readonly number[];
  readonly software?: string;
  readonly fingerprint?: boolean;
}

const utf8 = new TextEncoder();

/** Encodes any STUN message: header, attributes padded to 4 bytes, optional FINGERPRINT. */
export function encodeMessage(opts: EncodeOptions): Uint8Array {
  checkTransactionId(opts.transactionId);
  if (!Number.isInteger(opts.method) || opts.method < 0 || opts.method > 0xfff) {
    throw new StunEncodeError(`a STUN method is 12 bits, got ${opts.method}`);
  }
  const attrs = opts.attributes ?? [];
  let body = 0;
  for (const a of attrs) {
    if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0xffff) throw new StunEncodeError(`attribute type ${a.type} is not 16 bits`);
    if (a.value.length > 0xffff) throw new StunEncodeError(`attribute 0x${a.type.toString(16)} is longer than 65535 bytes`);
    body += 4 + pad4(a.value.length);
  }
  const total = HEADER_BYTES + body + (opts.fingerprint ? 8 : 0);
  if (total - HEADER_BYTES > 0xffff) throw new StunEncodeError('STUN message body is longer than 65535 bytes');
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint16(0, messageType(opts.class, opts.method));
  view.setUint16(2, total - HEADER_BYTES);
  view.setUint32(4, MAGIC_COOKIE);
  out.set(opts.transactionId, 8);
  let at = HEADER_BYTES;
  for (const a of attrs) {
    view.setUint16(at, a.type);
    view.setUint16(at + 2, a.value.length);
    out.set(a.value, at + 4);
    at += 4 + pad4(a.value.length);
  }
  if (opts.fingerprint) {
    view.setUint16(at, ATTR.FINGERPRINT);
    view.setUint16(at + 2, 4);
    view.setUint32(at + 4, (crc32(out.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

/** A Binding request; `changeIp`/`changePort` add CHANGE-REQUEST (RFC 5780). */
export function bindingRequest(txId: Uint8Array, opts: BindingRequestOptions = {}): Uint8Array {
  const attributes: StunAttribute[] = [];
  if (opts.changeIp || opts.changePort) attributes.push(changeRequestAttr(!!opts.changeIp, !!opts.changePort));
  if (opts.software !== undefined) attributes.push(textAttr(ATTR.SOFTWARE, opts.software, 'SOFTWARE'));
  return encodeMessage({ class: 'request', method: METHOD_BINDING, transactionId: txId, attributes, fingerprint: opts.fingerprint });
}

/** A Binding success response carrying the reflexive address (XOR-MAPPED-ADDRESS) and RFC 5780 extras. */
export function bindingSuccess(txId: Uint8Array, opts: BindingSuccessOptions): Uint8Array {
  const attributes: StunAttribute[] = [addressAttr(ATTR.XOR_MAPPED_ADDRESS, opts.xorMapped, txId)];
  if (opts.mapped) attributes.push(addressAttr(ATTR.MAPPED_ADDRESS, opts.mapped));
  if (opts.responseOrigin) attributes.push(addressAttr(ATTR.RESPONSE_ORIGIN, opts.responseOrigin));
  if (opts.otherAddress) attributes.push(addressAttr(ATTR.OTHER_ADDRESS, opts.otherAddress));
  if (opts.software !== undefined) attributes.push(textAttr(ATTR.SOFTWARE, opts.software, 'SOFTWARE'));
  return encodeMessage({ class: 'success', method: METHOD_BINDING, transactionId: txId, attributes, fingerprint: opts.fingerprint });
}

/** A Binding error response (ERROR-CODE 300-699, e.g. 400 Bad Request, 420 Unknown Attribute). */
export function bindingError(txId: Uint8Array, code: number, reason: string, opts: BindingErrorOptions = {}): Uint8Array {
  const attributes: StunAttribute[] = [errorCodeAttr(code, reason)];
  if (opts.unknownAttributes) attributes.push(unknownAttributesAttr(opts.unknownAttributes));
  if (opts.software !== undefined) attributes.push(textAttr(ATTR.SOFTWARE, opts.software, 'SOFTWARE'));
  return encodeMessage({ class: 'error', method: METHOD_BINDING, transactionId: txId, attributes, fingerprint: opts.fingerprint });
}

/**
 * MAPPED-ADDRESS layout (also RESPONSE-ORIGIN, OTHER-ADDRESS); with `txId`, the XOR-MAPPED-ADDRESS
 * form: port XOR the cookie's top 16 bits, address XOR cookie (IPv4) or cookie + transaction id (IPv6).
 */
export function addressAttr(type: number, addr: StunAddress, txId?: Uint8Array): StunAttribute {
  let ip;
  try {
    ip = parseIp(addr.ip);
  } catch (e) {
    if (e instanceof AddressError) throw new StunEncodeError(e.message);
    throw e;
  }
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 0xffff) throw new StunEncodeError(`port ${addr.port} is not 0-65535`);
  const value = new Uint8Array(4 + ip.bytes.length);
  value[1] = ip.family === 4 ? 0x01 : 0x02;
  let port = addr.port;
  const bytes = Uint8Array.from(ip.bytes);
  if (txId) {
    checkTransactionId(txId);
    port ^= MAGIC_COOKIE >>> 16;
    const mask = xorMask(txId);
    for (let i = 0; i < bytes.length; i++) bytes[i] ^= mask[i];
  }
  value[2] = port >> 8;
  value[3] = port & 0xff;
  value.set(bytes, 4);
  return { type, value };
}

export function changeRequestAttr(changeIp: boolean, changePort: boolean): StunAttribute {
  return { type: ATTR.CHANGE_REQUEST, value: Uint8Array.of(0, 0, 0, (changeIp ? CHANGE_IP_FLAG : 0) | (changePort ? CHANGE_PORT_FLAG : 0)) };
}

export function errorCodeAttr(code: number, reason: string): StunAttribute {
  if (!Number.isInteger(code) || code < 300 || code > 699) throw new StunEncodeError(`STUN error code ${code} is not 300-699`);
  const text = checkText(reason, 'reason phrase');
  const value = new Uint8Array(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return { type: ATTR.ERROR_CODE, value };
}

export function unknownAttributesAttr(types: readonly number[]): StunAttribute {
  const value = new Uint8Array(types.length * 2);
  types.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t > 0xffff) throw new StunEncodeError(`attribute type ${t} is not 16 bits`);
    value[i * 2] = t >> 8;
    value[i * 2 + 1] = t & 0xff;
  });
  return { type: ATTR.UNKNOWN_ATTRIBUTES, value };
}

function textAttr(type: number, text: string, what: string): StunAttribute {
  return { type, value: checkText(text, what) };
}

function checkText(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') throw new StunEncodeError(`${what} must be a string`);
  const bytes = utf8.encode(text);
  if ([...text].length > MAX_TEXT_CHARS || bytes.length > MAX_TEXT_BYTES) {
    throw new StunEncodeError(`${what} is limited to ${MAX_TEXT_CHARS} characters and ${MAX_TEXT_BYTES} bytes`);
  }
  return bytes;
}

function checkTransactionId(txId: Uint8Array): void {
  if (!(txId instanceof Uint8Array) || txId.length !== TRANSACTION_ID_BYTES) {
    throw new StunEncodeError(`a STUN transaction id is ${TRANSACTION_ID_BYTES} bytes`);
  }
}

/** The 16 bytes an address is XORed with: magic cookie then transaction id (IPv4 uses the first 4). */
export function xorMask(txId: Uint8Array): Uint8Array {
  const mask = new Uint8Array(16);
  new DataView(mask.buffer).setUint32(0, MAGIC_COOKIE);
  mask.set(txId, 4);
  return mask;
}

export function pad4(n: number): number {
  return (n + 3) & ~3;
}
