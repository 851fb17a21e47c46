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

export interface OptionSpec<K extends string = string, T = unknown> {
  /** camelCase key in the config file and in the parsed result. */
  key: K;
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
  default?: string | readonly string[];
  required?: boolean;
}

/** The parsed value of one spec: what its `parse` returns, a list of them when repeatable. */
export type OptionValue<S> = S extends { parse: (text: string) => infer T } ? (S extends { repeatable: true } ? T[] : T) : never;

/** True when a spec always yields a value: repeatable (at least []), required, or with a default. */
type AlwaysSet<S> = S extends { repeatable: true } | { required: true } | { default: string | readonly string[] } ? true : false;

type Flatten<T> = { [K in keyof T]: T[K] };

/**
 * The parsed options of a spec list, typed from the specs themselves: each key holds what its
 * spec's `parse` returns (an array when repeatable), and is optional unless the spec is required,
 * repeatable or has a default. Declare the specs with `defineOptions([...])` (or `as const`) so
 * their keys and flags keep their literal types.
 */
export type OptionsOf<S extends readonly OptionSpec[]> = Flatten<
  { [P in S[number] as AlwaysSet<P> extends true ? P['key'] : never]: OptionValue<P> } & {
    [P in S[number] as AlwaysSet<P> extends true ? never : P['key']]?: OptionValue<P>;
  }
>;

/** A command's option specs, with their literal types kept for OptionsOf (no `as const` needed). */
export function defineOptions<const S extends readonly OptionSpec[]>(specs: S): S {
  return specs;
}

/** One option spec, with its literal types kept (for specs shared between commands). */
export function defineOption<const S extends OptionSpec>(spec: S): S {
  return spec;
}

/** Some specs of another command's list, by key, with their types (shared options stay one spec). */
export function pickOptions<const S extends readonly OptionSpec[], const K extends readonly S[number]['key'][]>(
  specs: S,
  keys: K,
): { -readonly [I in keyof K]: Extract<S[number], { key: K[I] }> } {
  return keys.map((k) => {
    const spec = specs.find((s) => s.key === k);
    if (!spec) throw new Error(`no option "${k}" to pick`);
    return spec;
  }) as { -readonly [I in keyof K]: Extract<S[number], { key: K[I] }> };
}

export type Options = Record<string, unknown>;

export interface Sources {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** Environment variable naming a JSON config file; `--config <file>` always works. */
  configEnv?: string;
}

export interface Parsed<O = Options> {
  options: O;
  /** Positional arguments left over. */
  rest: string[];
  help: boolean;
}

export function parseOptions<const S extends readonly OptionSpec[]>(specs: S, sources: Sources): Parsed<OptionsOf<S>> {
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
  // The one place the parsed record meets its type: each key below is set from its own spec.
  const typed = options as OptionsOf<S>;
  if (help) return { options: typed, rest, help };
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
      const given = spec.default;
      value = typeof given === 'string' ? convert(given, source) : given.map((t) => convert(t, source));
    } else if (spec.required) {
      missing ??= new ConfigError(`missing ${describe(spec)}: ${spec.description}`);
    } else if (spec.repeatable) {
      value = [];
    }
    options[spec.key] = value;
  }
  if (missing) throw missing;
  return { options: typed, rest, help };
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
    if (s.default !== undefined && !(typeof s.default !== 'string' && s.default.length === 0)) {
      extra.push(`default ${typeof s.default === 'string' ? s.default : s.default.join(',')}`);
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

/** Exit codes of every wgmesh command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A failure to report on stderr with exit code 1 (not a usage error). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

/** One command: its name in messages, its --help text, its options and how its arguments are read. */
export interface CommandSpec<S extends readonly OptionSpec[], C = OptionsOf<S>> {
  /** Prefix of its error messages, e.g. "wgmesh peers". */
  name: string;
  usage: string;
  options: S;
  /** Positional arguments are handed to the body; without this, the first one is a usage error. */
  positionals?: boolean;
  /** Cross-option checks after each option parsed on its own (throw ConfigError); returns the config. */
  check?: (options: OptionsOf<S>) => C;
  /** Errors the body may throw that are failures to report (exit 1, the message only); CommandError always is. */
  failures?: ReadonlyArray<abstract new (...args: never[]) => Error>;
  /** Environment variable naming a JSON config file (default WGMESH_CONFIG). */
  configEnv?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The one command front: parse the options (flag, environment, config file, default), print the
 * usage for --help (exit 0), print a usage error naming the option (exit 2: a ConfigError, from
 * the options, the cross-option check or the body), run the body with the typed options and
 * return its exit code; a CommandError or one of `failures` is printed and exits 1.
 */
export async function runCommand<const S extends readonly OptionSpec[], C = OptionsOf<S>>(
  argv: string[],
  command: CommandSpec<S, C>,
  body: (options: C, rest: string[]) => Promise<number> | number,
): Promise<number> {
  const report = (err: Error, code: number) => {
    process.stderr.write(`${command.name}: ${err.message}\n`);
    return code;
  };
  let config: C;
  let rest: string[];
  try {
    const parsed = parseOptions(command.options, { argv, env: command.env, configEnv: command.configEnv ?? 'WGMESH_CONFIG' });
    if (parsed.help) {
      process.stdout.write(`${command.usage}\n`);
      return EXIT.ok;
    }
    rest = parsed.rest;
    if (!command.positionals && rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}" (see --help)`);
    config = command.check ? command.check(parsed.options) : (parsed.options as C);
  } catch (err) {
    if (err instanceof ConfigError) return report(err, EXIT.usage);
    throw err;
  }
  try {
    return await body(config, rest);
  } catch (err) {
    if (err instanceof ConfigError) return report(err, EXIT.usage);
    if (err instanceof CommandError || command.failures?.some((kind) => err instanceof kind)) return report(err as Error, EXIT.failure);
    throw err;
  }
}

/**
 * The synchronous front for scripts and benches: parse the options, print the usage for --help
 * (exit 0), print a usage error naming the option (exit 2), or return the typed options.
 * `rest` positionals are refused.
 */
export function parseCommand<const S extends readonly OptionSpec[]>(name: string, usage: string, specs: S, sources: Sources): { options: OptionsOf<S> } | { exit: 0 | 2 } {
  try {
    const parsed = parseOptions(specs, sources);
    if (parsed.help) {
      process.stdout.write(`${usage}\n`);
      return { exit: 0 };
    }
    if (parsed.rest.length > 0) throw new ConfigError(`unexpected argument "${parsed.rest[0]}" (see --help)`);
    return { options: parsed.options };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n`);
    return { exit: 2 };
  }
}
