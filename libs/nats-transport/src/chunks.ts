import { randomBytes } from 'node:crypto';
import { headers as natsHeaders, Msg, MsgHdrs } from 'nats';

// Messages larger than NATS's max_payload (1 MiB by default, and in deploy/security), e.g. a
// dataplane.apply request or a dataplane.state event of 10,000 peers (~1.3 and ~2 MB), travel as
// chunks: consecutive slices of the JSON body on the same subject, each with the header
//
//   Wgmesh-Chunk: <id> <index> <count>
//
// (id: 16 random base64url characters, index from 0, count 2..MAX_CHUNKS). A request's chunks
// are each a request: every chunk but the last is answered {"chunk":<index>} once held, the last
// with the handler's reply for the whole message, so a sender never has more than one chunk in
// flight and learns at once when the receiver refuses. An event's chunks are published back to
// back (NATS keeps a publisher's order). The receiver holds incomplete messages for at most
// CHUNK_TIMEOUT_MS, at most MAX_PENDING at once per subscription and MAX_ASSEMBLED_BYTES each;
// anything else (a gap, a repeated or foreign id, a bad header) is refused as `invalid_chunk`.
// Messages that fit go as they always did: one plain JSON message, readable with `nats sub`.

export const CHUNK_HEADER = 'Wgmesh-Chunk';
export const MAX_CHUNKS = 64;
/** The largest message put together from chunks. */
export const MAX_ASSEMBLED_BYTES = 32 * 1024 * 1024;
export const MAX_PENDING = 16;
export const CHUNK_TIMEOUT_MS = 10_000;
/** Room left in every chunk for the headers (trace context, the chunk header). */
export const HEADER_ROOM = 4096;

export interface ChunkHeader {
  id: string;
  index: number;
  count: number;
}

/** Refused chunk: the message names the rule. */
export class ChunkError extends Error {
  override readonly name = 'ChunkError';
}

export function newChunkId(): string {
  return randomBytes(12).toString('base64url');
}

/** The body in slices of at most `chunkBytes` (a single slice when it fits). */
export function splitBody(data: Uint8Array, chunkBytes: number): Uint8Array[] {
  if (chunkBytes < 1) throw new RangeError('chunk size must be positive');
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += chunkBytes) out.push(data.subarray(at, Math.min(data.length, at + chunkBytes)));
  return out.length > 0 ? out : [data];
}

export function formatChunkHeader(h: ChunkHeader): string {
  return `${h.id} ${h.index} ${h.count}`;
}

export function parseChunkHeader(text: string): ChunkHeader {
  const m = /^([A-Za-z0-9_-]{16}) (\d{1,2}) (\d{1,2})$/.exec(text);
  if (!m) throw new ChunkError(`${CHUNK_HEADER} must be "<16-character id> <index> <count>"`);
  const index = Number(m[2]);
  const count = Number(m[3]);
  if (count < 2 || count > MAX_CHUNKS) throw new ChunkError(`${CHUNK_HEADER}: a chunked message has 2 to ${MAX_CHUNKS} chunks, not ${count}`);
  if (index >= count) throw new ChunkError(`${CHUNK_HEADER}: chunk ${index} of ${count} does not exist`);
  return { id: m[1], index, count };
}

/** Headers for one chunk: a copy of `base` (e.g. trace context) plus the chunk header. */
export function chunkHeaders(base: MsgHdrs | undefined, h: ChunkHeader): MsgHdrs {
  const out = natsHeaders();
  if (base) for (const [k, v] of base) for (const x of v) out.append(k, x);
  out.set(CHUNK_HEADER, formatChunkHeader(h));
  return out;
}

interface Pending {
  count: number;
  next: number;
  parts: Uint8Array[];
  bytes: number;
  timer: NodeJS.Timeout;
}

/** What `accept` made of a message. */
export type Accepted =
  /** Not chunked, or the last chunk of a complete message: handle `msg` (its data is the whole body). */
  | { kind: 'message'; msg: Msg }
  /** A chunk held for later (a request's is to be answered with an ack). */
  | { kind: 'held'; header: ChunkHeader }
  /** A chunk refused: `error` says why (the partial message, if any, is dropped). */
  | { kind: 'refused'; error: ChunkError };

/**
 * Puts chunked messages back together for one subscription. Bounded: MAX_PENDING messages at
 * once (the oldest goes), MAX_ASSEMBLED_BYTES each, CHUNK_TIMEOUT_MS from the first chunk.
 */
export class Reassembler {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly timeoutMs = CHUNK_TIMEOUT_MS) {}

  accept(msg: Msg): Accepted {
    const raw = msg.headers?.get(CHUNK_HEADER);
    if (!raw) return { kind: 'message', msg };
    let h: ChunkHeader;
    try {
      h = parseChunkHeader(raw);
    } catch (err) {
      return { kind: 'refused', error: err as ChunkError };
    }
    const key = `${msg.subject} ${h.id}`;
    let p = this.pending.get(key);
    if (h.index === 0) {
      if (p) return this.drop(key, `chunk 0 of message ${h.id} came twice`);
      if (this.pending.size >= MAX_PENDING) this.drop(this.pending.keys().next().value as string, 'too many chunked messages at once');
      p = { count: h.count, next: 0, parts: [], bytes: 0, timer: setTimeout(() => this.pending.delete(key), this.timeoutMs) };
      p.timer.unref();
      this.pending.set(key, p);
    }
    if (!p) return { kind: 'refused', error: new ChunkError(`chunk ${h.index} of message ${h.id}, whose first chunk never came (or came more than ${this.timeoutMs} ms ago)`) };
    if (h.count !== p.count || h.index !== p.next) return this.drop(key, `chunk ${h.index} of ${h.count} of message ${h.id} out of order (expected ${p.next} of ${p.count})`);
    p.bytes += msg.data.length;
    if (p.bytes > MAX_ASSEMBLED_BYTES) return this.drop(key, `message ${h.id} is larger than ${MAX_ASSEMBLED_BYTES} bytes`);
    p.parts.push(msg.data);
    p.next++;
    if (p.next < p.count) return { kind: 'held', header: h };
    clearTimeout(p.timer);
    this.pending.delete(key);
    return { kind: 'message', msg: withData(msg, Buffer.concat(p.parts)) };
  }

  /** Incomplete messages held now. */
  get size(): number {
    return this.pending.size;
  }

  clear(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private drop(key: string, why: string): Accepted {
    const p = this.pending.get(key);
    if (p) clearTimeout(p.timer);
    this.pending.delete(key);
    return { kind: 'refused', error: new ChunkError(why) };
  }
}

/** The last chunk, carrying the whole body (its subject, reply and headers stay the chunk's). */
function withData(msg: Msg, data: Uint8Array): Msg {
  return {
    subject: msg.subject,
    sid: msg.sid,
    reply: msg.reply,
    headers: msg.headers,
    data,
    respond: (payload, opts) => msg.respond(payload, opts),
    json: <T>() => JSON.parse(Buffer.from(data).toString('utf8')) as T,
    string: () => Buffer.from(data).toString('utf8'),
  };
}
