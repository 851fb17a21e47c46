import { createPeerEntry, PeerEntry } from './peer-entry';
import { inZone, joinName, normalizeName } from './names';

/** The registry's own device, served in a zone like any peer (wgsd's `self` option). */
export interface SelfRecord {
  publicKey: string;
  /** "ip:port" or "[v6]:port" where peers reach the registry. */
  endpoint: string;
  allowedIps: string[];
}

/** SOA fields; defaults follow wgsd (see README). Names are absolute ("ns1.mesh.example."). */
export interface SoaOptions {
  mname?: string;
  rname?: string;
  refresh?: number;
  retry?: number;
  expire?: number;
  /** Negative-caching TTL (RFC 2308). */
  minimum?: number;
  /** TTL of the SOA record itself. */
  ttl?: number;
}

export interface ZoneOptions {
  /** The zone we are authoritative for, e.g. "mesh.example." (trailing dot optional). */
  origin: string;
  /** TTL of the PTR, SRV, A/AAAA and TXT records. Default 0, as wgsd. */
  ttl?: number;
  self?: SelfRecord;
  soa?: SoaOptions;
}

export class DnsSdConfigError extends Error {
  override readonly name = 'DnsSdConfigError';
}

export interface SoaSettings {
  mname: string;
  rname: string;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
  ttl: number;
}

/** A zone ready for answering. */
export interface Zone {
  readonly origin: string;
  readonly ttl: number;
  /** `_wireguard._udp.<origin>`: the DNS-SD service name. */
  readonly serviceName: string;
  readonly self: PeerEntry | null;
  readonly soa: Readonly<SoaSettings>;
}

export const SERVICE_LABELS = '_wireguard._udp.';
const MAX_TTL = 0x7fffffff;
const MAX_U32 = 0xffffffff;

/** wgsd's SOA values (wgsd.go `soa()`), except the serial, which is the index revision. */
export const WGSD_SOA = { refresh: 86400, retry: 7200, expire: 3600000, minimum: 60, ttl: 60 } as const;

/** Validates zone options. Result is ordered most specific origin first (longest suffix wins). */
export function compileZones(options: readonly ZoneOptions[]): Zone[] {
  if (!Array.isArray(options) || options.length === 0) throw new DnsSdConfigError('at least one zone is required');
  const zones = options.map(compileZone);
  const seen = new Set<string>();
  for (const z of zones) {
    if (seen.has(z.origin)) throw new DnsSdConfigError(`zone "${z.origin}" is configured twice`);
    seen.add(z.origin);
  }
  return zones.sort((a, b) => b.origin.length - a.origin.length);
}

export function compileZone(opts: ZoneOptions): Zone {
  const origin = configName(opts.origin, 'zone origin');
  const soa = opts.soa ?? {};
  return {
    origin,
    ttl: integer(opts.ttl ?? 0, `ttl of zone "${origin}"`, MAX_TTL),
    serviceName: joinName(SERVICE_LABELS, origin),
    self: opts.self ? compileSelf(opts.self, origin) : null,
    soa: {
      mname: soa.mname === undefined ? joinName('ns1.', origin) : configName(soa.mname, 'soa.mname'),
      rname: soa.rname === undefined ? joinName('postmaster.', origin) : configName(soa.rname, 'soa.rname'),
      refresh: integer(soa.refresh ?? WGSD_SOA.refresh, 'soa.refresh', MAX_U32),
      retry: integer(soa.retry ?? WGSD_SOA.retry, 'soa.retry', MAX_U32),
      expire: integer(soa.expire ?? WGSD_SOA.expire, 'soa.expire', MAX_U32),
      minimum: integer(soa.minimum ?? WGSD_SOA.minimum, 'soa.minimum', MAX_U32),
      ttl: integer(soa.ttl ?? WGSD_SOA.ttl, 'soa.ttl', MAX_TTL),
    },
  };
}

/** The zone holding `name`: the longest matching origin (zones as ordered by compileZones). */
export function findZone(zones: readonly Zone[], name: string): Zone | undefined {
  for (const zone of zones) if (inZone(name, zone.origin)) return zone;
  return undefined;
}

function compileSelf(self: SelfRecord, origin: string): PeerEntry {
  if (typeof self.endpoint !== 'string') throw new DnsSdConfigError(`self of zone "${origin}" needs an endpoint`);
  try {
    return createPeerEntry({ publicKey: self.publicKey, endpoint: self.endpoint, allowedIps: self.allowedIps }, 0);
  } catch (err) {
    throw new DnsSdConfigError(`self of zone "${origin}": ${(err as Error).message}`);
  }
}

function configName(text: string, what: string): string {
  try {
    return normalizeName(text, what);
  } catch (err) {
    throw new DnsSdConfigError((err as Error).message);
  }
}

function integer(value: number, what: string, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new DnsSdConfigError(`${what} must be an integer 0-${max}`);
  return value;
}
