import { Cidr, cidrContains, formatCidr, formatIp, IpAddress, parseCidr, parseIp } from '@wgmesh/netaddr';

/**
 * The tunnel addresses a mesh CIDR can hand out, as offsets from its start (pure arithmetic; the
 * claims are the membership's). Skipped: the network address, the IPv4 broadcast address (for
 * prefixes up to /30) and every reserved address (the registry's own).
 */
export class AddressError extends Error {
  override readonly name = 'AddressError';
}

/** Allocatable range cap (2^32 hosts is more than any mesh). */
const MAX_HOSTS = 2 ** 32;

export class AddressPlan {
  readonly cidr: Cidr;
  readonly text: string;
  readonly first: number;
  readonly count: number;
  private readonly reserved: Set<number>;

  constructor(meshCidr: string, reserved: readonly string[] = []) {
    this.cidr = parseCidr(meshCidr);
    this.text = formatCidr(this.cidr);
    ({ first: this.first, count: this.count } = hostRange(this.cidr));
    this.reserved = new Set(reserved.map((a) => this.offsetOf(a)));
  }

  /** True when the offset may be handed to a member. */
  allocatable(offset: number): boolean {
    return offset >= this.first && offset < this.first + this.count && !this.reserved.has(offset);
  }

  /** The host address at an offset from the start of the CIDR. */
  addressAt(offset: number): string {
    const bytes = Uint8Array.from(this.cidr.address.bytes);
    let carry = BigInt(offset);
    for (let i = bytes.length - 1; i >= 0 && carry > 0n; i--) {
      const sum = BigInt(bytes[i]) + (carry & 0xffn);
      bytes[i] = Number(sum & 0xffn);
      carry = (carry >> 8n) + (sum >> 8n);
    }
    return formatIp({ family: this.cidr.address.family, bytes });
  }

  /** The offset of an address inside the CIDR (an address with a prefix length is taken as its host). */
  offsetOf(address: string): number {
    const ip: IpAddress = parseIp(address.replace(/\/\d+$/, ''));
    if (!cidrContains(this.cidr, ip)) throw new AddressError(`${address} is not inside the mesh CIDR ${this.text}`);
    let diff = 0n;
    for (let i = 0; i < ip.bytes.length; i++) diff = (diff << 8n) | BigInt(ip.bytes[i] - this.cidr.address.bytes[i]);
    if (diff > BigInt(Number.MAX_SAFE_INTEGER)) throw new AddressError(`${address} is beyond the allocatable part of ${this.text}`);
    return Number(diff);
  }

  /** The host prefix of an address: "10.99.0.5/32", "fd99::5/128". */
  hostPrefix(address: string): string {
    return `${address}/${address.includes(':') ? 128 : 32}`;
  }
}

/** The allocatable offsets of a prefix: [first, first + count). */
export function hostRange(cidr: Cidr): { first: number; count: number } {
  const bits = (cidr.address.family === 4 ? 32 : 128) - cidr.prefixLength;
  const size = bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits;
  if (cidr.address.family === 4 && bits <= 1) return { first: 0, count: size }; // /31, /32 (RFC 3021)
  const last = cidr.address.family === 4 ? size - 2 : size - 1; // no broadcast in IPv6
  return { first: 1, count: Math.min(last, MAX_HOSTS) };
}
