import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { VppDefinitionError, VppUnknownMessageError } from './errors';

/** Where a VPP installation keeps its API definitions (core/ and plugins/ below it). */
export const DEFAULT_API_DIR = '/usr/share/vpp/api';

export const SCALAR_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64', 'f64', 'bool'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
export const ENUM_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32'] as const;
export type EnumType = (typeof ENUM_TYPES)[number];

/** One field of a message, type or union, as the .api.json declares it. */
export interface ApiField {
  readonly name: string;
  /** As written: a scalar (`u32`), `string`, or a reference (`vl_api_address_t`). */
  readonly type: string;
  /** Array length: N for a fixed array or string, 0 for a variable one; absent for a single value. */
  readonly length?: number;
  /** For a variable-length array: the earlier field that holds the element count. */
  readonly countField?: string;
  /** The `default` option, when declared ("true"/"false" already turned into booleans). */
  readonly default?: unknown;
}

export interface ApiStruct {
  readonly kind: 'struct';
  readonly name: string;
  readonly fields: readonly ApiField[];
  readonly file: string;
}

/** A union without discriminator: every member starts at the same offset; size = largest member. */
export interface ApiUnion {
  readonly kind: 'union';
  readonly name: string;
  readonly fields: readonly ApiField[];
  readonly file: string;
}

export interface ApiEnum {
  readonly kind: 'enum';
  readonly name: string;
  /** Wire size and signedness, from `enumtype` (u32 when not declared). */
  readonly type: EnumType;
  /** True for `enumflags` (values are bits that combine). */
  readonly flags: boolean;
  readonly values: ReadonlyMap<string, number>;
  readonly file: string;
}

export interface ApiAlias {
  readonly kind: 'alias';
  readonly name: string;
  readonly type: string;
  readonly length?: number;
  readonly file: string;
}

export type ApiType = ApiStruct | ApiUnion | ApiEnum | ApiAlias;

export interface ApiMessage {
  readonly name: string;
  /** "0x9b8aad61", as in the JSON and (without 0x) in VPP's message table. */
  readonly crc: string;
  readonly fields: readonly ApiField[];
  /** E.g. `{ deprecated: null }`, `{ in_progress: null }`. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly module: string;
  readonly file: string;
}

export interface ApiService {
  readonly reply: string;
  readonly stream?: boolean;
  readonly streamMsg?: string;
  readonly events?: readonly string[];
}

/** The registry of every message and type found in a set of .api.json files. */
export class ApiDefinitions {
  constructor(
    readonly messages: ReadonlyMap<string, ApiMessage>,
    /** Keyed by bare name: `address` for `vl_api_address_t`. */
    readonly types: ReadonlyMap<string, ApiType>,
    readonly services: ReadonlyMap<string, ApiService>,
    /** The files read, relative to the directory. */
    readonly files: readonly string[],
    /**
     * The same name defined differently in two files ("type prefix: core/a.api.json vs plugins/b.api.json").
     * The first definition (core/ before plugins/, then by file name) is the one used.
     */
    readonly conflicts: readonly string[] = [],
  ) {}

  message(name: string): ApiMessage {
    const m = this.messages.get(name);
    if (!m) throw new VppUnknownMessageError(name);
    return m;
  }

  hasMessage(name: string): boolean {
    return this.messages.has(name);
  }

  /** Resolves a field type reference (`vl_api_address_t` or `address`); undefined for scalars/unknowns. */
  type(ref: string): ApiType | undefined {
    return this.types.get(bareTypeName(ref));
  }

  /** The reply a request gets (services, else `<name>_reply`), and for dumps the details message. */
  service(request: string): ApiService {
    return this.services.get(request) ?? { reply: `${request}_reply` };
  }

  /** Event names declared by any service (`want_wireguard_peer_events` → `wireguard_peer_event`). */
  isEvent(name: string): boolean {
    this.events ??= new Set([...this.services.values()].flatMap((s) => s.events ?? []));
    return this.events.has(name);
  }

  private events: Set<string> | undefined;
}

/** `vl_api_address_t` → `address`. Other names are returned unchanged. */
export function bareTypeName(ref: string): string {
  return ref.startsWith('vl_api_') && ref.endsWith('_t') ? ref.slice(7, -2) : ref;
}

/**
 * Reads every `*.api.json` below `dir` (recursively: core/, plugins/) into one registry.
 * Throws VppDefinitionError naming the file and the problem.
 */
export function loadDefinitions(dir: string = DEFAULT_API_DIR): ApiDefinitions {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new VppDefinitionError(dir, 'no such directory (VPP API definitions; install VPP or set apiDir)');
  }
  if (!st.isDirectory()) throw new VppDefinitionError(dir, 'not a directory');
  const paths = findApiFiles(dir);
  if (paths.length === 0) throw new VppDefinitionError(dir, 'no *.api.json files in this directory or below');
  const files = paths.map((p) => {
    const rel = relative(dir, p);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new VppDefinitionError(rel, `not valid JSON (${(e as Error).message})`);
    }
    return { file: rel, json };
  });
  return buildDefinitions(files);
}

/** Sorted so that core/ comes before plugins/ and the result is the same on every machine. */
function findApiFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 8) return;
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.api.json')) out.push(p);
    }
  };
  walk(dir, 0);
  const rank = (p: string) => (relative(dir, p).startsWith('core') ? 0 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Builds a registry from already parsed files (`file` is used in error messages). */
export function buildDefinitions(files: ReadonlyArray<{ file: string; json: unknown }>): ApiDefinitions {
  const messages = new Map<string, ApiMessage>();
  const types = new Map<string, ApiType>();
  const services = new Map<string, ApiService>();
  const conflicts: string[] = [];
  const seen = new Map<string, string>(); // "kind name" → canonical JSON, for conflict detection

  const add = <T extends { name: string; file: string }>(map: Map<string, T>, kind: string, item: T, canon: string) => {
    const key = `${kind} ${item.name}`;
    const prev = map.get(item.name);
    if (prev) {
      if (seen.get(key) !== canon) conflicts.push(`${key}: ${prev.file} vs ${item.file}`);
      return;
    }
    seen.set(key, canon);
    map.set(item.name, item);
  };

  for (const { file, json } of files) {
    const f = parseApiFile(json, file);
    for (const t of f.types) add(types, 'type', t, canonical(t));
    for (const m of f.messages) add(messages, 'message', m, canonical({ ...m, file: '', module: '' }));
    for (const [name, s] of f.services) if (!services.has(name)) services.set(name, s);
  }
  const defs = new ApiDefinitions(messages, types, services, files.map((f) => f.file), conflicts);
  checkReferences(defs);
  return defs;
}

function canonical(item: object): string {
  return JSON.stringify(item, (k, v) => (k === 'file' ? undefined : v instanceof Map ? [...v] : v));
}

interface ParsedFile {
  types: ApiType[];
  messages: ApiMessage[];
  services: Map<string, ApiService>;
}

/** Checks one .api.json document's shape and turns it into typed definitions. */
export function parseApiFile(json: unknown, file: string): ParsedFile {
  const fail = (what: string): never => {
    throw new VppDefinitionError(file, what);
  };
  if (!isObject(json)) fail('the document is not a JSON object');
  const doc = json as Record<string, unknown>;
  const list = (key: string): unknown[] => {
    const v = doc[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(`"${key}" is not an array`);
    return v as unknown[];
  };
  const module = typeof doc.module === 'string' ? doc.module : file;
  const types: ApiType[] = [];

  for (const [i, t] of list('types').entries()) {
    const { name, fields } = parseFieldList(t, `types[${i}]`, fail);
    types.push({ kind: 'struct', name, fields, file });
  }
  for (const [i, t] of list('unions').entries()) {
    const { name, fields } = parseFieldList(t, `unions[${i}]`, fail);
    types.push({ kind: 'union', name, fields, file });
  }
  for (const key of ['enums', 'enumflags'] as const) {
    for (const [i, e] of list(key).entries()) types.push(parseEnum(e, `${key}[${i}]`, key === 'enumflags', file, fail));
  }
  const aliases = doc.aliases ?? {};
  if (!isObject(aliases)) fail('"aliases" is not an object');
  for (const [name, a] of Object.entries(aliases as Record<string, unknown>)) {
    if (!isObject(a) || typeof (a as Record<string, unknown>).type !== 'string') fail(`alias ${name}: needs a "type" string`);
    const al = a as Record<string, unknown>;
    if (al.length !== undefined && !isCount(al.length)) fail(`alias ${name}: "length" is not a non-negative integer`);
    types.push({ kind: 'alias', name, type: al.type as string, ...(al.length !== undefined ? { length: al.length as number } : {}), file });
  }

  const messages: ApiMessage[] = [];
  for (const [i, m] of list('messages').entries()) {
    const where = `messages[${i}]`;
    if (!Array.isArray(m) || m.length < 2) fail(`${where}: a message is [name, fields..., {crc}]`);
    const arr = m as unknown[];
    const meta = arr[arr.length - 1];
    const name = typeof arr[0] === 'string' ? arr[0] : fail(`${where}: the name is not a string`);
    if (!isObject(meta)) fail(`message ${name}: the last element must be {"crc": ...}`);
    const md = meta as Record<string, unknown>;
    if (typeof md.crc !== 'string' || !/^0x[0-9a-fA-F]{1,8}$/.test(md.crc)) fail(`message ${name}: "crc" is missing or not 0x + 8 hex digits`);
    const { fields } = parseFieldList(arr.slice(0, -1), `message ${name}`, fail);
    if (fields[0]?.name !== '_vl_msg_id' || fields[0].type !== 'u16') fail(`message ${name}: the first field must be u16 _vl_msg_id`);
    const options = isObject(md.options) ? (md.options as Record<string, unknown>) : {};
    messages.push({ name, crc: normaliseCrc(md.crc as string), fields, options, module, file });
  }

  const services = new Map<string, ApiService>();
  const svc = doc.services ?? {};
  if (!isObject(svc)) fail('"services" is not an object');
  for (const [name, s] of Object.entries(svc as Record<string, unknown>)) {
    if (!isObject(s) || typeof (s as Record<string, unknown>).reply !== 'string') fail(`service ${name}: needs a "reply" string`);
    const sv = s as Record<string, unknown>;
    services.set(name, {
      reply: sv.reply as string,
      ...(sv.stream === true ? { stream: true } : {}),
      ...(typeof sv.stream_msg === 'string' ? { streamMsg: sv.stream_msg } : {}),
      ...(Array.isArray(sv.events) ? { events: sv.events.filter((e): e is string => typeof e === 'string') } : {}),
    });
  }
  return { types, messages, services };
}

function parseFieldList(raw: unknown, where: string, fail: (what: string) => never): { name: string; fields: ApiField[] } {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') fail(`${where}: expected [name, fields...]`);
  const arr = raw as unknown[];
  const name = arr[0] as string;
  const fields: ApiField[] = [];
  const names = new Set<string>();
  for (const [i, f] of arr.slice(1).entries()) {
    if (isObject(f)) continue; // trailing {comment}, {crc}: not a field
    const at = `${where === `message ${name}` ? where : `${where} (${name})`} field ${i + 1}`;
    if (!Array.isArray(f) || f.length < 2 || typeof f[0] !== 'string' || typeof f[1] !== 'string') {
      fail(`${at}: a field is [type, name, (length, (count field)), ({options})]`);
    }
    const fa = f as unknown[];
    const opts = isObject(fa[fa.length - 1]) ? (fa[fa.length - 1] as Record<string, unknown>) : undefined;
    const rest = fa.slice(2, opts ? -1 : undefined);
    const field: { -readonly [K in keyof ApiField]: ApiField[K] } = { type: fa[0] as string, name: fa[1] as string };
    if (rest.length > 0) {
      if (!isCount(rest[0])) fail(`${at} (${field.name}): the array length is not a non-negative integer`);
      field.length = rest[0] as number;
    }
    if (rest.length > 1) {
      if (typeof rest[1] !== 'string') fail(`${at} (${field.name}): the count field name is not a string`);
      if (!names.has(rest[1] as string)) fail(`${at} (${field.name}): the count field "${rest[1]}" is not an earlier field`);
      field.countField = rest[1] as string;
    }
    if (rest.length > 2) fail(`${at} (${field.name}): too many elements`);
    if (opts && 'default' in opts) field.default = opts.default === 'true' ? true : opts.default === 'false' ? false : opts.default;
    if (names.has(field.name)) fail(`${at}: duplicate field name "${field.name}"`);
    names.add(field.name);
    fields.push(field);
  }
  return { name, fields };
}

function parseEnum(raw: unknown, where: string, flags: boolean, file: string, fail: (what: string) => never): ApiEnum {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') fail(`${where}: expected [name, [SYMBOL, value]..., {enumtype}]`);
  const arr = raw as unknown[];
  const name = arr[0] as string;
  let type: EnumType = 'u32';
  const values = new Map<string, number>();
  for (const item of arr.slice(1)) {
    if (isObject(item)) {
      const t = (item as Record<string, unknown>).enumtype;
      if (t !== undefined) {
        if (!ENUM_TYPES.includes(t as EnumType)) fail(`enum ${name}: enumtype "${String(t)}" is not an integer type`);
        type = t as EnumType;
      }
      continue;
    }
    if (!Array.isArray(item) || typeof item[0] !== 'string' || !Number.isSafeInteger(item[1])) {
      fail(`enum ${name}: each value is [SYMBOL, integer]`);
    }
    values.set(item[0] as string, item[1] as number);
  }
  return { kind: 'enum', name, type, flags, values, file };
}

/** Every referenced type exists, and no type contains itself. */
function checkReferences(defs: ApiDefinitions): void {
  const known = (ref: string) => ref === 'string' || (SCALAR_TYPES as readonly string[]).includes(ref) || defs.types.has(bareTypeName(ref));
  const check = (owner: string, file: string, fields: readonly ApiField[]) => {
    for (const f of fields) {
      if (!known(f.type)) throw new VppDefinitionError(file, `${owner} field ${f.name}: unknown type ${f.type}`);
    }
  };
  for (const t of defs.types.values()) {
    if (t.kind === 'struct' || t.kind === 'union') check(`${t.kind} ${t.name}`, t.file, t.fields);
    if (t.kind === 'alias' && !known(t.type)) throw new VppDefinitionError(t.file, `alias ${t.name}: unknown type ${t.type}`);
  }
  for (const m of defs.messages.values()) check(`message ${m.name}`, m.file, m.fields);

  const state = new Map<string, 1 | 2>(); // 1 = visiting, 2 = done
  const visit = (name: string, path: string[]) => {
    const t = defs.types.get(name);
    if (!t || state.get(name) === 2) return;
    if (state.get(name) === 1) throw new VppDefinitionError(t.file, `type ${name} contains itself (${[...path, name].join(' → ')})`);
    state.set(name, 1);
    if (t.kind === 'alias') visit(bareTypeName(t.type), [...path, name]);
    if (t.kind === 'struct' || t.kind === 'union') for (const f of t.fields) visit(bareTypeName(f.type), [...path, name]);
    state.set(name, 2);
  };
  for (const name of defs.types.keys()) visit(name, []);
}

/** "0xA530137E" → "0xa530137e" (8 digits). */
export function normaliseCrc(crc: string): string {
  return `0x${crc.replace(/^0x/i, '').toLowerCase().padStart(8, '0')}`;
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

