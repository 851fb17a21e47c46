import { ElementsCodec } from './array-codecs';
import { describeValue, joinPath, TypeCodec, WireReader, WireWriter } from './wire';

// Structs (types and messages: count fields filled in, unknown fields refused) and unions without discriminator.

export interface CompiledField {
  readonly name: string;
  /** plain; count = holds the length of `countFor`; counted = array sized by `countField`; rest = trailing array without count. */
  readonly kind: 'plain' | 'count' | 'counted' | 'rest';
  readonly codec: TypeCodec | ElementsCodec;
  readonly countFor?: string;
  readonly countField?: string;
  readonly default: unknown;
}

export class StructCodec implements TypeCodec {
  readonly fixedSize: number | undefined;
  readonly minSize: number;
  readonly zeroIfAbsent: boolean;
  private readonly names: Set<string>;

  constructor(readonly fields: readonly CompiledField[]) {
    let fixed: number | undefined = 0;
    let min = 0;
    for (const f of fields) {
      if (f.kind === 'counted' || f.kind === 'rest') {
        fixed = undefined;
        continue;
      }
      const c = f.codec as TypeCodec;
      min += c.minSize;
      fixed = fixed === undefined || c.fixedSize === undefined ? undefined : fixed + c.fixedSize;
    }
    this.fixedSize = fixed;
    this.minSize = min;
    this.names = new Set(fields.map((f) => f.name));
    this.zeroIfAbsent = fixed !== undefined && fields.every((f) => f.kind === 'plain' && isZero(f.default) && (f.codec as TypeCodec).zeroIfAbsent === true);
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    if (value === undefined && this.zeroIfAbsent) {
      w.reserve(this.fixedSize as number);
      return;
    }
    const obj = (value ?? {}) as Record<string, unknown>;
    if (typeof obj !== 'object' || Array.isArray(obj) || obj instanceof Uint8Array) {
      w.fail(path, `expected an object with fields ${[...this.names].join(', ')}, got ${describeValue(value)}`);
    }
    for (const key of Object.keys(obj)) {
      if (!this.names.has(key) && obj[key] !== undefined) w.fail(joinPath(path, key), `unknown field (known: ${[...this.names].join(', ')})`);
    }
    for (const f of this.fields) {
      if (f.kind === 'plain') {
        const v = obj[f.name] === undefined ? f.default : obj[f.name];
        const codec = f.codec as TypeCodec;
        if (v === undefined && codec.zeroIfAbsent) w.reserve(codec.fixedSize as number);
        else codec.encode(w, v, joinPath(path, f.name));
        continue;
      }
      const fp = joinPath(path, f.name);
      if (f.kind === 'count') {
        const arrayField = this.fields.find((x) => x.name === f.countFor) as CompiledField;
        const n = (arrayField.codec as ElementsCodec).count(w, obj[arrayField.name], joinPath(path, arrayField.name));
        const given = obj[f.name];
        if (given !== undefined && given !== n && !(typeof given === 'bigint' && given === BigInt(n))) {
          w.fail(fp, `is ${describeValue(given)} but ${f.countFor} has ${n} element(s) (leave it out: it is filled in)`);
        }
        (f.codec as TypeCodec).encode(w, n, fp);
      } else {
        (f.codec as ElementsCodec).encode(w, obj[f.name], fp);
      }
    }
  }

  decode(r: WireReader, path: string): unknown {
    const out: Record<string, unknown> = {};
    for (const f of this.fields) {
      const fp = joinPath(path, f.name);
      if (f.kind === 'counted') {
        const count = out[f.countField as string];
        if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) r.fail(fp, `count ${f.countField} is not a usable number`);
        out[f.name] = (f.codec as ElementsCodec).decode(r, fp, count);
      } else if (f.kind === 'rest') {
        const ec = f.codec as ElementsCodec;
        const size = ec.elemFixedSize;
        if (!size || r.remaining % size !== 0) r.fail(fp, `${r.remaining} trailing byte(s) are not a whole number of elements`);
        out[f.name] = ec.decode(r, fp, r.remaining / size);
      } else {
        out[f.name] = (f.codec as TypeCodec).decode(r, fp);
      }
    }
    return out;
  }
}

export interface UnionMember {
  readonly name: string;
  readonly codec: TypeCodec;
  readonly size: number;
}

/**
 * A union without discriminator. Decode gives every member read from the same bytes
 * (`{ip4: "10.100.0.2", ip6: "a64:2::"}`); encode takes one member (or several that agree).
 */
export class UnionCodec implements TypeCodec {
  readonly fixedSize: number;
  readonly minSize: number;
  readonly zeroIfAbsent = true;

  constructor(private readonly members: readonly UnionMember[]) {
    this.fixedSize = Math.max(0, ...members.map((m) => m.size));
    this.minSize = this.fixedSize;
  }

  encode(w: WireWriter, value: unknown, path: string): void {
    const at = w.reserve(this.fixedSize);
    if (value === undefined) return;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      w.fail(path, `expected an object with one of ${this.members.map((m) => m.name).join(', ')}, got ${describeValue(value)}`);
    }
    const obj = value as Record<string, unknown>;
    const given = Object.keys(obj).filter((k) => obj[k] !== undefined);
    const encoded = given.map((k) => {
      const m = this.members.find((x) => x.name === k);
      if (!m) w.fail(joinPath(path, k), `not a member of this union (${this.members.map((x) => x.name).join(', ')})`);
      const sub = new WireWriter(w.messageName);
      m.codec.encode(sub, obj[k], joinPath(path, k));
      return { name: k, bytes: sub.result() };
    });
    if (encoded.length === 0) return;
    const base = encoded.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
    for (const e of encoded) {
      if (!e.bytes.equals(base.bytes.subarray(0, e.bytes.length))) {
        w.fail(path, `members ${e.name} and ${base.name} disagree; give only one`);
      }
    }
    w.buffer.set(base.bytes, at);
  }

  decode(r: WireReader, path: string): unknown {
    const win = r.window(this.fixedSize, path);
    const out: Record<string, unknown> = {};
    for (const m of this.members) {
      const sub = new WireReader(win.buf, win.messageName, win.pos, win.pos + m.size);
      out[m.name] = m.codec.decode(sub, joinPath(path, m.name));
    }
    r.pos += this.fixedSize;
    return out;
  }
}

function isZero(v: unknown): boolean {
  return v === undefined || v === 0 || v === false;
}
