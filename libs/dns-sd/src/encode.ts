import { RrType, TCP_LIMIT, UDP_LIMIT } from './codes';
import { labelEnd, writeLabelBytes } from './names';
import type { Question } from './query';
import type { ResourceRecord } from './records';

/** A whole response, before encoding. */
export interface ResponseMessage {
  id: number;
  opcode: number;
  rd: boolean;
  authoritative: boolean;
  /** Up to 12 bits; the upper 8 travel in the OPT RR (so need `edns`). */
  rcode: number;
  question: Question | null;
  answers: readonly ResourceRecord[];
  authority: readonly ResourceRecord[];
  additional: readonly ResourceRecord[];
  /** When set, an OPT RR advertising our UDP payload size ends the additional section. */
  edns: { udpSize: number } | null;
}

const HEADER = 12;
const OPT_SIZE = 11;
const MAX_POINTER = 0x3fff;
/** Room for a whole message plus one record that may overflow it before being rolled back. */
let scratch: Buffer | null = null;

/**
 * Encodes a response of at most `limit` bytes, compressing names (RFC 1035 4.1.4; not SRV
 * targets, per RFC 2782). When it does not fit: additional records are dropped first (no TC);
 * then answers and authority are cut at a whole record and TC is set (RFC 2181 section 9).
 */
export function encodeResponse(msg: ResponseMessage, limit: number = TCP_LIMIT): Buffer {
  if (!Number.isInteger(limit) || limit < UDP_LIMIT || limit > TCP_LIMIT) {
    throw new RangeError(`response size limit must be ${UDP_LIMIT}-${TCP_LIMIT}, got ${limit}`);
  }
  scratch ??= Buffer.alloc(2 * TCP_LIMIT + 1024);
  const w = new Writer(scratch);
  w.off = HEADER;
  if (msg.question) {
    w.name(msg.question.name, true);
    w.u16(msg.question.type);
    w.u16(msg.question.class);
  }
  const cap = limit - (msg.edns ? OPT_SIZE : 0);
  let truncated = false;
  const an = w.records(msg.answers, cap);
  truncated = an < msg.answers.length;
  const ns = truncated ? 0 : w.records(msg.authority, cap);
  truncated ||= ns < msg.authority.length;
  let ar = truncated ? 0 : w.records(msg.additional, cap);
  if (msg.edns) {
    w.u8(0);
    w.u16(RrType.OPT);
    w.u16(msg.edns.udpSize);
    w.u32(((msg.rcode >> 4) & 0xff) * 0x1000000);
    w.u16(0);
    ar++;
  }

  const buf = w.buf;
  buf[0] = msg.id >> 8;
  buf[1] = msg.id & 0xff;
  buf[2] = 0x80 | ((msg.opcode & 0x0f) << 3) | (msg.authoritative ? 0x04 : 0) | (truncated ? 0x02 : 0) | (msg.rd ? 0x01 : 0);
  buf[3] = msg.rcode & 0x0f;
  buf.writeUInt16BE(msg.question ? 1 : 0, 4);
  buf.writeUInt16BE(an, 6);
  buf.writeUInt16BE(ns, 8);
  buf.writeUInt16BE(ar, 10);
  const out = Buffer.allocUnsafe(w.off);
  buf.copy(out, 0, 0, w.off);
  return out;
}

class Writer {
  off = 0;
  /** Lowercase name suffix → offset of its first occurrence. */
  private readonly seen = new Map<string, number>();

  constructor(readonly buf: Buffer) {}

  /** Writes records while they fit under `cap`; returns how many were written. */
  records(list: readonly ResourceRecord[], cap: number): number {
    for (let i = 0; i < list.length; i++) {
      const mark = this.off;
      this.record(list[i]);
      if (this.off > cap) {
        this.off = mark;
        return i;
      }
    }
    return list.length;
  }

  private record(rr: ResourceRecord): void {
    this.name(rr.name, true);
    this.u16(RrType[rr.type]);
    this.u16(1);
    this.u32(rr.ttl);
    const lengthAt = this.off;
    this.off += 2;
    switch (rr.type) {
      case 'PTR':
        this.name(rr.target, true);
        break;
      case 'SRV':
        this.u16(rr.priority);
        this.u16(rr.weight);
        this.u16(rr.port);
        this.name(rr.target, false);
        break;
      case 'A':
      case 'AAAA':
        this.buf.set(rr.address.bytes, this.off);
        this.off += rr.address.bytes.length;
        break;
      case 'TXT':
        for (const s of rr.strings) {
          if (s.length > 255) throw new RangeError(`TXT string longer than 255 bytes: "${s.slice(0, 32)}…"`);
          this.u8(s.length);
          this.off += this.buf.write(s, this.off, 'latin1');
        }
        break;
      case 'SOA':
        this.name(rr.mname, true);
        this.name(rr.rname, true);
        this.u32(rr.serial);
        this.u32(rr.refresh);
        this.u32(rr.retry);
        this.u32(rr.expire);
        this.u32(rr.minimum);
        break;
    }
    const rdlength = this.off - lengthAt - 2;
    if (rdlength > 0xffff) throw new RangeError(`${rr.type} record data of ${rdlength} bytes`);
    this.buf.writeUInt16BE(rdlength, lengthAt);
  }

  /**
   * Writes a presentation name, pointing at an earlier copy of its longest known suffix when
   * `compress`. Every suffix of a name in `seen` is in `seen` too (or lies past the pointer range).
   */
  name(name: string, compress: boolean): void {
    const known = this.seen.get(name);
    if (known !== undefined) {
      if (compress) this.u16(0xc000 | known);
      else this.labels(name, 0, name.length);
      return;
    }
    let start = 0;
    while (start < name.length && name !== '.') {
      const suffix = start === 0 ? name : name.slice(start);
      const at = start === 0 ? undefined : this.seen.get(suffix);
      if (at !== undefined) {
        if (compress) this.u16(0xc000 | at);
        else this.labels(name, start, name.length);
        return;
      }
      if (this.off <= MAX_POINTER) this.seen.set(suffix, this.off);
      start = this.labels(name, start, start + 1);
    }
    this.u8(0);
  }

  /**
   * Writes labels of `name` from `start` until at least `until` (the whole rest, root included,
   * when `until` is the name's length); returns where it stopped.
   */
  private labels(name: string, start: number, until: number): number {
    while (start < until && start < name.length && name !== '.') {
      const end = labelEnd(name, start);
      const n = writeLabelBytes(this.buf, this.off + 1, name, start, end);
      if (n < 1 || n > 63) throw new RangeError(`bad label in "${name}"`);
      this.buf[this.off] = n;
      this.off += 1 + n;
      start = end + 1;
    }
    if (until === name.length) this.u8(0);
    return start;
  }

  u8(v: number): void {
    this.buf[this.off++] = v;
  }

  u16(v: number): void {
    this.buf[this.off] = v >> 8;
    this.buf[this.off + 1] = v & 0xff;
    this.off += 2;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.off);
    this.off += 4;
  }
}
