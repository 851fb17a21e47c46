import { isIPv4, isIPv6 } from 'node:net';

/** An IP address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

export class AddressError extends Error {
  override readonly name = 'AddressError';
}

/** Parses a textual IPv4 or IPv6 address (no zone, no brackets). Throws AddressError. */
export function parseIp(text: string): IpAddress {
  if (typeof text !== 'string') throw new AddressError('address must be a string');
  const v4 = dottedQuad(text);
  if (v4) return { family: 4, bytes: v4 };
  if (isIPv4(text)) return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
  if (isIPv6(text) && !text.includes('%')) return { family: 6, bytes: parseIpv6(text) };
  throw new AddressError(`"${text}" is not an IPv4 or IPv6 address`);
}

/**
 * The common case, fast (10,000-peer applies parse every address): canonical dotted decimal,
 * four numbers 0-255 without leading zeros. Anything else goes to node's isIPv4.
 */
function dottedQuad(text: string): Uint8Array | null {
  if (text.length > 15) return null;
  const out = new Uint8Array(4);
  let part = 0;
  let n = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (n < 0 || part > 3) return null;
      out[part++] = n;
      n = -1;
    } else if (c >= 48 && c <= 57) {
      if (n === 0) return null; // a leading zero
      n = n < 0 ? c - 48 : n * 10 + c - 48;
      if (n > 255) return null;
    } else return null;
  }
  return part === 4 ? out : null;
}

export function isIp(text: string): boolean {
  return typeof text === 'string' && (isIPv4(text) || (isIPv6(text) && !text.includes('%')));
}

function parseIpv6(text: string): Uint8Array {
  let head = text;
  const tailV4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tailV4.push(...text.slice(lastColon + 1).split('.').map(Number));
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const fill = right === undefined ? [] : new Array(8 - l.length - r.length).fill(0);
  const all = [...l, ...fill, ...r];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (tailV4.length === 4) bytes.set(tailV4, 12);
  return bytes;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run compressed). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return Array.from(ip.bytes).join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((ip.bytes[i] << 8) | ip.bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Normalises an address's text form ("2001:DB8:0::1" → "2001:db8::1"). */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

export function ipEquals(a: IpAddress, b: IpAddress): boolean {
  if (a.family !== b.family) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}

/** 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address: reachable from this host only. */
export function isLoopback(ip: IpAddress): boolean {
  const b = ip.bytes;
  if (ip.family === 4) return b[0] === 127;
  if (b.subarray(0, 15).every((x) => x === 0)) return b[15] === 1;
  return b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff && b[12] === 127;
}

/** Loopback, unspecified, multicast, or link-local: never a valid peer endpoint on the internet. */
export function isSpecialPurpose(ip: IpAddress): boolean {
  const b = ip.bytes;
  if (ip.family === 4) {
    return b[0] === 127 || b[0] === 0 || b[0] >= 224 || (b[0] === 169 && b[1] === 254);
  }
  const allZero = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (allZero(0, 15) && (b[15] === 0 || b[15] === 1)) return true; // :: and ::1
  return b[0] === 0xff || (b[0] === 0xfe && (b[1] & 0xc0) === 0x80);
}
