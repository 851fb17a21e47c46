import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FileError, type Files } from './files';

/**
 * A small kustomize renderer for exactly the features deploy/k8s uses, so manifests are checked
 * offline with no kustomize binary: `resources` (files and directories with a kustomization),
 * `namespace`, `labels` (pairs, includeSelectors, includeTemplates), `configMapGenerator` and
 * `secretGenerator` (literals, envs, files; the content-hash name suffix and the rewriting of
 * references to it, as kustomize does), `generatorOptions.disableNameSuffixHash`, and `patches`
 * in JSON 6902 form with a target. Anything else in a kustomization is refused, so nothing is
 * silently rendered differently from `kubectl kustomize`.
 */
export type K8sObject = Record<string, unknown> & { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown> };

export class KustomizeError extends Error {
  override readonly name = 'KustomizeError';
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'configMapGenerator', 'secretGenerator', 'generatorOptions', 'patches']);
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'APIService', 'CSIDriver', 'RuntimeClass', 'Node',
]);
/** kustomize's default ("legacy") output order: these kinds first, in this order, the rest after. */
const ORDER_FIRST = [
  'Namespace', 'ResourceQuota', 'StorageClass', 'CustomResourceDefinition', 'ServiceAccount', 'PodSecurityPolicy', 'Role', 'ClusterRole', 'RoleBinding',
  'ClusterRoleBinding', 'ConfigMap', 'Secret', 'Endpoints', 'Service', 'LimitRange', 'PriorityClass', 'PersistentVolume', 'PersistentVolumeClaim',
  'Deployment', 'StatefulSet', 'CronJob', 'PodDisruptionBudget',
];
const ORDER_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

/** Generated objects keep the name they were generated with, for reference rewriting. */
const GENERATED = Symbol('generated name');
type Tracked = K8sObject & { [GENERATED]?: string };

/** Renders the kustomization in `dir` (relative to the Files root). */
export function renderKustomization(files: Files, dir: string): K8sObject[] {
  let out: Tracked[];
  try {
    out = render(files, posix.normalize(dir), []);
  } catch (err) {
    if (err instanceof FileError) throw new KustomizeError(err.message);
    throw err;
  }
  const rank = (kind: unknown) => {
    const first = ORDER_FIRST.indexOf(String(kind));
    if (first >= 0) return first;
    const last = ORDER_LAST.indexOf(String(kind));
    return last >= 0 ? 1000 + last : 500;
  };
  return out
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i)
    .map(({ o }) => {
      const copy = { ...o };
      delete (copy as Tracked)[GENERATED];
      return copy;
    });
}

function render(files: Files, dir: string, stack: string[]): Tracked[] {
  if (stack.includes(dir)) throw new KustomizeError(`${dir}: resources form a cycle (${[...stack, dir].join(' → ')})`);
  const name = KUSTOMIZATION_FILES.find((f) => files.exists(posix.join(dir, f)));
  if (!name) throw new KustomizeError(`${dir}: no kustomization.yaml`);
  const path = posix.join(dir, name);
  const k = parseOne(files.read(path), path);
  const where = (field: string) => `${path}: ${field}`;
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new KustomizeError(where(`"${key}" is not supported by this renderer (supported: ${[...SUPPORTED].join(', ')})`));
  if (k.apiVersion !== undefined && k.apiVersion !== 'kustomize.config.k8s.io/v1beta1') throw new KustomizeError(where(`apiVersion must be kustomize.config.k8s.io/v1beta1`));
  if (k.kind !== undefined && k.kind !== 'Kustomization') throw new KustomizeError(where('kind must be Kustomization'));

  const objects: Tracked[] = [];
  for (const entry of list(k.resources, where('resources'))) {
    if (typeof entry !== 'string') throw new KustomizeError(where('resources entries must be paths'));
    if (/^[a-z]+:\/\//.test(entry) || entry.startsWith('git@')) throw new KustomizeError(where(`remote resource ${entry} is not supported`));
    const target = posix.normalize(posix.join(dir, entry));
    if (files.isDirectory(target)) objects.push(...render(files, target, [...stack, dir]));
    else objects.push(...parseObjects(files.read(target), target));
  }

  const options = (k.generatorOptions ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(options)) if (key !== 'disableNameSuffixHash') throw new KustomizeError(where(`generatorOptions.${key} is not supported`));
  for (const g of list(k.configMapGenerator, where('configMapGenerator'))) objects.push(generate(files, dir, 'ConfigMap', g as Record<string, unknown>, options, where('configMapGenerator')));
  for (const g of list(k.secretGenerator, where('secretGenerator'))) objects.push(generate(files, dir, 'Secret', g as Record<string, unknown>, options, where('secretGenerator')));

  for (const p of list(k.patches, where('patches'))) applyPatch(files, dir, objects, p as Record<string, unknown>, where('patches'));

  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string' || !k.namespace) throw new KustomizeError(where('namespace must be a name'));
    for (const o of objects) if (!CLUSTER_SCOPED.has(String(o.kind))) meta(o).namespace = k.namespace;
  }
  for (const l of list(k.labels, where('labels'))) applyLabels(objects, l as Record<string, unknown>, where('labels'));
  rewriteGeneratedNames(objects);

  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.apiVersion} ${o.kind} ${meta(o).namespace ?? ''}/${meta(o).name}`;
    if (seen.has(id)) throw new KustomizeError(`${path}: ${o.kind} ${meta(o).name} is defined twice`);
    seen.add(id);
  }
  return objects;
}

function parseOne(text: string, path: string): Record<string, unknown> {
  const docs = parseObjects(text, path);
  if (docs.length !== 1) throw new KustomizeError(`${path}: must hold one document`);
  return docs[0];
}

function parseObjects(text: string, path: string): Tracked[] {
  const out: Tracked[] = [];
  for (const doc of parseAllDocuments(text, { merge: true, uniqueKeys: true })) {
    if (doc.errors.length) throw new KustomizeError(`${path}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new KustomizeError(`${path}: every document must be a mapping`);
    out.push(value);
  }
  return out;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new KustomizeError(`${where} must be a list`);
  return value;
}

function meta(o: K8sObject): Record<string, unknown> {
  if (!o.metadata || typeof o.metadata !== 'object') o.metadata = {};
  return o.metadata;
}

// ---- generators ------------------------------------------------------------------------------

function generate(files: Files, dir: string, kind: 'ConfigMap' | 'Secret', g: Record<string, unknown>, options: Record<string, unknown>, where: string): Tracked {
  const allowed = new Set(['name', 'literals', 'envs', 'files', 'options', ...(kind === 'Secret' ? ['type'] : [])]);
  for (const key of Object.keys(g)) if (!allowed.has(key)) throw new KustomizeError(`${where}: "${key}" is not supported`);
  if (typeof g.name !== 'string' || !g.name) throw new KustomizeError(`${where}: every generator needs a name`);
  const data: Record<string, string> = {};
  const put = (key: string, value: string, from: string) => {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new KustomizeError(`${where} ${g.name}: "${key}" (from ${from}) is not a valid key`);
    if (key in data) throw new KustomizeError(`${where} ${g.name}: key "${key}" is given twice`);
    data[key] = value;
  };
  for (const lit of list(g.literals, `${where} literals`)) {
    const m = /^([^=]+)=([\s\S]*)$/.exec(String(lit));
    if (!m) throw new KustomizeError(`${where} ${g.name}: literal "${lit}" must be KEY=VALUE`);
    put(m[1], unquote(m[2]), 'literals');
  }
  for (const env of list(g.envs, `${where} envs`)) {
    const path = posix.join(dir, String(env));
    for (const [key, value] of parseEnvFile(files.read(path), path)) put(key, value, path);
  }
  for (const f of list(g.files, `${where} files`)) {
    const m = /^(?:([^=]+)=)?(.+)$/.exec(String(f))!;
    const path = posix.join(dir, m[2]);
    put(m[1] ?? posix.basename(m[2]), files.read(path), path);
  }
  const own = (g.options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(own)) if (key !== 'disableNameSuffixHash') throw new KustomizeError(`${where} ${g.name}: options.${key} is not supported`);
  const object: Tracked =
    kind === 'ConfigMap'
      ? { apiVersion: 'v1', kind, metadata: { name: g.name }, data }
      : { apiVersion: 'v1', kind, metadata: { name: g.name }, type: g.type ?? 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  if ((own.disableNameSuffixHash ?? options.disableNameSuffixHash) !== true) {
    object[GENERATED] = g.name;
    meta(object).name = `${g.name}-${contentHash(object)}`;
  }
  return object;
}

/** `KEY=VALUE` lines; blank lines and # comments skipped, as kustomize reads `envs` files. */
export function parseEnvFile(text: string, path: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^([^=\s]+)=(.*)$/.exec(line);
    if (!m) throw new KustomizeError(`${path}:${i + 1}: "${line}" must be KEY=VALUE`);
    out.push([m[1], unquote(m[2])]);
  });
  return out;
}

function unquote(v: string): string {
  return /^"[\s\S]*"$|^'[\s\S]*'$/.test(v) ? v.slice(1, -1) : v;
}

/**
 * kustomize's name suffix: the first 10 hex digits of the SHA-256 of the object's kind, name and
 * data (and type, for a Secret) as Go encodes them in JSON (keys sorted, <, > and & escaped),
 * with 0, 1, 3, a and e replaced by g, h, k, m and t.
 */
export function contentHash(o: K8sObject): string {
  const name = (o.metadata as Record<string, unknown>).name;
  const fields: Record<string, unknown> = o.kind === 'Secret' ? { data: o.data, kind: 'Secret', name, type: o.type } : { data: o.data, kind: 'ConfigMap', name };
  if (o.kind === 'ConfigMap' && o.binaryData && typeof o.binaryData === 'object') fields.binaryData = o.binaryData;
  const hex = createHash('sha256').update(goJson(fields)).digest('hex');
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' })[c]!);
}

function goJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${goJson(k)}:${goJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Points references to generated ConfigMaps and Secrets at their suffixed names. */
function rewriteGeneratedNames(objects: Tracked[]): void {
  const renamed = new Map<string, string>(); // "ConfigMap ns/name" → new name
  for (const o of objects) {
    if (o[GENERATED]) renamed.set(`${o.kind} ${meta(o).namespace ?? ''}/${o[GENERATED]}`, String(meta(o).name));
  }
  if (renamed.size === 0) return;
  for (const o of objects) {
    const ns = meta(o).namespace ?? '';
    const fix = (kind: 'ConfigMap' | 'Secret', holder: Record<string, unknown> | undefined, field: string) => {
      if (!holder || typeof holder[field] !== 'string') return;
      const to = renamed.get(`${kind} ${ns}/${holder[field]}`);
      if (to) holder[field] = to;
    };
    for (const spec of podSpecs(o)) {
      for (const c of [...arr(spec.containers), ...arr(spec.initContainers), ...arr(spec.ephemeralContainers)]) {
        for (const e of arr(c.env)) {
          const from = e.valueFrom as Record<string, Record<string, unknown>> | undefined;
          fix('ConfigMap', from?.configMapKeyRef, 'name');
          fix('Secret', from?.secretKeyRef, 'name');
        }
        for (const e of arr(c.envFrom)) {
          fix('ConfigMap', e.configMapRef as Record<string, unknown>, 'name');
          fix('Secret', e.secretRef as Record<string, unknown>, 'name');
        }
      }
      for (const v of arr(spec.volumes)) {
        fix('ConfigMap', v.configMap as Record<string, unknown>, 'name');
        fix('Secret', v.secret as Record<string, unknown>, 'secretName');
        for (const s of arr((v.projected as Record<string, unknown> | undefined)?.sources)) {
          fix('ConfigMap', s.configMap as Record<string, unknown>, 'name');
          fix('Secret', s.secret as Record<string, unknown>, 'name');
        }
      }
      for (const s of arr(spec.imagePullSecrets)) fix('Secret', s, 'name');
    }
  }
}

function arr(v: unknown): Array<Record<string, unknown>> {
  return Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Array<Record<string, unknown>>) : [];
}

/** The pod specs inside an object: a Pod's, a workload's template, a CronJob's job template. */
export function podSpecs(o: K8sObject): Array<Record<string, unknown>> {
  const spec = o.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') return [];
  if (o.kind === 'Pod') return [spec];
  const template = (o.kind === 'CronJob' ? ((spec.jobTemplate as Record<string, unknown>)?.spec as Record<string, unknown>)?.template : spec.template) as Record<string, unknown> | undefined;
  return template && typeof template.spec === 'object' && template.spec ? [template.spec as Record<string, unknown>] : [];
}

function podTemplates(o: K8sObject): Array<Record<string, unknown>> {
  const spec = o.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object' || o.kind === 'Pod') return [];
  const template = (o.kind === 'CronJob' ? ((spec.jobTemplate as Record<string, unknown>)?.spec as Record<string, unknown>)?.template : spec.template) as Record<string, unknown> | undefined;
  return template && typeof template === 'object' ? [template] : [];
}

// ---- labels ----------------------------------------------------------------------------------

function applyLabels(objects: Tracked[], l: Record<string, unknown>, where: string): void {
  for (const key of Object.keys(l)) if (!['pairs', 'includeSelectors', 'includeTemplates'].includes(key)) throw new KustomizeError(`${where}: "${key}" is not supported`);
  const pairs = l.pairs as Record<string, unknown>;
  if (!pairs || typeof pairs !== 'object') throw new KustomizeError(`${where}: every entry needs pairs`);
  const add = (holder: Record<string, unknown>, field: string) => {
    const current = (holder[field] ?? {}) as Record<string, unknown>;
    holder[field] = { ...current, ...Object.fromEntries(Object.entries(pairs).map(([k, v]) => [k, String(v)])) };
  };
  const selectors = l.includeSelectors === true;
  const templates = selectors || l.includeTemplates === true;
  for (const o of objects) {
    add(meta(o), 'labels');
    if (templates) for (const t of podTemplates(o)) add((t.metadata ??= {}) as Record<string, unknown>, 'labels');
    if (selectors) {
      const spec = o.spec as Record<string, unknown> | undefined;
      if (!spec) continue;
      if (o.kind === 'Service') add(spec, 'selector');
      else if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(String(o.kind))) add((spec.selector ??= {}) as Record<string, unknown>, 'matchLabels');
    }
  }
}

// ---- patches ---------------------------------------------------------------------------------

type Op = { op: string; path: string; value?: unknown; from?: string };

function applyPatch(files: Files, dir: string, objects: Tracked[], p: Record<string, unknown>, where: string): void {
  for (const key of Object.keys(p)) if (!['path', 'patch', 'target'].includes(key)) throw new KustomizeError(`${where}: "${key}" is not supported`);
  if ((p.path === undefined) === (p.patch === undefined)) throw new KustomizeError(`${where}: give either path or patch`);
  const source = p.path !== undefined ? posix.join(dir, String(p.path)) : `${where} (inline)`;
  const text = p.path !== undefined ? files.read(source) : String(p.patch);
  const docs = parseAllDocuments(text).map((d) => d.toJS());
  const ops = docs.length === 1 && Array.isArray(docs[0]) ? (docs[0] as Op[]) : null;
  if (!ops) throw new KustomizeError(`${source}: only JSON 6902 patches (a list of operations) are supported by this renderer`);
  const target = p.target as Record<string, unknown> | undefined;
  if (!target || typeof target !== 'object') throw new KustomizeError(`${source}: a JSON 6902 patch needs a target`);
  for (const key of Object.keys(target)) if (!['group', 'version', 'kind', 'name', 'namespace'].includes(key)) throw new KustomizeError(`${where}: target.${key} is not supported`);
  const matches = objects.filter((o) => {
    const [group, version] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : ['', String(o.apiVersion)];
    const is = (field: string, actual: unknown) => target[field] === undefined || new RegExp(`^(?:${target[field]})$`).test(String(actual ?? ''));
    return is('group', group) && is('version', version) && is('kind', o.kind) && is('name', meta(o).name) && is('namespace', meta(o).namespace);
  });
  if (matches.length === 0) throw new KustomizeError(`${source}: the target ${JSON.stringify(target)} matches no resource`);
  for (const o of matches) {
    for (const op of ops) {
      try {
        applyOp(o, op);
      } catch (err) {
        throw new KustomizeError(`${source}: ${op.op} ${op.path} on ${o.kind} ${meta(o).name}: ${(err as Error).message}`);
      }
    }
  }
}

/** One RFC 6902 operation (add, remove, replace, test, copy, move), in place. */
export function applyOp(doc: Record<string, unknown>, op: Op): void {
  const parts = pointer(op.path);
  const get = (path: string[]) => path.reduce<unknown>((node, key) => {
    if (node === null || typeof node !== 'object') throw new Error(`no ${op.path}`);
    if (Array.isArray(node)) return node[arrayIndex(node, key, false)];
    if (!(key in node)) throw new Error(`no "${key}" in ${op.path}`);
    return (node as Record<string, unknown>)[key];
  }, doc);
  const parent = () => {
    const node = get(parts.slice(0, -1));
    if (node === null || typeof node !== 'object') throw new Error(`the parent of ${op.path} is not an object or a list`);
    return node as Record<string, unknown> | unknown[];
  };
  const last = parts[parts.length - 1];
  const add = (value: unknown) => {
    if (parts.length === 0) throw new Error('cannot replace the whole document');
    const node = parent();
    if (Array.isArray(node)) node.splice(last === '-' ? node.length : arrayIndex(node, last, true), 0, structuredClone(value));
    else node[last] = structuredClone(value);
  };
  const remove = () => {
    const node = parent();
    if (Array.isArray(node)) node.splice(arrayIndex(node, last, false), 1);
    else {
      if (!(last in node)) throw new Error(`no "${last}" to remove`);
      delete node[last];
    }
  };
  switch (op.op) {
    case 'add':
      return add(op.value);
    case 'remove':
      return remove();
    case 'replace':
      get(parts);
      remove();
      return add(op.value);
    case 'test':
      if (JSON.stringify(get(parts)) !== JSON.stringify(op.value)) throw new Error(`test failed: ${JSON.stringify(get(parts))} is not ${JSON.stringify(op.value)}`);
      return;
    case 'copy':
    case 'move': {
      const from = pointer(String(op.from));
      const value = from.reduce<unknown>((node, key) => (Array.isArray(node) ? node[arrayIndex(node, key, false)] : (node as Record<string, unknown>)[key]), doc);
      if (value === undefined) throw new Error(`no ${op.from}`);
      if (op.op === 'move') applyOp(doc, { op: 'remove', path: String(op.from) });
      return add(value);
    }
    default:
      throw new Error(`unknown operation "${op.op}"`);
  }
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`"${path}" is not a JSON pointer`);
  return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(list: unknown[], key: string, forInsert: boolean): number {
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new Error(`"${key}" is not a list index`);
  const i = Number(key);
  if (i > list.length || (!forInsert && i === list.length)) throw new Error(`index ${i} is past the end of the list (${list.length})`);
  return i;
}
