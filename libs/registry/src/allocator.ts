import { Cidr, cidrContains, formatCidr, formatIp, IpAddress, parseCidr, parseIp } from '@wgmesh/netaddr';
import { parsePublicKey } from '@wgmesh/contracts';
import type { Redis } from 'ioredis';
import { registryKeys } from './keys';

/**
 * Tunnel addresses for members, from the mesh CIDR, in Redis. One Lua script per operation, so
 * concurrent enrolments never get the same address. Allocation is per public key and idempotent:
 * the same key gets the same address again. Skipped: the network address, the IPv4 broadcast
 * address (for prefixes up to /30) and every reserved address (the registry's own).
 * Offsets are stored relative to the CIDR, which is recorded on first use; a different CIDR later
 * is refused rather than silently renumbering the mesh.
 */
export class AllocatorError extends Error {
  override readonly name = 'AllocatorError';
  constructor(
    readonly code: 'full' | 'cidr_changed' | 'outside' | 'taken',
    message: string,
  ) {
    super(message);
  }
}

/** At most this many offsets are tried per allocation (keeps each Lua call short). */
const MAX_PROBES = 1 << 17;
/** Allocatable range cap (Lua numbers are doubles; 2^32 hosts is more than any mesh). */
const MAX_HOSTS = 2 ** 32;

const ALLOCATE = `
local cidr = redis.call('HGET', KEYS[3], 'cidr')
if cidr and cidr ~= ARGV[2] then return {'cidr_changed', cidr} end
if not cidr then redis.call('HSET', KEYS[3], 'cidr', ARGV[2]) end
local have = redis.call('HGET', KEYS[1], ARGV[1])
if have then return {'ok', have} end
local reserved = {}
for i = 6, #ARGV do reserved[ARGV[i]] = true end
local first = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local probes = math.min(count, tonumber(ARGV[5]))
local nxt = tonumber(redis.call('HGET', KEYS[3], 'next') or ARGV[3])
if nxt < first or nxt >= first + count then nxt = first end
for i = 0, probes - 1 do
  local off = string.format('%d', first + ((nxt - first + i) % count))
  if not reserved[off] and redis.call('HSETNX', KEYS[2], off, ARGV[1]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], off)
    redis.call('HSET', KEYS[3], 'next', string.format('%d', tonumber(off) + 1))
    return {'ok', off}
  end
end
return {'full', ''}
`;

const CLAIM = `
local cidr = redis.call('HGET', KEYS[3], 'cidr')
if cidr and cidr ~= ARGV[2] then return {'cidr_changed', cidr} end
if not cidr then redis.call('HSET', KEYS[3], 'cidr', ARGV[2]) end
local have = redis.call('HGET', KEYS[1], ARGV[1])
if have then return {'ok', have} end
local owner = redis.call('HGET', KEYS[2], ARGV[3])
if owner then return {'taken', owner} end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'ok', ARGV[3]}
`;

const RELEASE = `
local off = redis.call('HGET', KEYS[1], ARGV[1])
if not off then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], off) == ARGV[1] then redis.call('HDEL', KEYS[2], off) end
return off
`;

interface ScriptedRedis {
  wgmeshAddrAllocate(byKey: string, byOffset: string, meta: string, ...args: string[]): Promise<[string, string]>;
  wgmeshAddrClaim(byKey: string, byOffset: string, meta: string, key: string, cidr: string, offset: string): Promise<[string, string]>;
  wgmeshAddrRelease(byKey: string, byOffset: string, key: string): Promise<string | null>;
}

export interface AllocatorOptions {
  /** Addresses never handed out, e.g. the registry's own tunnel address. */
  reserved?: string[];
}

export class AddressAllocator {
  readonly cidr: Cidr;
  private readonly cidrText: string;
  private readonly keys: ReturnType<typeof registryKeys>;
  private readonly first: number;
  private readonly count: number;
  private readonly reserved: string[];
  private readonly scripted: ScriptedRedis;

  constructor(
    private readonly redis: Redis,
    private readonly mesh: string,
    meshCidr: string,
    options: AllocatorOptions = {},
  ) {
    this.cidr = parseCidr(meshCidr);
    this.cidrText = formatCidr(this.cidr);
    this.keys = registryKeys(mesh);
    const range = hostRange(this.cidr);
    this.first = range.first;
    this.count = range.count;
    this.reserved = (options.reserved ?? []).map((a) => String(this.offsetOf(a)));
    redis.defineCommand('wgmeshAddrAllocate', { numberOfKeys: 3, lua: ALLOCATE });
    redis.defineCommand('wgmeshAddrClaim', { numberOfKeys: 3, lua: CLAIM });
    redis.defineCommand('wgmeshAddrRelease', { numberOfKeys: 2, lua: RELEASE });
    this.scripted = redis as unknown as ScriptedRedis;
  }

  /** The address of `publicKey`: the one it already has, or the next free one. */
  async allocate(publicKey: string): Promise<string> {
    const key = parsePublicKey(publicKey, 'publicKey');
    const [status, value] = await this.scripted.wgmeshAddrAllocate(
      this.keys.addressByKey, this.keys.keyByAddress, this.keys.addressMeta,
      key, this.cidrText, String(this.first), String(this.count), String(MAX_PROBES), ...this.reserved,
    );
    return this.result(status, value);
  }

  /**
   * Records that `publicKey` already uses `address` (a peer found on an adopted hub device), so
   * the address is never handed to anyone else. Returns the key's address: `address`, or the one
   * it had; an address owned by another key is refused (`taken`).
   */
  async claim(publicKey: string, address: string): Promise<string> {
    const key = parsePublicKey(publicKey, 'publicKey');
    const offset = this.offsetOf(address);
    const [status, value] = await this.scripted.wgmeshAddrClaim(this.keys.addressByKey, this.keys.keyByAddress, this.keys.addressMeta, key, this.cidrText, String(offset));
    if (status === 'taken') throw new AllocatorError('taken', `${address} already belongs to ${value}`);
    return this.result(status, value);
  }

  /** The address of `publicKey`, or null. */
  async lookup(publicKey: string): Promise<string | null> {
    const off = await this.redis.hget(this.keys.addressByKey, parsePublicKey(publicKey, 'publicKey'));
    return off === null ? null : this.addressAt(Number(off));
  }

  /** Frees the address of `publicKey`; returns it, or null when it had none. */
  async release(publicKey: string): Promise<string | null> {
    const off = await this.scripted.wgmeshAddrRelease(this.keys.addressByKey, this.keys.keyByAddress, parsePublicKey(publicKey, 'publicKey'));
    return off === null ? null : this.addressAt(Number(off));
  }

  /** Every allocation: public key → address. */
  async list(): Promise<Map<string, string>> {
    const all = await this.redis.hgetall(this.keys.addressByKey);
    return new Map(Object.entries(all).map(([k, off]) => [k, this.addressAt(Number(off))]));
  }

  /** Forgets every allocation and the recorded CIDR. */
  async clear(): Promise<void> {
    await AddressAllocator.clearMesh(this.redis, this.mesh);
  }

  /** Forgets every allocation of a mesh and its recorded CIDR (no CIDR needed, for `registry init`). */
  static async clearMesh(redis: Redis, mesh: string): Promise<void> {
    const k = registryKeys(mesh);
    await redis.del(k.addressByKey, k.keyByAddress, k.addressMeta);
  }

  /** How many addresses a mesh has allocated. */
  static count(redis: Redis, mesh: string): Promise<number> {
    return redis.hlen(registryKeys(mesh).addressByKey);
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

  /** The offset of an address inside the CIDR (throws `outside`). */
  offsetOf(address: string): number {
    const ip: IpAddress = parseIp(address.replace(/\/\d+$/, ''));
    if (!cidrContains(this.cidr, ip)) throw new AllocatorError('outside', `${address} is not inside the mesh CIDR ${this.cidrText}`);
    let diff = 0n;
    for (let i = 0; i < ip.bytes.length; i++) diff = (diff << 8n) | BigInt(ip.bytes[i] - this.cidr.address.bytes[i]);
    if (diff > BigInt(Number.MAX_SAFE_INTEGER)) throw new AllocatorError('outside', `${address} is beyond the allocatable part of ${this.cidrText}`);
    return Number(diff);
  }

  private result(status: string, value: string): string {
    if (status === 'ok') return this.addressAt(Number(value));
    if (status === 'cidr_changed') {
      throw new AllocatorError('cidr_changed', `addresses of this mesh were allocated from ${value}, not ${this.cidrText}; run "wgmesh registry init --yes" to start over`);
    }
    throw new AllocatorError('full', `no free address left in the mesh CIDR ${this.cidrText}`);
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
