import { readFileSync } from 'node:fs';
import { ContractError } from '@wgmesh/contracts';

/**
 * Declarative options for every wgmesh command: each option can come from a command-line flag,
 * an environment variable or a JSON config file (in that order of precedence), and is checked by
 * its own parser, so a bad value fails with a message naming the option and its expected form.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface OptionSpec<T = unknown> {
  /** camelCase key in the config file and in the parsed result. */
  key: string;
  /** Long flag without dashes, e.g. "listen". */
  flag: string;
  /** Environment variable, e.g. "WGMESH_DNS_LISTEN". */
  env?: string;
  /** Placeholder shown in --help, e.g. "<addr:port>". Absent for boolean switches. */
  value?: string;
  description: string;
  /** Converts and validates one textual value; throws with the expected form. */
  parse: (text: string) => T;
  /** May be given more than once (flags), comma-separated (env), or an array (file). */
  repeatable?: boolean;
  /** Default in the same textual form as a flag's value (parsed like one); a list if repeatable. */
  default?: string | string[];
  required?: boolean;
}

export type Options = Record<string, unknown>;

export interface Sources {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** Environment variable naming a JSON config file; `--config <file>` always works. */
  configEnv?: string;
}

export interface Parsed {
  options: Options;
  /** Positional arguments left over. */
  rest: string[];
  help: boolean;
}

export function parseOptions(specs: readonly OptionSpec[], sources: Sources): Parsed {
  const env = sources.env ?? process.env;
  const byFlag = new Map(specs.map((s) => [s.flag, s]));
  const fromFlags = new Map<string, string[]>();
  const rest: string[] = [];
  let help = false;
  let configPath = sources.configEnv ? env[sources.configEnv] : undefined;

  const argv = sources.argv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (name === 'config') {
      configPath = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (!configPath) throw new ConfigError('--config needs a file path');
      continue;
    }
    const spec = byFlag.get(name);
    if (!spec) throw new ConfigError(`unknown option --${name} (see --help)`);
    let text: string | undefined;
    if (eq >= 0) text = arg.slice(eq + 1);
    else if (spec.value === undefined) text = 'true';
    else text = argv[++i];
    if (text === undefined || (eq < 0 && spec.value !== undefined && text.startsWith('--'))) {
      throw new ConfigError(`--${name} needs a value ${spec.value}`);
    }
    const list = fromFlags.get(spec.key) ?? [];
    if (list.length > 0 && !spec.repeatable) throw new ConfigError(`--${name} was given more than once`);
    fromFlags.set(spec.key, [...list, text]);
  }

  const file = configPath ? readConfigFile(configPath, specs) : {};
  const options: Options = {};
  if (help) return { options, rest, help };
  // A value given but invalid is reported before an option left out: it is the likelier mistake.
  let missing: ConfigError | null = null;
  for (const spec of specs) {
    const where = (source: string) => (source === `--${spec.flag}` ? source : `${source} (option --${spec.flag})`);
    const convert = (text: string, source: string) => {
      try {
        return spec.parse(text);
      } catch (err) {
        throw new ConfigError(`invalid ${where(source)}: ${expectedForm(err, text)}`);
      }
    };
    let value: unknown;
    const flagged = fromFlags.get(spec.key);
    if (flagged) {
      value = spec.repeatable ? flagged.map((t) => convert(t, `--${spec.flag}`)) : convert(flagged[0], `--${spec.flag}`);
    } else if (spec.env && env[spec.env] !== undefined && env[spec.env] !== '') {
      const text = env[spec.env] as string;
      const source = `environment variable ${spec.env}`;
      value = spec.repeatable ? text.split(',').map((t) => convert(t.trim(), source)) : convert(text, source);
    } else if (file[spec.key] !== undefined) {
      const raw = file[spec.key];
      const source = `"${spec.key}" in ${configPath}`;
      const asText = (v: unknown) => {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          throw new ConfigError(`invalid ${where(source)}: must be a string, number or boolean`);
        }
        return convert(String(v), source);
      };
      value = spec.repeatable ? (Array.isArray(raw) ? raw : [raw]).map(asText) : asText(raw);
    } else if (spec.default !== undefined) {
      const source = 'default';
      value = Array.isArray(spec.default) ? spec.default.map((t) => convert(t, source)) : convert(spec.default, source);
    } else if (spec.required) {
      missing ??= new ConfigError(`missing ${describe(spec)}: ${spec.description}`);
    } else if (spec.repeatable) {
      value = [];
    }
    options[spec.key] = value;
  }
  if (missing) throw missing;
  return { options, rest, help };
}

/**
 * What a value parser said about a bad value. A contracts ContractError names a field path that
 * means nothing here ("value: must be …"): it becomes `"<value>" must be …`. Values are cut at 64
 * characters, so a pasted blob does not flood the terminal.
 */
function expectedForm(err: unknown, text: string): string {
  if (err instanceof ContractError) return `${quote(text)} ${err.expected}`;
  return (err as Error)?.message ?? String(err);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text);
}

function readConfigFile(path: string, specs: readonly OptionSpec[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  const known = new Set(specs.map((s) => s.key));
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new ConfigError(`config file ${path}: unknown key "${key}" (known: ${[...known].join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function describe(spec: OptionSpec): string {
  return [`--${spec.flag}`, spec.env].filter(Boolean).join(' / ');
}

/** The options part of a command's --help: flag, value, env, default, description. */
export function formatOptionsHelp(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.flag}${s.value ? ` ${s.value}` : ''}`;
    const extra: string[] = [];
    if (s.env) extra.push(`env ${s.env}`);
    if (s.default !== undefined && !(Array.isArray(s.default) && s.default.length === 0)) {
      extra.push(`default ${Array.isArray(s.default) ? s.default.join(',') : s.default}`);
    }
    if (s.required) extra.push('required');
    if (s.repeatable) extra.push('repeatable');
    return { left, right: `${s.description}${extra.length ? ` [${extra.join('; ')}]` : ''}` };
  });
  rows.push({ left: '  --config <file>', right: 'JSON file with any of the options above, keyed by camelCase name' });
  rows.push({ left: '  -h, --help', right: 'show this help' });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return rows.map((r) => (r.left.length + 2 > width ? `${r.left}\n${' '.repeat(width)}${r.right}` : r.left.padEnd(width) + r.right)).join('\n');
}

/**
 * The usual command front: parse the options, print the usage for --help (exit 0), print a usage
 * error naming the option (exit 2), or return the options. `rest` positionals are refused.
 */
export function parseCommand<T>(name: string, usage: string, specs: readonly OptionSpec[], sources: Sources): { options: T } | { exit: 0 | 2 } {
  try {
    const parsed = parseOptions(specs, sources);
    if (parsed.help) {
      process.stdout.write(`${usage}\n`);
      return { exit: 0 };
    }
    if (parsed.rest.length > 0) throw new ConfigError(`unexpected argument "${parsed.rest[0]}" (see --help)`);
    return { options: parsed.options as unknown as T };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n`);
    return { exit: 2 };
  }
}
