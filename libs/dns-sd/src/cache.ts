import type { PeerEntry } from './peer-entry';

/** A prebuilt response: ID 0, RD 0, question name lowercase (patched per query, see responder.ts). */
export interface CachedResponse {
  bytes: Buffer;
  rcode: number;
  /** Wire length of the question name in `bytes` (0 when there is no question). */
  qnameLength: number;
  /** The SOA serial it carries, or -1 when it carries no SOA (then the serial does not matter). */
  serial: number;
  /** The peer it was built from; the response is stale once that entry is retired. */
  peer: PeerEntry | null;
}

/** What a response depends on besides the data: the question and the size it must fit. */
export interface CacheKey {
  /** The query; its question name is bytes [12, nameEnd). */
  msg: Buffer;
  nameEnd: number;
  /** FNV-1a of the lowercased name (query.ts computes it while scanning). */
  nameHash: number;
  qtype: number;
  qclass: number;
  /** Size limit × 2, + 1 when the query had EDNS (the response then carries an OPT RR). */
  sizeKey: number;
}

interface Slot {
  /** The question name's wire bytes, lowercase. */
  name: Buffer;
  qtype: number;
  qclass: number;
  sizeKey: number;
  response: CachedResponse;
  next: Slot | null;
}

/**
 * Prebuilt responses keyed by lowercase question name, type, class, size limit and EDNS presence.
 * Slots are found by a 30-bit hash and confirmed by comparing every key field, so no string is
 * built per query. Everything is dropped when the index structure version moves; a response is
 * also stale when its serial (if it carries an SOA) or its peer entry is out of date, which the
 * responder checks on each hit (`isCurrent`). When full (entries or bytes) it starts over.
 */
export class ResponseCache {
  private readonly slots = new Map<number, Slot>();
  private entries = 0;
  private bytes = 0;
  private structureVersion = -1;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.entries;
  }

  /** Call before `get`: clears the cache when the index changed in a way that can touch any answer. */
  sync(structureVersion: number): void {
    if (structureVersion === this.structureVersion) return;
    this.clear();
    this.structureVersion = structureVersion;
  }

  get(k: CacheKey): CachedResponse | undefined {
    return this.find(k)?.response;
  }

  /** Stores a response for `k`, replacing the one held for the same key. */
  set(k: CacheKey, response: CachedResponse): void {
    const cost = response.bytes.length + k.nameEnd - 12;
    if (this.maxEntries === 0 || cost > this.maxBytes) return;
    const held = this.find(k);
    if (held) {
      this.bytes += response.bytes.length - held.response.bytes.length;
      held.response = response;
      return;
    }
    if (this.entries >= this.maxEntries || this.bytes + cost > this.maxBytes) this.clear();
    const name = Buffer.allocUnsafe(k.nameEnd - 12);
    for (let i = 0; i < name.length; i++) name[i] = lower(k.msg[12 + i]);
    const key = slotKey(k);
    this.slots.set(key, { name, qtype: k.qtype, qclass: k.qclass, sizeKey: k.sizeKey, response, next: this.slots.get(key) ?? null });
    this.entries++;
    this.bytes += cost;
  }

  private find(k: CacheKey): Slot | undefined {
    for (let slot: Slot | null | undefined = this.slots.get(slotKey(k)); slot; slot = slot.next) {
      if (slot.qtype === k.qtype && slot.qclass === k.qclass && slot.sizeKey === k.sizeKey && sameName(slot.name, k.msg, k.nameEnd)) {
        return slot;
      }
    }
    return undefined;
  }

  clear(): void {
    this.slots.clear();
    this.entries = 0;
    this.bytes = 0;
  }
}

function slotKey(k: CacheKey): number {
  return (Math.imul(k.nameHash ^ k.qtype, 0x01000193) ^ Math.imul(k.qclass ^ (k.sizeKey << 16), 0x85ebca6b)) & 0x3fffffff;
}

function sameName(lowerName: Buffer, msg: Buffer, nameEnd: number): boolean {
  if (lowerName.length !== nameEnd - 12) return false;
  for (let i = 0; i < lowerName.length; i++) {
    const c = msg[12 + i];
    if (c !== lowerName[i] && lower(c) !== lowerName[i]) return false;
  }
  return true;
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}
