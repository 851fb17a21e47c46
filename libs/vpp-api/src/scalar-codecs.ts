import { ApiEnum, ScalarType } from './definitions';
import { describeValue, TypeCodec, WireReader, WireWriter } from './wire';

// Integers (big-endian, range-checked), f64, bool, and enums sized by their enumtype.

const INT_RANGES: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function intCodec(type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32'): TypeCodec {
  const [min, max] = INT_RANGES[type];
  const size = type.endsWith('8') ? 1 : type.endsWith('16') ? 2 : 4;
  const signed = type.startsWith('i');
  return {
    fixedSize: size,
    minSize: size,
    zeroIfAbsent: true,
    encode(w, value, path) {
      const v = toInteger(w, value ?? 0, path, type);
      if (v < min || v > max) w.fail(path, `${v} is out of range for ${type} (${min}..${max})`);
      const at = w.reserve(size);
      if (signed) w.buffer.writeIntBE(v, at, size);
      else w.buffer.writeUIntBE(v, at, size);
    },
    decode(r, path) {
      const b = r.view(size, path);
      return signed ? b.readIntBE(0, size) : b.readUIntBE(0, size);
    },
  };
}

function int64Codec(signed: boolean): TypeCodec {
  const type = signed ? 'i64' : 'u64';
  const [min, max] = signed ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
  return {
    fixedSize: 8,
    minSize: 8,
    zeroIfAbsent: true,
    encode(w, value, path) {
      const v = value ?? 0;
      const big =
        typeof v === 'bigint'
          ? v
          : typeof v === 'number' && Number.isSafeInteger(v)
            ? BigInt(v)
            : w.fail(path, `expected an integer (number or bigint) for ${type}, got ${describeValue(v)}`);
      if (big < min || big > max) w.fail(path, `${big} is out of range for ${type}`);
      const at = w.reserve(8);
      if (signed) w.buffer.writeBigInt64BE(big, at);
      else w.buffer.writeBigUInt64BE(big, at);
    },
    decode(r, path) {
      const b = r.view(8, path);
      const big = signed ? b.readBigInt64BE(0) : b.readBigUInt64BE(0);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    },
  };
}

function toInteger(w: WireWriter, value: unknown, path: string, type: string): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(value);
  }
  return w.fail(path, `expected an integer for ${type}, got ${describeValue(value)}`);
}

const boolCodec: TypeCodec = {
  fixedSize: 1,
  minSize: 1,
  zeroIfAbsent: true,
  encode(w, value, path) {
    const v = value ?? false;
    if (v !== true && v !== false && v !== 0 && v !== 1) w.fail(path, `expected a boolean, got ${describeValue(v)}`);
    const at = w.reserve(1);
    w.buffer[at] = v === true || v === 1 ? 1 : 0;
  },
  decode(r, path) {
    return r.view(1, path)[0] !== 0;
  },
};

const f64Codec: TypeCodec = {
  fixedSize: 8,
  minSize: 8,
  zeroIfAbsent: true,
  encode(w, value, path) {
    const v = value ?? 0;
    if (typeof v !== 'number') return w.fail(path, `expected a number for f64, got ${describeValue(v)}`);
    const at = w.reserve(8);
    w.buffer.writeDoubleBE(v, at);
  },
  decode(r, path) {
    return r.view(8, path).readDoubleBE(0);
  },
};

export const SCALARS: Record<ScalarType, TypeCodec> = {
  u8: intCodec('u8'),
  i8: intCodec('i8'),
  u16: intCodec('u16'),
  i16: intCodec('i16'),
  u32: intCodec('u32'),
  i32: intCodec('i32'),
  u64: int64Codec(false),
  i64: int64Codec(true),
  f64: f64Codec,
  bool: boolCodec,
};

/** Enums are numbers on both sides; encode also takes a symbol ("IF_STATUS_API_FLAG_ADMIN_UP") or, for flags, a list of them. */
export class EnumCodec implements TypeCodec {
  readonly fixedSize: number;
  readonly minSize: number;
  readonly zeroIfAbsent = true;
  private readonly int: TypeCodec;

  constructor(private readonly def: ApiEnum) {
    this.int = SCALARS[def.type];
    this.fixedSize = this.int.fixedSize as number;
    this.minSize = this.fixedSize;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    this.int.encode(w, this.toNumber(w, value, path), path);
  }

  /** Unknown values are kept as numbers (VPP may know flags we do not). */
  decode(r: WireReader, path: string): unknown {
    return this.int.decode(r, path);
  }

  private toNumber(w: WireWriter, value: unknown, path: string): unknown {
    const symbol = (s: string) => {
      const v = this.def.values.get(s);
      if (v === undefined) w.fail(path, `"${s}" is not a value of enum ${this.def.name} (${[...this.def.values.keys()].join(', ')})`);
      return v;
    };
    if (typeof value === 'string') return symbol(value);
    if (Array.isArray(value) && this.def.flags) return value.reduce((acc: number, s) => acc | (symbol(String(s)) as number), 0) >>> 0;
    return value;
  }
}
