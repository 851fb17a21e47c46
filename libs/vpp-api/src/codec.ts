import { BYTES_ELEMENTS, ElementsCodec, FixedArrayCodec, FixedBytesCodec, FixedStringCodec, ListElements, VarStringCodec } from './array-codecs';
import { ApiDefinitions, ApiField, ApiType, ScalarType } from './definitions';
import { VppDecodeError, VppDefinitionError } from './errors';
import { ipCodecFor } from './ip-codecs';
import { EnumCodec, SCALARS } from './scalar-codecs';
import { CompiledField, StructCodec, UnionCodec } from './struct-codecs';
import { TypeCodec, WireReader, WireWriter } from './wire';

export type { TypeCodec } from './wire';
export { toBytes } from './array-codecs';

/** A decoded message body, or the fields to encode: keys are the .api.json field names. */
export type VppFields = Record<string, unknown>;

/**
 * Encodes and decodes message bodies as the definitions describe them (see the README for the
 * value representations). Codecs are built on first use and cached.
 */
export class VppCodec {
  private readonly typeCodecs = new Map<string, TypeCodec>();
  private readonly messageCodecs = new Map<string, StructCodec>();

  constructor(readonly definitions: ApiDefinitions) {}

  /** The body (no frame header) of message `name`. Missing fields get their default or zero. */
  encode(name: string, fields: VppFields = {}): Buffer {
    const codec = this.messageCodec(name);
    const w = new WireWriter(name);
    codec.encode(w, fields, '');
    return w.result();
  }

  /** Every field of message `name` from `body`; a VppDecodeError unless the body is exactly right. */
  decode(name: string, body: Buffer): VppFields {
    const codec = this.messageCodec(name);
    const r = new WireReader(body, name);
    const out = codec.decode(r, '') as VppFields;
    if (r.pos !== body.length) r.fail('', `${body.length - r.pos} byte(s) left over after the last field (oversized body)`);
    return out;
  }

  /** Offset of the u32 `context` field when every field before it has a fixed size. */
  contextOffset(name: string): number | undefined {
    let off = 0;
    for (const f of this.messageCodec(name).fields) {
      if (f.name === 'context') return off;
      const size = f.kind === 'plain' ? (f.codec as TypeCodec).fixedSize : undefined;
      if (size === undefined) return undefined;
      off += size;
    }
    return undefined;
  }

  /** The codec of a type reference as written in a field (`vl_api_prefix_t`, `u32`). */
  typeCodec(ref: string): TypeCodec {
    const cached = this.typeCodecs.get(ref);
    if (cached) return cached;
    const codec = this.buildType(ref);
    this.typeCodecs.set(ref, codec);
    return codec;
  }

  private messageCodec(name: string): StructCodec {
    let codec = this.messageCodecs.get(name);
    if (!codec) {
      const m = this.definitions.message(name);
      codec = new StructCodec(this.compileFields(m.fields, `message ${name}`, m.file));
      this.messageCodecs.set(name, codec);
    }
    return codec;
  }

  private buildType(ref: string): TypeCodec {
    if (ref in SCALARS) return SCALARS[ref as ScalarType];
    if (ref === 'string') return new VarStringCodec();
    const t = this.definitions.type(ref);
    if (!t) throw new VppDefinitionError('(definitions)', `unknown type ${ref}`);
    const special = ipCodecFor(t, this.definitions);
    if (special) return special;
    switch (t.kind) {
      case 'enum':
        return new EnumCodec(t);
      case 'alias':
        return t.length === undefined ? this.typeCodec(t.type) : this.arrayCodec(t.type, t.length, `alias ${t.name}`, t.file);
      case 'struct':
        return new StructCodec(this.compileFields(t.fields, `type ${t.name}`, t.file));
      case 'union':
        return this.unionCodec(t);
    }
  }

  private unionCodec(t: ApiType & { kind: 'union' }): TypeCodec {
    const members = t.fields.map((f) => {
      const codec = this.fieldCodec(f, `union ${t.name}`, t.file);
      if (codec.fixedSize === undefined || f.countField) {
        throw new VppDefinitionError(t.file, `union ${t.name}: member ${f.name} has no fixed size`);
      }
      return { name: f.name, codec, size: codec.fixedSize };
    });
    return new UnionCodec(members);
  }

  private compileFields(fields: readonly ApiField[], owner: string, file: string): CompiledField[] {
    const counted = new Map<string, string>();
    for (const f of fields) if (f.countField) counted.set(f.countField, f.name);
    return fields.map((f): CompiledField => {
      if (f.countField) {
        return { name: f.name, kind: 'counted', codec: this.elementsCodec(f.type), countField: f.countField, default: undefined };
      }
      if (f.length === 0 && f.type !== 'string') {
        return { name: f.name, kind: 'rest', codec: this.elementsCodec(f.type), default: undefined };
      }
      const codec = this.fieldCodec(f, owner, file);
      const countFor = counted.get(f.name);
      return { name: f.name, kind: countFor ? 'count' : 'plain', codec, countFor, default: f.default };
    });
  }

  private fieldCodec(f: ApiField, owner: string, file: string): TypeCodec {
    if (f.type === 'string') return f.length ? new FixedStringCodec(f.length) : new VarStringCodec();
    if (f.length === undefined) return this.typeCodec(f.type);
    return this.arrayCodec(f.type, f.length, `${owner} field ${f.name}`, file);
  }

  private arrayCodec(type: string, length: number, owner: string, file: string): TypeCodec {
    if (length === 0) throw new VppDefinitionError(file, `${owner}: a variable-length array needs a count field`);
    if (type === 'u8') return new FixedBytesCodec(length);
    return new FixedArrayCodec(this.typeCodec(type), length);
  }

  private elementsCodec(type: string): ElementsCodec {
    return type === 'u8' ? BYTES_ELEMENTS : new ListElements(this.typeCodec(type));
  }
}

const codecs = new WeakMap<ApiDefinitions, VppCodec>();

export function codecFor(defs: ApiDefinitions): VppCodec {
  let c = codecs.get(defs);
  if (!c) {
    c = new VppCodec(defs);
    codecs.set(defs, c);
  }
  return c;
}

/** Shorthand for `codecFor(defs).encode(name, fields)`. */
export function encodeMessage(defs: ApiDefinitions, name: string, fields: VppFields = {}): Buffer {
  return codecFor(defs).encode(name, fields);
}

/** Shorthand for `codecFor(defs).decode(name, body)`. */
export function decodeMessage(defs: ApiDefinitions, name: string, body: Buffer): VppFields {
  return codecFor(defs).decode(name, body);
}

/** The u16 message id at the start of every body. */
export function messageIdOf(body: Buffer): number {
  if (body.length < 2) throw new VppDecodeError('(frame)', '', `a body of ${body.length} byte(s) has no message id`);
  return body.readUInt16BE(0);
}

/**
 * The JSON form of decoded values, as the golden capture's `fields` show them: Buffers as
 * lowercase hex, bigints as decimal strings; everything else unchanged.
 */
export function toJsonValue(value: unknown): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonValue(v)]));
  }
  return value;
}
