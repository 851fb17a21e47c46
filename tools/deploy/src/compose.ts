import { readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import Ajv from 'ajv';
import { parseDocument } from 'yaml';
import type { Protocol } from './commands';
import type { Files } from './files';
import { parseEnvFile } from './kustomize';
import { EnvVar, Port, Probe, splitCommand, Workload, PLACEHOLDER } from './workload';

/**
 * A compose file as `docker compose --env-file <env> -f <file>` reads it: YAML (anchors and
 * merge keys), `${VAR}` interpolation from the env file, then the Compose Specification's JSON
 * schema (shipped by the dclint package), then its services as workloads.
 */
export interface ComposeFile {
  path: string;
  doc: Record<string, unknown>;
  errors: string[];
}

let validator: ReturnType<Ajv['compile']> | null = null;

function schemaValidator() {
  if (!validator) {
    const schema = JSON.parse(readFileSync(join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json'), 'utf8'));
    delete schema.$schema; // an https draft-07 URI ajv does not know by that name; the schema is draft-07
    validator = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return validator;
}

export function loadCompose(files: Files, path: string, envPath: string): ComposeFile {
  const errors: string[] = [];
  const env = new Map(parseEnvFile(files.read(envPath), envPath));
  const parsed = parseDocument(files.read(path), { merge: true, uniqueKeys: true });
  if (parsed.errors.length) return { path, doc: {}, errors: parsed.errors.map((e) => `${path}: ${e.message}`) };
  const raw = parsed.toJS({ maxAliasCount: 1000 }) as unknown;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { path, doc: {}, errors: [`${path}: must be a mapping`] };
  const doc = interpolate(raw, env, (msg) => errors.push(`${path}: ${msg}`)) as Record<string, unknown>;
  const validate = schemaValidator();
  if (!validate(doc)) {
    for (const e of validate.errors ?? []) {
      const extra = e.params && 'additionalProperty' in e.params ? ` "${e.params.additionalProperty}"` : '';
      errors.push(`${path}: ${e.instancePath.slice(1).replace(/\//g, '.') || '(top)'} ${e.message}${extra}`);
    }
  }
  return { path, doc, errors };
}

/** Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt}, ${VAR+alt}. */
export function interpolate(value: unknown, env: ReadonlyMap<string, string>, fail: (msg: string) => void): unknown {
  if (typeof value === 'string') return interpolateString(value, env, fail);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env, fail));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, fail)]));
  return value;
}

function interpolateString(text: string, env: ReadonlyMap<string, string>, fail: (msg: string) => void): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '$') {
      out += text[i++];
      continue;
    }
    if (text[i + 1] === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (text[i + 1] === '{') {
      let depth = 1;
      let j = i + 2;
      for (; j < text.length; j++) {
        if (text[j] === '$' && text[j + 1] === '{') {
          depth++;
          j++;
        } else if (text[j] === '}' && --depth === 0) break;
      }
      if (depth !== 0) {
        fail(`invalid interpolation "${text.slice(i)}": no closing }`);
        return out;
      }
      out += expand(text.slice(i + 2, j), env, fail);
      i = j + 1;
      continue;
    }
    const bare = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (bare) {
      out += expand(bare[0], env, fail);
      i += 1 + bare[0].length;
    } else out += text[i++];
  }
  return out;
}

/** One ${…}: NAME, then :-, -, :?, ?, :+ or + and a word that is itself interpolated. */
function expand(inner: string, env: ReadonlyMap<string, string>, fail: (msg: string) => void): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([\s\S]*))?$/.exec(inner);
  if (!m) {
    fail(`invalid interpolation "\${${inner}}"`);
    return '';
  }
  const [, name, colon, op, arg] = m;
  const value = env.get(name);
  const unset = value === undefined || (colon === ':' && value === '');
  if (op === '-') return unset ? interpolateString(arg, env, fail) : value!;
  if (op === '+') return unset ? '' : interpolateString(arg, env, fail);
  if (op === '?') {
    if (unset) fail(`\${${name}} is required: ${arg || 'not set'} (the env file gives no value)`);
    return value ?? '';
  }
  if (value === undefined) fail(`\${${name}} is not set in the env file (compose would use an empty string)`);
  return value ?? '';
}

const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The services of a compose file as workloads, and what is wrong with how they fit together. */
export function composeWorkloads(file: ComposeFile): { workloads: Workload[]; errors: string[] } {
  const errors: string[] = [];
  const services = obj(file.doc.services);
  const volumes = obj(file.doc.volumes);
  const workloads: Workload[] = [];
  for (const [name, raw] of Object.entries(services)) {
    const s = obj(raw);
    const where = `${file.path} services.${name}`;
    const fail = (msg: string) => errors.push(`${where}: ${msg}`);
    const mode = typeof s.network_mode === 'string' ? s.network_mode : undefined;
    let netns = `${file.path}#${name}`;
    let ownsNetns = true;
    let hostNetwork = false;
    if (mode?.startsWith('service:')) {
      const owner = mode.slice('service:'.length);
      if (!(owner in services)) fail(`network_mode ${mode}: no such service`);
      else if (typeof obj(services[owner]).network_mode === 'string') fail(`network_mode ${mode}: ${owner} must own its network namespace (no network_mode)`);
      netns = `${file.path}#${owner}`;
      ownsNetns = false;
    } else if (mode === 'host') {
      netns = 'host';
      hostNetwork = true;
      ownsNetns = false;
    } else if (mode !== undefined && mode !== 'bridge') fail(`network_mode ${mode} is not supported here (use service:<name> or host)`);
    if (!ownsNetns && s.ports !== undefined) fail(`ports cannot be published with network_mode ${mode}: publish them on ${hostNetwork ? 'nothing (host network)' : mode!.slice(8)}`);

    for (const dep of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries((s.depends_on as string[]).map((d) => [d, {}])) : obj(s.depends_on))) {
      if (!(dep in services)) fail(`depends_on ${dep}: no such service`);
      else if (obj(obj(s.depends_on)[dep]).condition === 'service_healthy' && !obj(services[dep]).healthcheck) fail(`depends_on ${dep} (service_healthy): ${dep} has no healthcheck`);
    }

    const mounts = new Map<string, string>();
    for (const v of Array.isArray(s.volumes) ? s.volumes : []) {
      let source: string | undefined;
      let target: string | undefined;
      if (typeof v === 'string') [source, target] = v.split(':');
      else ({ source, target } = obj(v) as { source?: string; target?: string });
      if (!target) continue;
      if (source === undefined) mounts.set(target, `anonymous ${where} ${target}`);
      else if (/^[./~]/.test(source)) mounts.set(target, `bind ${source.startsWith('/') ? posix.normalize(source) : posix.join(posix.dirname(file.path), source)}`);
      else {
        if (!(source in volumes)) fail(`volume "${source}" is not declared under the top-level volumes`);
        mounts.set(target, `volume ${file.path}#${source}`);
      }
    }

    const env: EnvVar[] = [];
    if (s.env_file !== undefined) fail('env_file is not used by these files: give environment entries, so each is checked');
    const environment = s.environment;
    const entries: Array<[string, unknown]> = Array.isArray(environment)
      ? (environment as string[]).map((e) => {
          const i = String(e).indexOf('=');
          return i < 0 ? [String(e), null] : [String(e).slice(0, i), String(e).slice(i + 1)];
        })
      : Object.entries(obj(environment));
    for (const [key, value] of entries) {
      if (value === null || value === undefined) env.push({ name: key, unchecked: 'taken from the environment of docker compose', source: 'environment' });
      else {
        const text = String(value);
        env.push({ name: key, value: text, unchecked: text.includes(PLACEHOLDER) ? 'a placeholder' : undefined, source: 'environment' });
      }
    }

    const ports: Port[] = [];
    for (const p of Array.isArray(s.ports) ? s.ports : []) {
      const parsedPorts = parsePortSpec(p);
      if (!parsedPorts) fail(`cannot read the port "${JSON.stringify(p)}"`);
      else ports.push(...parsedPorts);
    }

    const probes: Probe[] = [];
    const hc = obj(s.healthcheck);
    if (s.healthcheck !== undefined && hc.disable !== true) {
      const test = Array.isArray(hc.test) ? (hc.test as string[]).slice(1).join(' ') : String(hc.test ?? '');
      const m = /https?:\/\/([^/:\s'"]+|\[[^\]]+\]):(\d+)(\/[^\s'")]*)?/.exec(test);
      probes.push({ kind: 'healthcheck', http: m ? { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]), path: m[3] ?? '/' } : undefined, text: test });
    }

    const build = s.build === undefined ? undefined : typeof s.build === 'string' ? { context: s.build } : obj(s.build);
    const capabilities = new Set((Array.isArray(s.cap_add) ? s.cap_add : []).map((c) => String(c).toUpperCase().replace(/^CAP_/, '')));
    const devices = (Array.isArray(s.devices) ? s.devices : []).map((d) => (typeof d === 'string' ? d.split(':')[1] ?? d.split(':')[0] : String(obj(d).target ?? obj(d).source)));
    const entrypoint = s.entrypoint === undefined ? undefined : Array.isArray(s.entrypoint) ? s.entrypoint.map(String) : splitCommand(String(s.entrypoint));
    const command = s.command === undefined || s.command === null ? undefined : Array.isArray(s.command) ? s.command.map(String) : splitCommand(String(s.command));
    workloads.push({
      platform: 'compose',
      where,
      image: typeof s.image === 'string' ? s.image : '',
      build: build ? { dockerfile: posix.join(posix.dirname(file.path), String(build.context ?? '.'), String(build.dockerfile ?? 'Dockerfile')), target: build.target as string | undefined } : undefined,
      entrypoint,
      command,
      env,
      netns,
      hostNetwork,
      ownsNetns,
      capabilities,
      privileged: s.privileged === true,
      tun: s.privileged === true || devices.includes('/dev/net/tun'),
      mounts,
      ports,
      probes,
      restart: typeof s.restart === 'string' ? s.restart : 'no',
    });
    if (!s.image) fail('needs an image (a name for what it builds, or the image it runs)');
  }
  return { workloads, errors };
}

/** "127.0.0.1:8080:80/tcp", "51820:51820/udp", "53", long form; ranges refused. */
function parsePortSpec(p: unknown): Port[] | null {
  if (typeof p === 'number') return [{ port: p, protocol: 'tcp', text: String(p) }];
  if (typeof p === 'string') {
    const m = /^(?:(\[[^\]]+\]|[^:\[\]]+):)??(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(p);
    if (!m) return null;
    return [{ port: Number(m[3]), protocol: (m[4] ?? 'tcp') as Protocol, hostIp: m[1]?.replace(/^\[|\]$/g, ''), text: p }];
  }
  const o = obj(p);
  if (typeof o.target !== 'number') return null;
  return [{ port: o.target, protocol: (o.protocol ?? 'tcp') as Protocol, hostIp: o.host_ip as string | undefined, text: JSON.stringify(p) }];
}
