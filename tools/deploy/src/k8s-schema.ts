import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './kustomize';

/**
 * Kubernetes objects against the Kubernetes API schemas, offline, from the `kubernetes-models`
 * package (generated from Kubernetes' OpenAPI document):
 *  - apiVersion and kind must name a resource the package has a model for;
 *  - the model's JSON-schema validation: required fields, types, enums, formats;
 *  - unknown fields, at any depth: the schemas allow extra properties (the API server drops or
 *    refuses them), so every key is looked up in the model's TypeScript declaration instead,
 *    walking the object and the declared types together with the TypeScript checker.
 */
interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

const MODELS_DIR = dirname(require.resolve('kubernetes-models/package.json'));

export function validateK8sObjects(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  const typed: Array<{ object: K8sObject; label: string; key: string }> = [];
  for (const object of objects) {
    const label = describe(object);
    const model = loadModel(object, (msg) => errors.push(`${label}: ${msg}`));
    if (!model) continue;
    try {
      new model(object).validate();
    } catch (err) {
      const list = (err as { errors?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }> }).errors;
      if (!list) throw err;
      for (const e of list) errors.push(`${label}: ${jsonPath(e.instancePath)} ${e.message}${e.params?.allowedValues ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`);
    }
    typed.push({ object, label, key: `${object.apiVersion}/${object.kind}` });
  }
  const types = declaredTypes(typed.map((t) => t.key));
  for (const t of typed) unknownFields(t.object, types.get(t.key)!, '', types.checker, (msg) => errors.push(`${t.label}: ${msg}`));
  return errors;
}

function describe(o: K8sObject): string {
  const name = o.metadata && typeof o.metadata === 'object' ? (o.metadata as Record<string, unknown>).name : undefined;
  return `${String(o.kind ?? '(no kind)')} ${String(name ?? '(no name)')}`;
}

function loadModel(o: K8sObject, fail: (msg: string) => void): ModelClass | null {
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    fail('apiVersion and kind are required');
    return null;
  }
  if (!/^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?v\d+((alpha|beta)\d+)?$/.test(o.apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(o.kind)) {
    fail(`"${o.apiVersion}" "${o.kind}" is not an apiVersion and a kind`);
    return null;
  }
  let mod: Record<string, unknown>;
  try {
    mod = require(join(MODELS_DIR, o.apiVersion, o.kind));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    fail(`no resource of kind ${o.kind} in ${o.apiVersion}`);
    return null;
  }
  const model = mod[o.kind] as ModelClass | undefined;
  if (typeof model !== 'function' || model.kind !== o.kind || model.apiVersion !== o.apiVersion) {
    fail(`no resource of kind ${o.kind} in ${o.apiVersion}`);
    return null;
  }
  return model;
}

function jsonPath(instancePath: string): string {
  if (!instancePath) return '(object)';
  return instancePath
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

// ---- unknown fields through the TypeScript declarations --------------------------------------

type Declared = Map<string, ts.Type> & { checker: ts.TypeChecker };
let cache: { program: ts.Program; keys: string[]; types: Declared } | null = null;

/** The declared type of each "apiVersion/kind" (one TypeScript program, kept between calls). */
function declaredTypes(keys: string[]): Declared {
  const wanted = [...new Set([...(cache?.keys ?? []), ...keys])].sort();
  if (cache && wanted.length === cache.keys.length) return cache.types;
  const file = join(MODELS_DIR, '..', '.wgmesh-deploy-check.ts'); // resolves kubernetes-models like a file beside it
  const text = wanted.map((k, i) => `import type { I${k.split('/').pop()} as T${i} } from 'kubernetes-models/${k}';\nexport type K${i} = T${i};`).join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, lib: ['lib.es5.d.ts'], types: [], module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, target: ts.ScriptTarget.ES2022 };
  const host = ts.createCompilerHost(options);
  const base = { getSourceFile: host.getSourceFile, fileExists: host.fileExists, readFile: host.readFile };
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, text, lang) : base.getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === file || base.fileExists.call(host, name);
  host.readFile = (name) => (name === file ? text : base.readFile.call(host, name));
  const program = ts.createProgram([file], options, host, cache?.program);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const types = new Map<string, ts.Type>() as Declared;
  types.checker = checker;
  for (const statement of source.statements) {
    if (!ts.isTypeAliasDeclaration(statement)) continue;
    const type = checker.getTypeAtLocation(statement.type);
    if (type.flags & ts.TypeFlags.Any) throw new Error(`kubernetes-models has no declaration for ${wanted[Number(statement.name.text.slice(1))]}`);
    types.set(wanted[Number(statement.name.text.slice(1))], type);
  }
  cache = { program, keys: wanted, types };
  return types;
}

function unknownFields(value: unknown, declared: ts.Type, path: string, checker: ts.TypeChecker, fail: (msg: string) => void): void {
  if (value === null || typeof value !== 'object') return;
  let type = checker.getNonNullableType(declared);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (type.isUnion()) {
    const candidates = type.types.filter((t) => (Array.isArray(value) ? checker.isArrayType(t) : t.flags & ts.TypeFlags.Object && !checker.isArrayType(t)));
    if (candidates.length === 0) return; // an object where a scalar belongs: the schema validation reports it
    // Several object shapes: the one that explains the most keys.
    const misses = (t: ts.Type) => {
      let n = 0;
      unknownFields(value, t, path, checker, () => n++);
      return n;
    };
    type = candidates.reduce((best, t) => (misses(t) < misses(best) ? t : best));
  }
  if (Array.isArray(value)) {
    if (!checker.isArrayType(type)) return;
    const element = checker.getTypeArguments(type as ts.TypeReference)[0];
    value.forEach((v, i) => unknownFields(v, element, `${path}[${i}]`, checker, fail));
    return;
  }
  const props = checker.getPropertiesOfType(type);
  const index = checker.getIndexTypeOfType(type, ts.IndexKind.String);
  if (props.length === 0 && !index) return; // `object`, `{}`: free-form
  for (const [key, v] of Object.entries(value)) {
    const here = path ? `${path}.${key}` : key;
    const prop = checker.getPropertyOfType(type, key);
    if (prop) unknownFields(v, checker.getTypeOfSymbol(prop), here, checker, fail);
    else if (index) unknownFields(v, index, here, checker, fail);
    else {
      const near = closest(key, props.map((p) => p.name));
      fail(`${here}: unknown field${near ? ` (did you mean ${near}?)` : ''}`);
    }
  }
}

/** The known name nearest to a misspelt one (edit distance at most a third of its length). */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const k of known) {
    const d = distance(word.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
