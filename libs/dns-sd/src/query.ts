import { OPCODE_QUERY, RrType } from './codes';
import { wireNameToText } from './names';

/**
 * Strict DNS query parsing over raw bytes. Never throws, never follows compression pointers
 * (none are allowed in the question; other names are skipped, not followed), so it always ends.
 */

/** Why a query is answered FORMERR (or NOTIMP for `opcode`). */
export type QueryProblem =
  | 'opcode'
  | 'question-count'
  | 'answer-or-authority'
  | 'pointer-in-question'
  | 'bad-label'
  | 'name-too-long'
  | 'truncated'
  | 'opt-owner'
  | 'duplicate-opt'
  | 'bad-opt-options'
  | 'trailing-bytes';

export interface Question {
  /** Lowercase presentation name with trailing dot (see names.ts). */
  name: string;
  type: number;
  class: number;
}

export interface Edns {
  /** The client's UDP payload size (values under 512 read as 512). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
}

export interface ParsedQuery {
  id: number;
  opcode: number;
  rd: boolean;
  /** The question, when QDCOUNT is 1 and it parsed (also given with some problems). */
  question: Question | null;
  edns: Edns | null;
  problem: QueryProblem | null;
}

/** Outcome of `scanQuery`. */
export const Scan = { DROP: 0, OK: 1, FORMERR: 2, NOTIMP: 3 } as const;

/** What `scanQuery` found: the responder's reusable, allocation-free view of a query. */
export class QueryScan {
  status = 0;
  problem: QueryProblem | null = null;
  id = 0;
  opcode = 0;
  rd = false;
  /** True when the question section (one name, type, class) parsed; it spans [12, questionEnd). */
  hasQuestion = false;
  nameEnd = 0;
  questionEnd = 0;
  /** FNV-1a of the question name's ASCII-lowercased wire bytes (cache key material). */
  nameHash = 0;
  qtype = 0;
  qclass = 0;
  edns = false;
  udpSize = 0;
  ednsVersion = 0;
  dnssecOk = false;
}

const MAX_NAME = 255;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** Scans `msg` into `out`. Returns `out.status` (one of `Scan`). */
export function scanQuery(msg: Buffer, out: QueryScan): number {
  out.problem = null;
  out.hasQuestion = false;
  out.edns = false;
  out.udpSize = 0;
  out.ednsVersion = 0;
  out.dnssecOk = false;
  const len = msg.length;
  if (len < 12 || (msg[2] & 0x80) !== 0) return (out.status = Scan.DROP);
  out.id = (msg[0] << 8) | msg[1];
  out.opcode = (msg[2] >> 3) & 0x0f;
  out.rd = (msg[2] & 0x01) !== 0;
  const qdcount = (msg[4] << 8) | msg[5];
  const ancount = (msg[6] << 8) | msg[7];
  const nscount = (msg[8] << 8) | msg[9];
  const arcount = (msg[10] << 8) | msg[11];

  if (out.opcode !== OPCODE_QUERY) {
    if (qdcount === 1) scanQuestion(msg, out);
    out.problem = 'opcode';
    return (out.status = Scan.NOTIMP);
  }
  if (qdcount !== 1) return formerr(out, 'question-count');
  let pos = scanQuestion(msg, out);
  if (pos < 0) return (out.status = Scan.FORMERR);
  if (ancount !== 0 || nscount !== 0) return formerr(out, 'answer-or-authority');

  for (let i = 0; i < arcount; i++) {
    const nameStart = pos;
    pos = skipName(msg, pos);
    if (pos < 0 || pos + 10 > len) return formerr(out, pos === -2 ? 'bad-label' : 'truncated');
    const type = (msg[pos] << 8) | msg[pos + 1];
    const rdlen = (msg[pos + 8] << 8) | msg[pos + 9];
    const rdata = pos + 10;
    if (rdata + rdlen > len) return formerr(out, 'truncated');
    if (type === RrType.OPT) {
      if (pos !== nameStart + 1) return formerr(out, 'opt-owner');
      if (out.edns) return formerr(out, 'duplicate-opt');
      if (!optionsWellFormed(msg, rdata, rdata + rdlen)) return formerr(out, 'bad-opt-options');
      out.edns = true;
      out.udpSize = Math.max(512, (msg[pos + 2] << 8) | msg[pos + 3]);
      out.ednsVersion = msg[pos + 5];
      out.dnssecOk = (msg[pos + 6] & 0x80) !== 0;
    }
    pos = rdata + rdlen;
  }
  if (pos !== len) return formerr(out, 'trailing-bytes');
  return (out.status = Scan.OK);
}

function formerr(out: QueryScan, problem: QueryProblem): number {
  out.problem = problem;
  return (out.status = Scan.FORMERR);
}

/** Parses the question at offset 12. Returns the offset after it, or -1 (problem set). */
function scanQuestion(msg: Buffer, out: QueryScan): number {
  const len = msg.length;
  let pos = 12;
  let hash = FNV_OFFSET;
  for (;;) {
    if (pos >= len) return fail(out, 'truncated');
    const label = msg[pos];
    if (label === 0) break;
    if (label > 63) return fail(out, label >= 0xc0 ? 'pointer-in-question' : 'bad-label');
    const next = pos + 1 + label;
    if (next > len) return fail(out, 'truncated');
    if (next - 12 + 1 > MAX_NAME) return fail(out, 'name-too-long');
    hash = Math.imul(hash ^ label, FNV_PRIME);
    for (let i = pos + 1; i < next; i++) {
      const c = msg[i];
      hash = Math.imul(hash ^ (c >= 0x41 && c <= 0x5a ? c + 0x20 : c), FNV_PRIME);
    }
    pos = next;
  }
  const nameEnd = pos + 1;
  if (nameEnd + 4 > len) return fail(out, 'truncated');
  out.nameEnd = nameEnd;
  out.questionEnd = nameEnd + 4;
  out.qtype = (msg[nameEnd] << 8) | msg[nameEnd + 1];
  out.qclass = (msg[nameEnd + 2] << 8) | msg[nameEnd + 3];
  out.nameHash = hash >>> 0;
  out.hasQuestion = true;
  return out.questionEnd;
}

function fail(out: QueryScan, problem: QueryProblem): number {
  out.problem = problem;
  return -1;
}

/** Skips a name in a non-question section without following pointers: offset after it, -1 truncated, -2 bad label. */
function skipName(msg: Buffer, start: number): number {
  const len = msg.length;
  let pos = start;
  for (;;) {
    if (pos >= len) return -1;
    const label = msg[pos];
    if (label === 0) return pos + 1;
    if (label >= 0xc0) return pos + 2 <= len ? pos + 2 : -1;
    if (label > 63) return -2;
    pos += 1 + label;
    if (pos - start > MAX_NAME) return -2;
  }
}

function optionsWellFormed(msg: Buffer, start: number, end: number): boolean {
  let pos = start;
  while (pos < end) {
    if (pos + 4 > end) return false;
    pos += 4 + ((msg[pos + 2] << 8) | msg[pos + 3]);
  }
  return pos === end;
}

/** Wraps a byte array as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Parses a query into plain values (tests, tools). Returns null for what a server drops: fewer than
 * 12 bytes, or a response (QR=1).
 */
export function parseQuery(bytes: Uint8Array): ParsedQuery | null {
  const msg = asBuffer(bytes);
  const scan = new QueryScan();
  if (scanQuery(msg, scan) === Scan.DROP) return null;
  return {
    id: scan.id,
    opcode: scan.opcode,
    rd: scan.rd,
    question: scan.hasQuestion ? { name: wireNameToText(msg, 12), type: scan.qtype, class: scan.qclass } : null,
    edns: scan.edns ? { udpSize: scan.udpSize, version: scan.ednsVersion, dnssecOk: scan.dnssecOk } : null,
    problem: scan.problem,
  };
}
