import { answer } from './answer';
import { CachedResponse, CacheKey, ResponseCache } from './cache';
import { DEFAULT_EDNS_PAYLOAD, MAX_EDNS_PAYLOAD, Rcode, rcodeName, TCP_LIMIT, typeName, UDP_LIMIT } from './codes';
import { encodeResponse } from './encode';
import { wireNameToText } from './names';
import type { PeerIndex } from './peer-index';
import { asBuffer, Question, QueryScan, Scan, scanQuery } from './query';
import type { Answer } from './records';
import { compileZones, DnsSdConfigError, Zone, ZoneOptions } from './zone';

export type Transport = 'udp' | 'tcp';

export interface DnsResponderOptions {
  zones: ZoneOptions[];
  index: PeerIndex;
  /** The EDNS UDP payload size we advertise and accept at most: 512-4096, default 1232. */
  maxUdpPayload?: number;
  /** Response cache bound; 0 disables the cache. Default 100,000 entries (and 64 MiB). */
  cacheMaxEntries?: number;
}

export interface DnsStats {
  /** Queries answered (dropped ones are counted in `dropped`). */
  queries: number;
  byRcode: Record<string, number>;
  byType: Record<string, number>;
  cacheHits: number;
  cacheMisses: number;
  /** Inputs dropped without an answer: under 12 bytes, or a response (QR=1). */
  dropped: number;
}

const DEFAULT_CACHE_ENTRIES = 100_000;
const CACHE_BYTES = 64 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const NO_ANSWER: Answer = { rcode: Rcode.NOERROR, authoritative: false, answers: [], authority: [], additional: [], peer: null };

/**
 * Authoritative DNS-SD over raw messages: `respond()` takes a query (for TCP, without the 2-byte
 * length prefix) and returns the response bytes, or null when the input must be dropped. Pure and
 * synchronous; never throws on any input bytes.
 */
export class DnsResponder {
  private readonly zones: Zone[];
  private readonly index: PeerIndex;
  private readonly maxUdpPayload: number;
  private readonly cache: ResponseCache;
  private readonly scan = new QueryScan();
  private serial = 1;
  private queries = 0;
  private dropped = 0;
  private cacheHits = 0;
  private cacheMisses = 0;
  private readonly key: CacheKey = { msg: Buffer.alloc(0), nameEnd: 0, nameHash: 0, qtype: 0, qclass: 0, sizeKey: 0 };
  /** Per-rcode counts (rcodes are below 32 here); per-type counts for types under 256, then a Map. */
  private readonly rcodeCounts = new Float64Array(32);
  private readonly typeCounts = new Float64Array(256);
  private readonly rareTypeCounts = new Map<number, number>();
  /** The question type of the last `respond()` (-1: no question), for per-query metrics. */
  lastQtype = -1;
  /** The rcode of the last `respond()`'s response (-1: dropped, nothing sent). */
  lastRcode = -1;

  constructor(opts: DnsResponderOptions) {
    this.zones = compileZones(opts.zones);
    this.index = opts.index;
    this.maxUdpPayload = opts.maxUdpPayload ?? DEFAULT_EDNS_PAYLOAD;
    if (!Number.isInteger(this.maxUdpPayload) || this.maxUdpPayload < UDP_LIMIT || this.maxUdpPayload > MAX_EDNS_PAYLOAD) {
      throw new DnsSdConfigError(`maxUdpPayload must be an integer ${UDP_LIMIT}-${MAX_EDNS_PAYLOAD}`);
    }
    const entries = opts.cacheMaxEntries ?? DEFAULT_CACHE_ENTRIES;
    if (!Number.isInteger(entries) || entries < 0) throw new DnsSdConfigError('cacheMaxEntries must be a non-negative integer');
    this.cache = new ResponseCache(entries, CACHE_BYTES);
  }

  /** The SOA serial (the index revision). Cached responses carrying an SOA are rebuilt after a change. */
  setSerial(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new DnsSdConfigError('serial must be an integer 0-4294967295');
    this.serial = n;
  }

  respond(query: Uint8Array, transport: Transport): Buffer | null {
    const msg = asBuffer(query);
    const s = this.scan;
    const status = scanQuery(msg, s);
    if (status === Scan.DROP) {
      this.dropped++;
      this.lastQtype = -1;
      this.lastRcode = -1;
      return null;
    }
    this.queries++;
    this.lastQtype = s.hasQuestion ? s.qtype : -1;
    if (s.hasQuestion) this.countType(s.qtype);
    if (status !== Scan.OK) return this.uncached(msg, status === Scan.NOTIMP ? Rcode.NOTIMP : Rcode.FORMERR, TCP_LIMIT, false);
    if (s.edns && s.ednsVersion > 0) return this.uncached(msg, Rcode.BADVERS, TCP_LIMIT, true);

    const limit = transport === 'tcp' ? TCP_LIMIT : s.edns ? Math.min(s.udpSize, this.maxUdpPayload) : UDP_LIMIT;
    const key = this.key;
    key.msg = msg;
    key.nameEnd = s.nameEnd;
    key.nameHash = s.nameHash;
    key.qtype = s.qtype;
    key.qclass = s.qclass;
    key.sizeKey = limit * 2 + (s.edns ? 1 : 0);
    this.cache.sync(this.index.structureVersion);
    let hit = this.cache.get(key);
    if (hit && (hit.serial < 0 || hit.serial === this.serial) && (hit.peer === null || !hit.peer.retired)) {
      this.cacheHits++;
    } else {
      this.cacheMisses++;
      const question = this.question(msg)!;
      hit = this.build(question, answer(question, { zones: this.zones, index: this.index, serial: this.serial }), limit, s.edns);
      this.cache.set(key, hit);
    }
    key.msg = EMPTY; // do not keep the caller's buffer alive
    this.rcodeCounts[hit.rcode]++;
    this.lastRcode = hit.rcode;
    return this.patch(hit, msg);
  }

  stats(): DnsStats {
    const byRcode: Record<string, number> = {};
    this.rcodeCounts.forEach((n, rcode) => n > 0 && (byRcode[rcodeName(rcode)] = n));
    const byType: Record<string, number> = {};
    this.typeCounts.forEach((n, type) => n > 0 && (byType[typeName(type)] = n));
    for (const [type, n] of this.rareTypeCounts) byType[typeName(type)] = n;
    return { queries: this.queries, byRcode, byType, cacheHits: this.cacheHits, cacheMisses: this.cacheMisses, dropped: this.dropped };
  }

  private countType(qtype: number): void {
    if (qtype < 256) this.typeCounts[qtype]++;
    else this.rareTypeCounts.set(qtype, (this.rareTypeCounts.get(qtype) ?? 0) + 1);
  }

  private question(msg: Buffer): Question | null {
    const s = this.scan;
    return s.hasQuestion ? { name: wireNameToText(msg, 12), type: s.qtype, class: s.qclass } : null;
  }

  /** Errors (FORMERR, NOTIMP, BADVERS) depend on more than the question, so skip the cache. */
  private uncached(msg: Buffer, rcode: number, limit: number, edns: boolean): Buffer {
    this.rcodeCounts[rcode]++;
    this.lastRcode = rcode;
    return this.patch(this.build(this.question(msg), { ...NO_ANSWER, rcode }, limit, edns), msg);
  }

  /** Encodes with the lowercase question, ID 0 and RD 0: the form kept in the cache. */
  private build(question: Question | null, ans: Answer, limit: number, edns: boolean): CachedResponse {
    const s = this.scan;
    const bytes = encodeResponse(
      {
        id: 0,
        opcode: s.opcode,
        rd: false,
        authoritative: ans.authoritative,
        rcode: ans.rcode,
        question,
        answers: ans.answers,
        authority: ans.authority,
        additional: ans.additional,
        edns: edns ? { udpSize: this.maxUdpPayload } : null,
      },
      limit,
    );
    const carriesSoa = ans.authority.length > 0 || ans.answers.some((rr) => rr.type === 'SOA');
    return { bytes, rcode: ans.rcode, qnameLength: question ? s.nameEnd - 12 : 0, serial: carriesSoa ? this.serial : -1, peer: ans.peer };
  }

  /**
   * Copies a prebuilt response and makes it this query's: ID, RD, and the question name's bytes as
   * the client wrote them (same length, so compression pointers into it stay valid).
   */
  private patch(prebuilt: CachedResponse, msg: Buffer): Buffer {
    const s = this.scan;
    const out = Buffer.allocUnsafe(prebuilt.bytes.length);
    out.set(prebuilt.bytes);
    out[0] = msg[0];
    out[1] = msg[1];
    if (s.rd) out[2] |= 0x01;
    if (prebuilt.qnameLength > 0 && prebuilt.qnameLength === s.nameEnd - 12) {
      for (let i = 12; i < s.nameEnd; i++) out[i] = msg[i];
    }
    return out;
  }
}
