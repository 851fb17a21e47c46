import { AddressError, formatIp, IpAddress, parseIp } from '@wgmesh/netaddr';
import { ApiDefinitions, ApiField, ApiType } from './definitions';
import type { TypeCodec } from './wire';
import { describeValue, WireReader, WireWriter } from './wire';

/**
 * Text forms for VPP's address types, as the golden capture shows them:
 * `ip4_address` "10.10.0.1", `ip6_address` "2001:db8::2", `address` either of them (af + 16-byte
 * union), `prefix` / `address_with_prefix` / `ip4_prefix` / `ip6_prefix` "10.100.0.2/32" (the
 * address as sent, not masked). Used only when the definition has the layout we know; any other
 * layout falls back to the generic struct codec.
 */
export function ipCodecFor(t: ApiType, defs: ApiDefinitions): TypeCodec | undefined {
  if (t.kind === 'alias' && t.type === 'u8') {
    if (t.name === 'ip4_address' && t.length === 4) return IP4;
    if (t.name === 'ip6_address' && t.length === 16) return IP6;
  }
  if (t.kind !== 'struct') return undefined;
  if (t.name === 'address' && isAddressLayout(t.fields, defs)) return ADDRESS;
  if (t.name === 'prefix' && isPrefixOf(t.fields, 'vl_api_address_t') && isAddressLayout(fieldsOf(defs, 'address'), defs)) {
    return new PrefixCodec(ADDRESS, undefined);
  }
  if (t.name === 'ip4_prefix' && isPrefixOf(t.fields, 'vl_api_ip4_address_t') && isAlias(defs, 'ip4_address', 4)) return new PrefixCodec(IP4, 4);
  if (t.name === 'ip6_prefix' && isPrefixOf(t.fields, 'vl_api_ip6_address_t') && isAlias(defs, 'ip6_address', 16)) return new PrefixCodec(IP6, 6);
  return undefined;
}

function fieldsOf(defs: ApiDefinitions, name: string): readonly ApiField[] {
  const t = defs.type(name);
  return t && (t.kind === 'struct' || t.kind === 'union') ? t.fields : [];
}

function isAlias(defs: ApiDefinitions, name: string, length: number): boolean {
  const t = defs.type(name);
  return t?.kind === 'alias' && t.type === 'u8' && t.length === length;
}

function isPlain(f: ApiField | undefined, name: string, type: string): boolean {
  return !!f && f.name === name && f.type === type && f.length === undefined && f.countField === undefined;
}

function isPrefixOf(fields: readonly ApiField[], addressType: string): boolean {
  return fields.length === 2 && isPlain(fields[0], 'address', addressType) && isPlain(fields[1], 'len', 'u8');
}

function isAddressLayout(fields: readonly ApiField[], defs: ApiDefinitions): boolean {
  if (fields.length !== 2 || !isPlain(fields[0], 'af', 'vl_api_address_family_t') || !isPlain(fields[1], 'un', 'vl_api_address_union_t')) return false;
  const af = defs.type('address_family');
  const un = defs.type('address_union');
  return (
    af?.kind === 'enum' &&
    af.type === 'u8' &&
    af.values.get('ADDRESS_IP4') === 0 &&
    af.values.get('ADDRESS_IP6') === 1 &&
    un?.kind === 'union' &&
    un.fields.length === 2 &&
    isPlain(un.fields[0], 'ip4', 'vl_api_ip4_address_t') &&
    isPlain(un.fields[1], 'ip6', 'vl_api_ip6_address_t') &&
    isAlias(defs, 'ip4_address', 4) &&
    isAlias(defs, 'ip6_address', 16)
  );
}

function parseAddress(w: WireWriter, value: unknown, path: string, family?: 4 | 6): IpAddress {
  if (typeof value !== 'string') w.fail(path, `expected an IP address string, got ${describeValue(value)}`);
  let ip: IpAddress;
  try {
    ip = parseIp(value);
  } catch (e) {
    return w.fail(path, e instanceof AddressError ? e.message : String(e));
  }
  if (family && ip.family !== family) w.fail(path, `expected an IPv${family} address, got "${value}"`);
  return ip;
}

class FixedIpCodec implements TypeCodec {
  readonly minSize: number;
  readonly zeroIfAbsent = true;
  constructor(
    readonly family: 4 | 6,
    readonly fixedSize: number,
  ) {
    this.minSize = fixedSize;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    const at = w.reserve(this.fixedSize);
    if (value !== undefined) w.buffer.set(parseAddress(w, value, path, this.family).bytes, at);
  }

  decode(r: WireReader, path: string): unknown {
    return formatIp({ family: this.family, bytes: r.view(this.fixedSize, path) });
  }
}

const IP4 = new FixedIpCodec(4, 4);
const IP6 = new FixedIpCodec(6, 16);

/** `vl_api_address_t`: u8 af (0 IPv4, 1 IPv6) + 16-byte union; IPv4 fills the first 4 bytes. */
class AddressCodec implements TypeCodec {
  readonly fixedSize = 17;
  readonly minSize = 17;
  readonly zeroIfAbsent = true;

  encode(w: WireWriter, value: unknown, path: string): void {
    const at = w.reserve(17);
    if (value === undefined) return;
    const ip = parseAddress(w, value, path);
    w.buffer[at] = ip.family === 4 ? 0 : 1;
    w.buffer.set(ip.bytes, at + 1);
  }

  decode(r: WireReader, path: string): unknown {
    const b = r.view(17, path);
    if (b[0] === 0) return formatIp({ family: 4, bytes: b.subarray(1, 5) });
    if (b[0] === 1) return formatIp({ family: 6, bytes: b.subarray(1, 17) });
    return r.fail(path ? `${path}.af` : 'af', `address family ${b[0]} is neither 0 (IPv4) nor 1 (IPv6)`);
  }
}

const ADDRESS = new AddressCodec();

/** An address codec + u8 len, as "address/len". A bare address is a host prefix. */
class PrefixCodec implements TypeCodec {
  readonly fixedSize: number;
  readonly minSize: number;
  readonly zeroIfAbsent = true;

  constructor(
    private readonly address: TypeCodec,
    private readonly family: 4 | 6 | undefined,
  ) {
    this.fixedSize = (address.fixedSize as number) + 1;
    this.minSize = this.fixedSize;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    if (value === undefined) {
      w.reserve(this.fixedSize);
      return;
    }
    if (typeof value !== 'string') w.fail(path, `expected a prefix string like "10.0.0.0/24", got ${describeValue(value)}`);
    const slash = value.indexOf('/');
    const addr = slash < 0 ? value : value.slice(0, slash);
    const ip = parseAddress(w, addr, path, this.family);
    const max = ip.family === 4 ? 32 : 128;
    const lenText = slash < 0 ? String(max) : value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) w.fail(path, `"${value}" has an invalid prefix length (0-${max})`);
    this.address.encode(w, addr, path);
    const at = w.reserve(1);
    w.buffer[at] = Number(lenText);
  }

  decode(r: WireReader, path: string): unknown {
    const addr = this.address.decode(r, path ? `${path}.address` : 'address');
    const len = r.view(1, path ? `${path}.len` : 'len')[0];
    return `${addr as string}/${len}`;
  }
}

