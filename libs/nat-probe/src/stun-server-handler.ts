import { canonicalIp, formatEndpoint, parseIp } from '@wgmesh/netaddr';
import {
  ATTR,
  bindingError,
  bindingSuccess,
  encodeMessage,
  FingerprintMismatchError,
  HEADER_BYTES,
  isStun,
  MalformedAttributeError,
  METHOD_BINDING,
  NotStunError,
  parseMessage,
  StunAddress,
  StunAttribute,
  UnknownComprehensionRequiredError,
} from '@wgmesh/stun';

/**
 * The STUN server's decisions, as a pure function: one datagram in, one reply (and the socket it
 * leaves from) or a drop reason out. No sockets, no clocks; stun-server.ts does the I/O.
 *
 * Topology (RFC 5780 section 6.1): the server has IP addresses A1 (and A2) and ports P1 (and P2).
 * - `rfc5780`: A1 ≠ A2, sockets on A1:P1, A1:P2, A2:P1, A2:P2. CHANGE-REQUEST fully honoured,
 *   OTHER-ADDRESS is Ca:Cp (the other IP and the other port, relative to where the request came in).
 * - `change-port`: one IP, two ports (A1:P1, A1:P2). "change port" is honoured; "change IP" is
 *   refused with 420 (RFC 5780 section 6.1: "If the Request contains the CHANGE-REQUEST attribute
 *   and the server does not have an alternate address and port as described above, the server
 *   MUST generate an error response of type 420"). OTHER-ADDRESS carries A1:Cp, which RFC 5780
 *   section 7.4 reserves for servers with a second IP: a deliberate extension, so that our
 *   classifier can find the other port and detect port-dependent mapping (MASQUERADE
 *   --random-fully) with a single public address. Third-party RFC 5780 clients may misread it.
 * - `basic`: one socket (RFC 8489 Binding only). Any CHANGE-REQUEST gets 420, no OTHER-ADDRESS.
 *
 * RESPONSE-PORT (RFC 5780 section 7.5) is honoured: the reply goes to the client's IP at that
 * port (it can only reach the address the request came from, so it adds nothing for a spoofer).
 * PADDING is not supported (420): it exists to make responses MTU-sized.
 */
export type ServerMode = 'rfc5780' | 'change-port' | 'basic';

/** Which socket: index into the IPs (0 = A1, 1 = A2) and into the ports (0 = P1, 1 = P2). */
export interface SocketSlot {
  readonly ip: 0 | 1;
  readonly port: 0 | 1;
}

export interface ServerTopology {
  readonly mode: ServerMode;
  /** [A1] or [A1, A2]: canonical IP text. A1 may be a wildcard (0.0.0.0, ::) in basic mode only. */
  readonly ips: readonly string[];
  /** [P1] or [P1, P2]. */
  readonly ports: readonly number[];
}

export const DROP_REASONS = [
  'short', // fewer than 20 bytes
  'oversize', // more than MAX_REQUEST_BYTES
  'not-stun', // header check failed: someone else's protocol
  'malformed', // STUN header, unreadable attributes
  'bad-fingerprint', // FINGERPRINT present and wrong
  'not-request', // a success or error response sent to us (reflection attempt or confusion)
  'indication', // Binding indication: a keepalive, never answered
  'unsupported-method', // a request for a method other than Binding (we are not a TURN server)
  'rate-limited', // over the per-source budget (decided by the socket layer)
  'internal', // a bug: the handler threw (caught by the socket loop)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** What the reply is, for counters and tests. */
export type AnswerKind = 'success' | 'unknown-attribute' | 'change-unavailable';

export type Outcome =
  | { readonly kind: 'drop'; readonly reason: DropReason; readonly detail?: string }
  | {
      readonly kind: 'reply';
      readonly answer: AnswerKind;
      readonly via: SocketSlot;
      readonly bytes: Uint8Array;
      /** RESPONSE-PORT: send to the client's IP at this port instead of its source port. */
      readonly port?: number;
    };

/**
 * Requests longer than this are dropped unread. A Binding request carries a few short attributes;
 * only PADDING (RFC 5780: MTU-sized, which we answer with a small 420) makes it larger.
 */
export const MAX_REQUEST_BYTES = 2048;
/** SOFTWARE is capped so that every response stays within MAX_RESPONSE_BYTES. */
export const MAX_SOFTWARE_BYTES = 16;
/** At most this many types are listed in a 420's UNKNOWN-ATTRIBUTES. */
export const MAX_UNKNOWN_LISTED = 8;
/**
 * The largest response we ever send: an IPv6 success with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS,
 * RESPONSE-ORIGIN, OTHER-ADDRESS (24 bytes each), a 16-byte SOFTWARE and FINGERPRINT. Against the
 * smallest request (20 bytes) that is 7.2× in STUN bytes, 2.8× on the wire with the IPv6 and UDP
 * headers (an IPv4 success is 88 bytes: 2.4× on the wire). The socket layer also rate-limits per
 * source address, which bounds what a spoofed-source flood can reflect at a victim.
 */
export const MAX_RESPONSE_BYTES = HEADER_BYTES + 4 * (4 + 20) + (4 + MAX_SOFTWARE_BYTES) + 8;

const BINDING_REQUEST_TYPE = 0x0001;
/** RFC 5780 RESPONSE-PORT: answer to the client's IP at another port (its other socket). */
export const RESPONSE_PORT = 0x0027;
const BINDING_INDICATION_TYPE = 0x0011;

/** An IPv4-mapped IPv6 address ("::ffff:192.0.2.1", what a dual-stack socket reports) → "192.0.2.1". */
export function unmapIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1] : canonicalIp(ip);
}

export function isWildcard(ip: string): boolean {
  return /^(0\.0\.0\.0|::)$/.test(canonicalIp(ip));
}

/** The address of a socket slot, or undefined when that socket's IP is a wildcard (not known). */
export function slotAddress(t: ServerTopology, slot: SocketSlot): StunAddress | undefined {
  const ip = t.ips[slot.ip];
  const port = t.ports[slot.port];
  if (ip === undefined || port === undefined || isWildcard(ip)) return undefined;
  return { ip, port };
}

/** The slots a topology listens on. */
export function topologySlots(t: ServerTopology): SocketSlot[] {
  switch (t.mode) {
    case 'basic':
      return [{ ip: 0, port: 0 }];
    case 'change-port':
      return [
        { ip: 0, port: 0 },
        { ip: 0, port: 1 },
      ];
    case 'rfc5780':
      return [
        { ip: 0, port: 0 },
        { ip: 0, port: 1 },
        { ip: 1, port: 0 },
        { ip: 1, port: 1 },
      ];
  }
}

/** OTHER-ADDRESS for a request that came in on `slot`: Ca:Cp (rfc5780), A1:Cp (change-port), none (basic). */
export function otherAddressFor(t: ServerTopology, slot: SocketSlot): StunAddress | undefined {
  if (t.mode === 'basic') return undefined;
  const other: SocketSlot = { ip: t.mode === 'rfc5780' ? (slot.ip === 0 ? 1 : 0) : 0, port: slot.port === 0 ? 1 : 0 };
  return slotAddress(t, other);
}

/**
 * Answers one datagram that arrived on socket `receivedOn` from `client` (the UDP source, IPv4 as
 * dotted quad even on a dual-stack socket). Never throws for any input bytes.
 */
export function answerDatagram(datagram: Uint8Array, client: StunAddress, receivedOn: SocketSlot, topology: ServerTopology, software: string): Outcome {
  if (datagram.length < HEADER_BYTES) return { kind: 'drop', reason: 'short', detail: `${datagram.length} bytes` };
  if (datagram.length > MAX_REQUEST_BYTES) return { kind: 'drop', reason: 'oversize', detail: `${datagram.length} bytes` };
  if (!isStun(datagram)) return { kind: 'drop', reason: 'not-stun' };
  const type = (datagram[0] << 8) | datagram[1];
  // Only a Binding request is ever answered; decide that from the header before reading attributes.
  if (type === BINDING_INDICATION_TYPE) return { kind: 'drop', reason: 'indication' };
  if (type !== BINDING_REQUEST_TYPE) {
    const cls = ((type >> 7) & 2) | ((type >> 4) & 1);
    return cls === 0 ? { kind: 'drop', reason: 'unsupported-method', detail: `type 0x${type.toString(16).padStart(4, '0')}` } : { kind: 'drop', reason: 'not-request', detail: `type 0x${type.toString(16).padStart(4, '0')}` };
  }
  const fingerprint = true;
  let message;
  let responsePort: number | undefined;
  try {
    try {
      message = parseMessage(datagram);
    } catch (err) {
      // RESPONSE-PORT (RFC 5780 section 7.5) is unknown to the codec: read it here, then parse the rest.
      if (!(err instanceof UnknownComprehensionRequiredError) || err.types.length !== 1 || err.types[0] !== RESPONSE_PORT) throw err;
      const split = splitResponsePort(datagram);
      if (typeof split === 'string') return { kind: 'drop', reason: 'malformed', detail: split };
      message = parseMessage(split.rest);
      responsePort = split.port;
    }
  } catch (err) {
    if (err instanceof UnknownComprehensionRequiredError) {
      // RFC 8489 section 6.3.1.1: a request with unknown comprehension-required attributes gets 420
      // listing them (bounded, so the reply stays small).
      const bytes = bindingError(err.transactionId, 420, 'Unknown Attribute', { unknownAttributes: err.types.slice(0, MAX_UNKNOWN_LISTED), software, fingerprint });
      return { kind: 'reply', answer: 'unknown-attribute', via: receivedOn, bytes };
    }
    if (err instanceof FingerprintMismatchError) return { kind: 'drop', reason: 'bad-fingerprint', detail: err.message };
    if (err instanceof MalformedAttributeError) return { kind: 'drop', reason: 'malformed', detail: err.message };
    if (err instanceof NotStunError) return { kind: 'drop', reason: 'not-stun' };
    throw err;
  }
  if (message.method !== METHOD_BINDING || message.class !== 'request') return { kind: 'drop', reason: 'unsupported-method' };

  let via: SocketSlot = receivedOn;
  const change = message.changeRequest;
  if (change) {
    const possible = topology.mode === 'rfc5780' || (topology.mode === 'change-port' && !change.changeIp);
    if (!possible) {
      const bytes = bindingError(message.transactionId, 420, 'Unknown Attribute', { unknownAttributes: [ATTR.CHANGE_REQUEST], software, fingerprint });
      return { kind: 'reply', answer: 'change-unavailable', via: receivedOn, bytes };
    }
    via = { ip: change.changeIp ? (receivedOn.ip === 0 ? 1 : 0) : receivedOn.ip, port: change.changePort ? (receivedOn.port === 0 ? 1 : 0) : receivedOn.port };
  }
  const bytes = bindingSuccess(message.transactionId, {
    xorMapped: client,
    // RFC 5780 section 6.1: "The server MUST include both MAPPED-ADDRESS and XOR-MAPPED-ADDRESS".
    mapped: client,
    responseOrigin: slotAddress(topology, via),
    otherAddress: otherAddressFor(topology, receivedOn),
    software,
    fingerprint,
  });
  return { kind: 'reply', answer: 'success', via, bytes, ...(responsePort !== undefined ? { port: responsePort } : {}) };
}

/**
 * The port a RESPONSE-PORT attribute asks for, and the request without it (and without
 * FINGERPRINT, which the codec has already checked on the original), for the codec to read the rest.
 * Only called after the codec walked the attributes, so the TLV structure is sound.
 */
function splitResponsePort(datagram: Uint8Array): { port: number; rest: Uint8Array } | string {
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const attributes: StunAttribute[] = [];
  let port: number | undefined;
  for (let at = HEADER_BYTES; at + 4 <= datagram.length; ) {
    const type = view.getUint16(at);
    const length = view.getUint16(at + 2);
    const value = datagram.slice(at + 4, at + 4 + length);
    if (type === RESPONSE_PORT) {
      if (length !== 4) return `RESPONSE-PORT of ${length} bytes, want 4`;
      if (port === undefined) port = view.getUint16(at + 4);
    } else if (type !== ATTR.FINGERPRINT) attributes.push({ type, value });
    at += 4 + ((length + 3) & ~3);
  }
  if (!port) return 'RESPONSE-PORT 0';
  return { port, rest: encodeMessage({ class: 'request', method: METHOD_BINDING, transactionId: datagram.slice(8, HEADER_BYTES), attributes }) };
}

/** "A1:P1" style label of a slot, for logs. */
export function slotLabel(t: ServerTopology, slot: SocketSlot): string {
  const ip = t.ips[slot.ip];
  const port = t.ports[slot.port];
  return formatEndpoint({ ip: parseIp(ip), port });
}
