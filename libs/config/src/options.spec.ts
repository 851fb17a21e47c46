import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatOptionsHelp, OptionSpec, parseCommand, parseOptions } from './options';
import { values } from './values';

const specs: OptionSpec[] = [
  { key: 'zone', flag: 'zone', env: 'T_ZONE', value: '<zone>', description: 'zone', parse: values.zone, repeatable: true, required: true },
  { key: 'listen', flag: 'listen', env: 'T_LISTEN', value: '<addr:port>', description: 'listen', parse: values.listen, default: '0.0.0.0:5353' },
  { key: 'ttl', flag: 'ttl', env: 'T_TTL', value: '<s>', description: 'ttl', parse: values.int(0, 86400), default: '0' },
  { key: 'verbose', flag: 'verbose', description: 'more logs', parse: values.bool, default: 'false' },
];

const dirs: string[] = [];
function file(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-config-'));
  dirs.push(dir);
  const path = join(dir, 'c.json');
  writeFileSync(path, content);
  return path;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('parseOptions', () => {
  it('takes flags over env over file over defaults', () => {
    const cfg = file(JSON.stringify({ zone: ['from.file'], ttl: 7 }));
    const { options } = parseOptions(specs, { argv: ['--config', cfg, '--ttl=30'], env: { T_ZONE: 'a.example,b.example' } });
    expect(options).toEqual({ zone: ['a.example.', 'b.example.'], listen: { host: '0.0.0.0', port: 5353 }, ttl: 30, verbose: false });
    expect(parseOptions(specs, { argv: ['--config', cfg] }).options.zone).toEqual(['from.file.']);
  });

  it('collects repeatable flags, switches and positionals', () => {
    const parsed = parseOptions(specs, { argv: ['run', '--zone', 'a.example', '--zone', 'B.Example.', '--verbose'], env: {} });
    expect(parsed.options.zone).toEqual(['a.example.', 'b.example.']);
    expect(parsed.options.verbose).toBe(true);
    expect(parsed.rest).toEqual(['run']);
  });

  it.each([
    [['--zone', 'a.example', '--bogus'], /unknown option --bogus/],
    [['--zone', 'a.example', '--ttl'], /--ttl needs a value <s>/],
    [['--zone', 'a.example', '--ttl', '-5'], /invalid --ttl: "-5" must be an integer from 0 to 86400/],
    [['--zone', 'a.example', '--listen', '10.0.0.1'], /invalid --listen: .*<address>:<port>/],
    [['--zone', 'a.example', '--listen', '10.0.0.1:99999'], /invalid --listen: .*1-65535/],
    [['--zone', 'bad zone'], /invalid --zone: .*DNS domain name/],
    [[], /missing --zone \/ T_ZONE/],
    [['--zone', 'a.example', '--ttl', '1', '--ttl', '2'], /--ttl was given more than once/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseOptions(specs, { argv, env: {} })).toThrow(ConfigError);
    expect(() => parseOptions(specs, { argv, env: {} })).toThrow(message);
  });

  it('reports an invalid value before a missing option, and a contract error with the value', () => {
    expect(() => parseOptions(specs, { argv: ['--ttl', 'x'], env: {} })).toThrow(/^invalid --ttl: "x" must be an integer from 0 to 86400$/);
    const keyed: OptionSpec[] = [...specs, { key: 'key', flag: 'key', value: '<base64>', description: 'a key', parse: values.publicKey }];
    expect(() => parseOptions(keyed, { argv: ['--zone', 'a.example', '--key', 'nope'], env: {} })).toThrow(/^invalid --key: "nope" must be a WireGuard public key \(44 characters of base64\)$/);
    expect(() => parseOptions(keyed, { argv: ['--zone', 'a.example', '--key', 'x'.repeat(200)], env: {} })).toThrow(/^invalid --key: "x{61}\.\.\." must be/);
  });

  it('names the source of a bad env value and bad config files', () => {
    expect(() => parseOptions(specs, { argv: ['--zone', 'a.example'], env: { T_TTL: 'soon' } })).toThrow(/invalid environment variable T_TTL \(option --ttl\): "soon" must be an integer/);
    expect(() => parseOptions(specs, { argv: ['--config', file('{nope')] })).toThrow(/not valid JSON/);
    expect(() => parseOptions(specs, { argv: ['--config', file('{"zonez": 1}')] })).toThrow(/unknown key "zonez"/);
    expect(() => parseOptions(specs, { argv: ['--config', '/nonexistent/x.json'] })).toThrow(/cannot read config file .*ENOENT/);
  });

  it('returns early for --help and documents every option', () => {
    expect(parseOptions(specs, { argv: ['--help'] }).help).toBe(true);
    const help = formatOptionsHelp(specs);
    for (const s of specs) expect(help).toContain(`--${s.flag}`);
    expect(help).toContain('env T_LISTEN');
    expect(help).toContain('--config <file>');
  });

  it('parseCommand: options, usage for --help (0), a usage error (2)', () => {
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(parseCommand('t', 'USAGE', specs, { argv: ['--zone', 'a.example'], env: {} })).toEqual({ options: expect.objectContaining({ zone: ['a.example.'] }) });
      expect(parseCommand('t', 'USAGE', specs, { argv: ['--help'], env: {} })).toEqual({ exit: 0 });
      expect(out).toHaveBeenCalledWith('USAGE\n');
      expect(parseCommand('t', 'USAGE', specs, { argv: ['--zone', 'a.example', 'extra'], env: {} })).toEqual({ exit: 2 });
      expect(err).toHaveBeenCalledWith('t: unexpected argument "extra" (see --help)\n');
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
