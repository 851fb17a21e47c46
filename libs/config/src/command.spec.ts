import { CommandError, ConfigError, defineOption, defineOptions, EXIT, formatOptionsHelp, OptionsOf, parseOptions, pickOptions, runCommand } from './options';
import { values } from './values';

// The typed command front: option specs give the parsed type (checked by `npm run typecheck`,
// which compiles this file), and runCommand keeps the exit-code convention of every command.

const shared = defineOption({ key: 'stateDir', flag: 'state-dir', env: 'T_STATE_DIR', value: '<dir>', description: 'state', parse: values.string, default: '/var/lib/t' });

const specs = defineOptions([
  { key: 'zone', flag: 'zone', env: 'T_ZONE', value: '<zone>', description: 'zone', parse: values.zone, repeatable: true, required: true },
  { key: 'listen', flag: 'listen', value: '<addr:port>', description: 'listen', parse: values.listen, default: '0.0.0.0:5353' },
  { key: 'ttl', flag: 'ttl', env: 'T_TTL', value: '<s>', description: 'ttl', parse: values.int(0, 86400) },
  { key: 'mode', flag: 'mode', value: '<a|b>', description: 'mode', parse: (t) => (t === 'a' || t === 'b' ? t : fail(`"${t}" must be a or b`)), default: 'a' },
  { key: 'verbose', flag: 'verbose', description: 'more logs', parse: values.bool },
  shared,
]);

function fail(message: string): never {
  throw new Error(message);
}

type Parsed = OptionsOf<typeof specs>;

/** Compile-time equality: `Equal<A, B>` is true only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typed: Equal<
  Parsed,
  { zone: string[]; listen: { host: string; port: number }; mode: 'a' | 'b'; stateDir: string; ttl?: number; verbose?: boolean }
> = true;

describe('OptionsOf: the parsed type comes from the specs', () => {
  it('types each key by its parser; required, repeatable and defaulted keys are always there', () => {
    expect(typed).toBe(true);
    const { options } = parseOptions(specs, { argv: ['--zone', 'a.example', '--ttl', '5', '--mode', 'b'], env: {} });
    // Each line compiles only because the field has this type.
    const zones: string[] = options.zone;
    const port: number = options.listen.port;
    const mode: 'a' | 'b' = options.mode;
    const ttl: number | undefined = options.ttl;
    expect({ zones, port, mode, ttl, stateDir: options.stateDir, verbose: options.verbose }).toEqual({ zones: ['a.example.'], port: 5353, mode: 'b', ttl: 5, stateDir: '/var/lib/t', verbose: undefined });
    // @ts-expect-error --ttl has no default and is not required: it may be undefined
    const mustBeThere: number = options.ttl;
    // @ts-expect-error no spec has the key "zones"
    void options.zones;
    // @ts-expect-error --listen parses to an address, not a string
    const text: string = options.listen;
    void [mustBeThere, text];
  });

  it('refuses a spec whose default does not fit its form, and a pick of a key no spec has', () => {
    // @ts-expect-error a default is text, parsed like a flag's value (not a number)
    defineOptions([{ key: 'n', flag: 'n', value: '<n>', description: 'n', parse: values.int(0, 9), default: 3 }]);
    // @ts-expect-error "nope" is not a key of these specs
    expect(() => pickOptions(specs, ['ttl', 'nope'])).toThrow('no option "nope" to pick');
  });

  it('pickOptions keeps the picked specs (and their types) from another list', () => {
    const picked = defineOptions([...pickOptions(specs, ['ttl', 'stateDir'])]);
    const { options } = parseOptions(picked, { argv: ['--ttl', '7'], env: {} });
    const both: { ttl?: number; stateDir: string } = options;
    expect(both).toEqual({ ttl: 7, stateDir: '/var/lib/t' });
    expect(picked.map((s) => s.flag)).toEqual(['ttl', 'state-dir']);
  });
});

describe('runCommand', () => {
  let out: jest.SpyInstance;
  let err: jest.SpyInstance;
  beforeEach(() => {
    out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    out.mockRestore();
    err.mockRestore();
  });
  const command = { name: 'wgmesh t', usage: 'USAGE', options: specs, env: {} };
  class Unreachable extends Error {}

  it('hands the body the typed options and returns its code', async () => {
    const seen: Parsed[] = [];
    const code = await runCommand(['--zone', 'a.example', '--ttl=9'], command, (o) => {
      seen.push(o);
      return 7;
    });
    expect(code).toBe(7);
    expect(seen).toEqual([expect.objectContaining({ zone: ['a.example.'], ttl: 9, mode: 'a', stateDir: '/var/lib/t' })]);
  });

  it('--help prints the usage and exits 0 without running the body', async () => {
    const body = jest.fn(async () => 0);
    expect(await runCommand(['--help', '--ttl', 'nonsense'], command, body)).toBe(EXIT.ok);
    expect(out).toHaveBeenCalledWith('USAGE\n');
    expect(body).not.toHaveBeenCalled();
  });

  it('a bad option, a missing one, a stray argument or a failed check is a usage error: exit 2, the message on stderr', async () => {
    const body = jest.fn(async () => 0);
    expect(await runCommand(['--zone', 'a.example', '--ttl', 'x'], command, body)).toBe(EXIT.usage);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: invalid --ttl: "x" must be an integer from 0 to 86400\n');
    expect(await runCommand([], command, body)).toBe(EXIT.usage);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: missing --zone / T_ZONE: zone\n');
    expect(await runCommand(['--zone', 'a.example', 'extra'], command, body)).toBe(EXIT.usage);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: unexpected argument "extra" (see --help)\n');
    const checked = {
      ...command,
      check: (o: Parsed) => {
        if (o.ttl === undefined) throw new ConfigError('--ttl is needed here');
        return { ...o, ttl: o.ttl };
      },
    };
    expect(await runCommand(['--zone', 'a.example'], checked, body)).toBe(EXIT.usage);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: --ttl is needed here\n');
    expect(body).not.toHaveBeenCalled();
    // What check returns is what the body gets: here ttl is no longer optional.
    expect(await runCommand(['--zone', 'a.example', '--ttl', '3'], checked, (o) => o.ttl)).toBe(3);
  });

  it('positionals reach the body only when the command takes them; a ConfigError from the body is exit 2', async () => {
    const rest: string[][] = [];
    const code = await runCommand(['x', '--zone', 'a.example', 'y'], { ...command, positionals: true }, (_o, r) => {
      rest.push(r);
      throw new ConfigError('name exactly one');
    });
    expect(code).toBe(EXIT.usage);
    expect(rest).toEqual([['x', 'y']]);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: name exactly one\n');
  });

  it('a CommandError or a listed failure exits 1 with its message; anything else is thrown', async () => {
    const argv = ['--zone', 'a.example'];
    expect(await runCommand(argv, command, () => Promise.reject(new CommandError('nothing answered')))).toBe(EXIT.failure);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: nothing answered\n');
    expect(await runCommand(argv, { ...command, failures: [Unreachable] }, () => Promise.reject(new Unreachable('no route')))).toBe(EXIT.failure);
    expect(err).toHaveBeenLastCalledWith('wgmesh t: no route\n');
    await expect(runCommand(argv, command, () => Promise.reject(new Unreachable('a bug')))).rejects.toThrow('a bug');
  });

  it('help lists a picked or shared spec like any other', () => {
    expect(formatOptionsHelp(specs)).toContain('--state-dir <dir>');
  });
});
