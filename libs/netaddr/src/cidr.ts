import { AddressError, formatIp, IpAddress, parseIp } from './ip';

/** A network prefix. `address` has its host bits cleared. */
export interface Cidr {
  readonly address: IpAddress;
  readonly prefixLength: number;
}

/**
 * Parses "10.0.0.0/24" or "fd00::/64". A bare address is a host prefix (/32 or /128), as
 * WireGuard's allowed-ips accept it. Host bits are cleared, as `wg` shows them.
 */
export function parseCidr(text: string): Cidr {
  if (typeof text !== 'string') throw new AddressError('prefix must be a string');
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  const max = address.family === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash >= 0) {
    const len = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) {
      throw new AddressError(`"${text}" has an invalid prefix length (0-${max})`);
    }
    prefixLength = Number(len);
  }
  return { address: maskBytes(address, prefixLength), prefixLength };
}

function maskBytes(ip: IpAddress, prefixLength: number): IpAddress {
  const bytes = Uint8Array.from(ip.bytes);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLength - i * 8));
    bytes[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return { family: ip.family, bytes };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.address)}/${cidr.prefixLength}`;
}

/** Canonical text of a prefix ("10.0.0.7/24" → "10.0.0.0/24", "fd00::1" → "fd00::1/128"). */
export function canonicalCidr(text: string): string {
  return formatCidr(parseCidr(text));
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.address.family !== ip.family) return false;
  const full = cidr.prefixLength >> 3;
  for (let i = 0; i < full; i++) if (cidr.address.bytes[i] !== ip.bytes[i]) return false;
  const rest = cidr.prefixLength & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (cidr.address.bytes[full] & mask) === (ip.bytes[full] & mask);
}
