import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { OptionSpec } from '@wgmesh/config';
import { labCommand, labOptions } from '@wgmesh/lab';
import { dataplaneCommand, dataplaneOptions } from '@wgmesh/app/dataplane-programmer';
import { peerDiscoveryCommand, peerDiscoveryOptions } from '@wgmesh/app/peer-discovery';
import { resolverCommand, resolverOptions } from '@wgmesh/app/registry-resolver';
import { connectCommand, options as connectOptions } from './commands/connect';
import { memberCommand, upOptions as memberUpOptions } from './commands/member';
import { classifyOptions, natProbeCommand, serverOptions as stunServerOptions } from './commands/nat-probe';
import { clientOptions, peersCommand } from './commands/peers';
import { registryCommand, upOptions as registryUpOptions } from './commands/registry';
import { statusCommand, options as statusOptions } from './commands/status';
import { watchCommand, watchOptions } from './commands/watch';

// Every option of every command, fed invalid values (found by trying candidates on the option's
// own parser, so a new option is covered as soon as it is in its command's OptionSpec array), by
// flag, environment variable and config file: the command must exit 2 with one line naming the
// option (and the variable or key) and the form it expects, before doing anything else. A new
// command needs a row in COMMANDS; the test checks the table against `wgmesh --help` and each
// row against the command's own --help.

type Run = (argv: string[]) => Promise<number>;
interface CommandRow {
  /** The words after `wgmesh`. */
  words: string[];
  run: Run;
  specs: readonly OptionSpec[];
}

const COMMANDS: CommandRow[] = [
  { words: ['registry', 'up'], run: (a) => registryCommand(['up', ...a]), specs: registryUpOptions },
  { words: ['member', 'up'], run: (a) => memberCommand(['up', ...a]), specs: memberUpOptions },
  { words: ['member', 'remove'], run: (a) => memberCommand(['remove', ...a]), specs: clientOptions },
  { words: ['resolver'], run: resolverCommand, specs: resolverOptions },
  { words: ['peer-discovery'], run: peerDiscoveryCommand, specs: peerDiscoveryOptions },
  { words: ['dataplane'], run: dataplaneCommand, specs: dataplaneOptions },
  { words: ['lab'], run: labCommand, specs: labOptions },
  { words: ['peers'], run: peersCommand, specs: clientOptions },
  { words: ['status'], run: statusCommand, specs: statusOptions },
  { words: ['watch'], run: watchCommand, specs: watchOptions },
  { words: ['connect'], run: connectCommand, specs: connectOptions },
  { words: ['nat-probe', 'server'], run: (a) => natProbeCommand(['server', ...a]), specs: stunServerOptions },
  { words: ['nat-probe', 'classify'], run: (a) => natProbeCommand(['classify', ...a]), specs: classifyOptions },
];
/** Top-level commands without OptionSpec options (their own argument handling). */
const NO_OPTION_SPECS = ['demo'];

/** Values that are wrong for most kinds of option; each option gets the ones its parser refuses. */
const CANDIDATES = [
  '', 'maybe', 'not valid!', '-1', '1.5', '99999999999', 'x'.repeat(300), '300.1.1.1', '10.0.0.0/33', '198.51.100.1:0', '[::1', 'ftp://x', 'UPPER', 'a b', '\u0000', ':',
];
/** How a message says what it expects. */
const EXPECTED_FORM = /must|is not|not a|invalid .*\(|one of|needs|expected|e\.g\./i;

const refuses = (spec: OptionSpec, text: string) => {
  try {
    spec.parse(text);
    return false;
  } catch {
    return true;
  }
};

/** Runs a command in this process: exit code and what it wrote. */
async function invoke(row: CommandRow, argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await Promise.race([row.run(argv), new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`wgmesh ${row.words.join(' ')} ${argv.join(' ')} did not return`)), 10_000))]);
    return { code, stderr, stdout };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    err.mockRestore();
    out.mockRestore();
  }
}

describe('every invalid option of every command: exit 2, one line naming the option and the expected form', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-options-abuse-'));
  const tried = { flag: 0, env: 0, file: 0 };
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    const options = COMMANDS.reduce((n, c) => n + c.specs.length, 0);
    process.stdout.write(`options abuse: ${COMMANDS.length} commands, ${options} options, invalid values tried ${JSON.stringify(tried)}\n`);
  });

  it('covers every command `wgmesh --help` lists', async () => {
    const help = await new Promise<string>((done) => execFile(process.execPath, [resolve(__dirname, '../../../bin/wgmesh.js'), '--help'], (_e, stdout) => done(stdout)));
    const listed = [...help.matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]);
    expect(listed.length).toBeGreaterThan(5);
    const covered = new Set([...COMMANDS.map((c) => c.words[0]), ...NO_OPTION_SPECS]);
    expect(listed.filter((c) => !covered.has(c))).toEqual([]);
  });

  for (const row of COMMANDS) {
    const name = `wgmesh ${row.words.join(' ')}`;

    it(`${name}: its --help lists exactly its options, and every default is valid`, async () => {
      const { code, stdout } = await invoke(row, ['--help']);
      expect(code).toBe(0);
      const listed = new Set([...stdout.matchAll(/^ {2}(?:-h, )?--([a-z0-9-]+)/gm)].map((m) => m[1]));
      expect([...listed].sort()).toEqual([...new Set([...row.specs.map((s) => s.flag), 'config', 'help'])].sort());
      for (const s of row.specs) for (const d of s.default === undefined ? [] : [s.default].flat()) expect({ flag: s.flag, refused: refuses(s, d) }).toEqual({ flag: s.flag, refused: false });
    });

    it(`${name}: each option refuses invalid values by flag, environment variable and config file`, async () => {
      const problems: string[] = [];
      for (const spec of row.specs) {
        const bad = CANDIDATES.filter((c) => refuses(spec, c));
        if (bad.length === 0) {
          problems.push(`--${spec.flag} accepts every candidate value (give it a parser that refuses what is not ${spec.value ?? 'a boolean'})`);
          continue;
        }
        const check = (what: string, r: { code: number; stderr: string }, mustName: string[]) => {
          const lines = r.stderr.split('\n').filter(Boolean);
          if (r.code !== 2) problems.push(`${what}: exit ${r.code} (want 2): ${r.stderr.slice(0, 200)}`);
          else if (lines.length !== 1) problems.push(`${what}: ${lines.length} lines on stderr: ${r.stderr.slice(0, 300)}`);
          else if (!lines[0].startsWith(`wgmesh ${row.words.join(' ')}: invalid `) && !lines[0].startsWith(`${name}: invalid `)) problems.push(`${what}: "${lines[0]}" is not an "invalid" usage error of the command`);
          else if (!mustName.every((n) => lines[0].includes(n))) problems.push(`${what}: "${lines[0]}" does not name ${mustName.join(' and ')}`);
          else if (!EXPECTED_FORM.test(lines[0].slice(lines[0].indexOf(': ', lines[0].indexOf('invalid')) + 2))) problems.push(`${what}: "${lines[0]}" does not say what it expects`);
        };
        for (const value of bad.slice(0, 3)) {
          tried.flag++;
          check(`--${spec.flag}=${JSON.stringify(value)}`, await invoke(row, [`--${spec.flag}=${value}`]), [`--${spec.flag}`]);
        }
        const value = bad.find((v) => v !== '' && !v.includes(',')) ?? bad[0];
        if (spec.env && value !== '') {
          tried.env++;
          check(`${spec.env}=${JSON.stringify(value)}`, await invoke(row, [], { [spec.env]: value }), [spec.env, `--${spec.flag}`]);
        }
        tried.file++;
        const file = join(dir, `${row.words.join('-')}-${spec.key}.json`);
        writeFileSync(file, JSON.stringify({ [spec.key]: value }));
        check(`config file ${spec.key}=${JSON.stringify(value)}`, await invoke(row, ['--config', file]), [`"${spec.key}"`, `--${spec.flag}`]);
      }
      expect(problems).toEqual([]);
    });
  }

  it('the real CLI process exits 2 with the message on stderr (one bad option per command)', async () => {
    const bin = resolve(__dirname, '../../../bin/wgmesh.js');
    const runs = COMMANDS.map((row) => {
      const spec = row.specs.find((s) => s.value !== undefined && refuses(s, 'not valid!')) ?? row.specs[0];
      const bad = CANDIDATES.find((c) => c !== '' && refuses(spec, c))!;
      return new Promise<{ words: string[]; flag: string; code: number | null; stderr: string }>((done) => {
        const child = execFile(process.execPath, [bin, ...row.words, `--${spec.flag}=${bad}`], { timeout: 20_000 }, (_e, _out, stderr) => done({ words: row.words, flag: spec.flag, code: child.exitCode, stderr }));
      });
    });
    for (const r of await Promise.all(runs)) {
      expect({ command: r.words.join(' '), code: r.code }).toEqual({ command: r.words.join(' '), code: 2 });
      expect(r.stderr).toContain(`--${r.flag}`);
    }
  }, 60_000);
});
