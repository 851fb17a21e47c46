import { VppDecodeError, VppEncodeError } from './errors';

/** A bounded cursor over a message body. Every read checks the bound first: no read past `end`. */
export class WireReader {
  constructor(
    readonly buf: Buffer,
    readonly messageName: string,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, path: string): void {
    if (n > this.end - this.pos) {
      this.fail(path, `needs ${n} more byte(s) at offset ${this.pos}, only ${this.end - this.pos} left (truncated body or bad count)`);
    }
  }

  /** A reader over the next n bytes (for union members), without moving this one. */
  window(n: number, path: string): WireReader {
    this.need(n, path);
    return new WireReader(this.buf, this.messageName, this.pos, this.pos + n);
  }

  /** A copy, so a decoded value never pins the whole frame in memory. */
  bytes(n: number, path: string): Buffer {
    this.need(n, path);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  view(n: number, path: string): Buffer {
    this.need(n, path);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  fail(path: string, problem: string): never {
    throw new VppDecodeError(this.messageName, path, problem);
  }
}

/** A growing output buffer. */
export class WireWriter {
  private buf = Buffer.alloc(256);
  pos = 0;

  constructor(readonly messageName: string) {}

  /** Reserves n zeroed bytes and returns their offset. */
  reserve(n: number): number {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** The current buffer: read it only after reserve() (which may replace it). */
  get buffer(): Buffer {
    return this.buf;
  }

  put(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  fail(path: string, problem: string): never {
    throw new VppEncodeError(this.messageName, path, problem);
  }
}

/** How one type goes on the wire. `fixedSize` is undefined when the size depends on the value. */
export interface TypeCodec {
  readonly fixedSize: number | undefined;
  /** Smallest possible encoding: bounds a hostile count before anything is allocated. */
  readonly minSize: number;
  /**
   * True when encoding `undefined` writes only zero bytes (fixed size, no defaults inside): an
   * absent value is then written by reserving its size, without walking it (a route's unused
   * 16-label MPLS stack is most of its bytes).
   */
  readonly zeroIfAbsent?: boolean;
  /** `value` undefined means "not given": the zero value (or the field's default) is written. */
  encode(w: WireWriter, value: unknown, path: string): void;
  decode(r: WireReader, path: string): unknown;
}

export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return `a ${value.length}-byte Buffer`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
