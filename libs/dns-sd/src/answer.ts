import { cidrContains, IpAddress, isIp, parseIp } from '@wgmesh/netaddr';
import { CLASS_IN, Rcode, RrType } from './codes';
import { joinName, relativeName } from './names';
import type { PeerEntry } from './peer-entry';
import type { PeerIndex } from './peer-index';
import type { Question } from './query';
import type { Answer, ResourceRecord, SoaRecord } from './records';
import { findZone, SERVICE_LABELS, Zone } from './zone';

export interface AnswerContext {
  /** As ordered by compileZones (most specific first). */
  zones: readonly Zone[];
  index: PeerIndex;
  /** SOA serial: the index revision. */
  serial: number;
}

const INSTANCE_SUFFIX = `.${SERVICE_LABELS}`;

/**
 * Answers one question from the zones and the index, as records (no wire format). See the README
 * for the record format; it follows wgsd.
 */
export function answer(q: Question, ctx: AnswerContext): Answer {
  if (q.class !== CLASS_IN) return refused();
  const zone = findZone(ctx.zones, q.name);
  if (!zone || q.type === RrType.AXFR || q.type === RrType.IXFR) return refused();
  const any = q.type === RrType.ANY;
  const rel = relativeName(q.name, zone.origin);

  if (rel === '') return q.type === RrType.SOA || any ? found([soa(zone, ctx.serial, zone.soa.ttl)]) : negative(Rcode.NOERROR, zone, ctx);
  if (rel === '_udp.') return negative(Rcode.NOERROR, zone, ctx); // an empty non-terminal
  if (rel === SERVICE_LABELS) {
    const ptrs = q.type === RrType.PTR || any ? listing(q.name, zone, ctx.index) : [];
    return ptrs.length > 0 ? found(ptrs) : negative(Rcode.NOERROR, zone, ctx);
  }
  if (!rel.endsWith(INSTANCE_SUFFIX) || rel.includes('\\')) return negative(Rcode.NXDOMAIN, zone, ctx);

  const entry = resolveInstance(rel.slice(0, rel.length - INSTANCE_SUFFIX.length), zone, ctx.index);
  if (!entry || !entry.endpoint) return negative(Rcode.NXDOMAIN, zone, ctx);
  const endpoint = entry.endpoint;
  const instance = joinName(`${entry.b32}${INSTANCE_SUFFIX}`, zone.origin);
  const hostType = endpoint.ip.family === 4 ? RrType.A : RrType.AAAA;

  if (q.type === RrType.SRV || any) {
    return found(
      [{ type: 'SRV', name: q.name, ttl: zone.ttl, priority: 0, weight: 0, port: endpoint.port, target: instance }],
      [host(instance, zone.ttl, endpoint.ip), { type: 'TXT', name: instance, ttl: zone.ttl, strings: entry.txt }],
      entry,
    );
  }
  if (q.type === hostType) return found([host(q.name, zone.ttl, endpoint.ip)], [], entry);
  if (q.type === RrType.TXT) return found([{ type: 'TXT', name: q.name, ttl: zone.ttl, strings: entry.txt }], [], entry);
  return negative(Rcode.NOERROR, zone, ctx, entry); // NODATA depends on this peer (e.g. A asked, IPv6 endpoint)
}

/** The peer an instance label names: its base32 key, or a tunnel address (README, "Lookup by address"). */
function resolveInstance(instance: string, zone: Zone, index: PeerIndex): PeerEntry | undefined {
  if (instance.length === 56 && !instance.includes('.')) {
    return zone.self?.b32 === instance ? zone.self : index.byBase32(instance);
  }
  const ip = instanceAddress(instance);
  if (!ip) return undefined;
  const match = index.lookupAddress(ip);
  const selfLength = zone.self ? longestMatch(zone.self, ip) : -1;
  if (zone.self && selfLength >= (match?.prefixLength ?? 0)) return zone.self;
  return match?.entry;
}

/** "10.99.0.2" (four labels) or "fd00--2" (one label, ":" written as "-"). */
function instanceAddress(instance: string): IpAddress | undefined {
  if (instance.includes('.')) {
    if (!isIp(instance)) return undefined;
    const ip = parseIp(instance);
    return ip.family === 4 ? ip : undefined;
  }
  if (!instance.includes('-') || instance.includes(':')) return undefined;
  const text = instance.replaceAll('-', ':');
  return isIp(text) ? parseIp(text) : undefined;
}

function longestMatch(entry: PeerEntry, ip: IpAddress): number {
  let best = -1;
  for (const cidr of entry.prefixes) if (cidr.prefixLength > best && cidrContains(cidr, ip)) best = cidr.prefixLength;
  return best;
}

function listing(name: string, zone: Zone, index: PeerIndex): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  const self = zone.self;
  for (const entry of index.entries()) {
    if (entry.endpoint === null || entry.b32 === self?.b32) continue;
    out.push({ type: 'PTR', name, ttl: zone.ttl, target: `${entry.b32}.${zone.serviceName}` });
  }
  if (self) out.push({ type: 'PTR', name, ttl: zone.ttl, target: `${self.b32}.${zone.serviceName}` });
  return out;
}

function host(name: string, ttl: number, address: IpAddress): ResourceRecord {
  return { type: address.family === 4 ? 'A' : 'AAAA', name, ttl, address };
}

function soa(zone: Zone, serial: number, ttl: number): SoaRecord {
  const s = zone.soa;
  return { type: 'SOA', name: zone.origin, ttl, mname: s.mname, rname: s.rname, serial, refresh: s.refresh, retry: s.retry, expire: s.expire, minimum: s.minimum };
}

function found(answers: ResourceRecord[], additional: ResourceRecord[] = [], peer: PeerEntry | null = null): Answer {
  return { rcode: Rcode.NOERROR, authoritative: true, answers, authority: [], additional, peer };
}

/** NXDOMAIN, or NODATA (NOERROR, no answers): the SOA in authority, TTL per RFC 2308 section 3. */
function negative(rcode: number, zone: Zone, ctx: AnswerContext, peer: PeerEntry | null = null): Answer {
  const ttl = Math.min(zone.soa.ttl, zone.soa.minimum);
  return { rcode, authoritative: true, answers: [], authority: [soa(zone, ctx.serial, ttl)], additional: [], peer };
}

function refused(): Answer {
  return { rcode: Rcode.REFUSED, authoritative: false, answers: [], authority: [], additional: [], peer: null };
}
