import { describeValue, joinPath, TypeCodec, WireReader, WireWriter } from './wire';

// Strings (fixed and variable), raw byte arrays, fixed arrays, and the elements of counted arrays.

/** `string x[N]`: N bytes, NUL-padded; decoded up to the first NUL. At most N-1 bytes are sent, so VPP always finds a NUL. */
export class FixedStringCodec implements TypeCodec {
  readonly minSize: number;
  readonly zeroIfAbsent = true;
  constructor(readonly fixedSize: number) {
    this.minSize = fixedSize;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    const v = value ?? '';
    if (typeof v !== 'string') w.fail(path, `expected a string, got ${describeValue(v)}`);
    const bytes = Buffer.from(v, 'utf8');
    if (bytes.includes(0)) w.fail(path, 'a string cannot contain NUL');
    if (bytes.length > this.fixedSize - 1) w.fail(path, `${bytes.length} bytes is too long for string[${this.fixedSize}] (at most ${this.fixedSize - 1})`);
    const at = w.reserve(this.fixedSize);
    w.buffer.set(bytes, at);
  }

  decode(r: WireReader, path: string): unknown {
    const b = r.view(this.fixedSize, path);
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
  }
}

/** `string x[0]`: u32 byte count, then the bytes (no NUL). */
export class VarStringCodec implements TypeCodec {
  readonly fixedSize = undefined;
  readonly minSize = 4;

  encode(w: WireWriter, value: unknown, path: string): void {
    const v = value ?? '';
    if (typeof v !== 'string') w.fail(path, `expected a string, got ${describeValue(v)}`);
    const bytes = Buffer.from(v, 'utf8');
    if (bytes.includes(0)) w.fail(path, 'a string cannot contain NUL');
    const at = w.reserve(4);
    w.buffer.writeUInt32BE(bytes.length, at);
    w.put(bytes);
  }

  decode(r: WireReader, path: string): unknown {
    const n = r.view(4, path).readUInt32BE(0);
    const b = r.view(n, path);
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
  }
}

/** Raw bytes as a Buffer. Encode takes a Buffer/Uint8Array, a number[] or a hex string. */
export function toBytes(w: WireWriter, value: unknown, path: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) w.fail(path, `expected bytes (Buffer or hex string), got ${describeValue(value)}`);
    return Buffer.from(value, 'hex');
  }
  if (Array.isArray(value) && value.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)) return Uint8Array.from(value);
  return w.fail(path, `expected bytes (Buffer or hex string), got ${describeValue(value)}`);
}

/** `u8 x[N]`: raw bytes; shorter input is zero-padded. */
export class FixedBytesCodec implements TypeCodec {
  readonly minSize: number;
  readonly zeroIfAbsent = true;
  constructor(readonly fixedSize: number) {
    this.minSize = fixedSize;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    const at = w.reserve(this.fixedSize);
    if (value === undefined) return;
    const bytes = toBytes(w, value, path);
    if (bytes.length > this.fixedSize) w.fail(path, `${bytes.length} bytes is too long for u8[${this.fixedSize}]`);
    w.buffer.set(bytes, at);
  }

  decode(r: WireReader, path: string): unknown {
    return r.bytes(this.fixedSize, path);
  }
}

/** `T x[N]` for any other T: an array of N values; missing trailing elements are zero. */
export class FixedArrayCodec implements TypeCodec {
  readonly fixedSize: number | undefined;
  readonly minSize: number;

  constructor(
    private readonly elem: TypeCodec,
    private readonly length: number,
  ) {
    this.fixedSize = elem.fixedSize === undefined ? undefined : elem.fixedSize * length;
    this.minSize = elem.minSize * length;
    this.zeroIfAbsent = elem.zeroIfAbsent === true && this.fixedSize !== undefined;
  }

  readonly zeroIfAbsent: boolean;

  encode(w: WireWriter, value: unknown, path: string): void {
    const items = value ?? [];
    if (!Array.isArray(items)) w.fail(path, `expected an array of at most ${this.length}, got ${describeValue(items)}`);
    if (items.length > this.length) w.fail(path, `${items.length} elements is more than the ${this.length} this array holds`);
    for (let i = 0; i < this.length; i++) {
      if (i >= items.length && this.elem.zeroIfAbsent) {
        w.reserve((this.length - i) * (this.elem.fixedSize as number));
        return;
      }
      this.elem.encode(w, items[i], joinPath(path, i));
    }
  }

  decode(r: WireReader, path: string): unknown {
    r.need(this.minSize, path);
    const out: unknown[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.elem.decode(r, joinPath(path, i)));
    return out;
  }
}

/** The elements of a variable-length array, whose count is elsewhere. */
export interface ElementsCodec {
  readonly elemMinSize: number;
  readonly elemFixedSize: number | undefined;
  count(w: WireWriter, value: unknown, path: string): number;
  encode(w: WireWriter, value: unknown, path: string): void;
  decode(r: WireReader, path: string, count: number): unknown;
}

export const BYTES_ELEMENTS: ElementsCodec = {
  elemMinSize: 1,
  elemFixedSize: 1,
  count: (w, value, path) => (value === undefined ? 0 : toBytes(w, value, path).length),
  encode(w, value, path) {
    if (value !== undefined) w.put(toBytes(w, value, path));
  },
  decode: (r, path, count) => r.bytes(count, path),
};

export class ListElements implements ElementsCodec {
  readonly elemMinSize: number;
  readonly elemFixedSize: number | undefined;
  constructor(private readonly elem: TypeCodec) {
    this.elemMinSize = elem.minSize;
    this.elemFixedSize = elem.fixedSize;
  }

  count(w: WireWriter, value: unknown, path: string): number {
    if (value === undefined) return 0;
    if (!Array.isArray(value)) w.fail(path, `expected an array, got ${describeValue(value)}`);
    return value.length;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    const items = (value ?? []) as unknown[];
    items.forEach((item, i) => this.elem.encode(w, item, joinPath(path, i)));
  }

  decode(r: WireReader, path: string, count: number): unknown {
    // Bound the count by the bytes left before allocating anything.
    if (count * Math.max(this.elemMinSize, 1) > r.remaining) {
      r.fail(path, `count ${count} needs at least ${count * Math.max(this.elemMinSize, 1)} bytes, only ${r.remaining} left`);
    }
    const out: unknown[] = [];
    for (let i = 0; i < count; i++) out.push(this.elem.decode(r, joinPath(path, i)));
    return out;
  }
}
