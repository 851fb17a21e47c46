import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labCommand } from '@wgmesh/lab';
import { runWgmesh, WORKSPACE } from '@wgmesh/testing';
import { dataplaneCommand } from '@wgmesh/app/dataplane-programmer';
import { peerDiscoveryCommand } from '@wgmesh/app/peer-discovery';
import { resolverCommand } from '@wgmesh/app/registry-resolver';
import { connectCommand } from './commands/connect';
import { demoCommand } from './commands/demo';
import { memberCommand } from './commands/member';
import { natProbeCommand } from './commands/nat-probe';
import { peersCommand } from './commands/peers';
import { registryCommand } from './commands/registry';
import { statusCommand } from './commands/status';
import { watchCommand } from './commands/watch';

// The CLI as a newcomer meets it: every command and subcommand has a --help that exits 0 (run in
// this process, as main.ts runs them), --version says which wgmesh this is, and the exit codes
// agree across commands: 0 success, 1 failure, 2 usage (real processes).
const wgmesh = (args: string[]) => runWgmesh(args, { WGMESH_STATE_DIR: '/nonexistent' });

/** Every command (as main.ts runs it) and its subcommands (the words after `wgmesh`). */
const COMMANDS: Array<{ run: (argv: string[]) => Promise<number>; words: string[][] }> = [
  { run: registryCommand, words: [['registry'], ['registry', 'init'], ['registry', 'token'], ['registry', 'token', 'create'], ['registry', 'token', 'list'], ['registry', 'token', 'revoke'], ['registry', 'up']] },
  { run: memberCommand, words: [['member'], ['member', 'up'], ['member', 'remove']] },
  { run: peersCommand, words: [['peers']] },
  { run: statusCommand, words: [['status']] },
  { run: watchCommand, words: [['watch']] },
  { run: connectCommand, words: [['connect']] },
  { run: peerDiscoveryCommand, words: [['peer-discovery']] },
  { run: resolverCommand, words: [['resolver']] },
  { run: dataplaneCommand, words: [['dataplane']] },
  { run: natProbeCommand, words: [['nat-probe'], ['nat-probe', 'server'], ['nat-probe', 'classify']] },
  { run: labCommand, words: [['lab'], ['lab', 'up'], ['lab', 'run'], ['lab', 'down'], ['lab', 'status'], ['lab', 'exec']] },
  { run: demoCommand, words: [['demo']] },
];

/** Runs a command in this process (as main.ts would, after the command's name): exit code and output. */
async function invoke(run: (argv: string[]) => Promise<number>, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    return { code: await run(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('wgmesh --help, --version and exit codes', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'wgmesh-help-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('has a --help for every command and subcommand: usage on stdout, exit 0', async () => {
    const top = await wgmesh(['--help']);
    expect(top.code).toBe(0);
    const listed = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]);
    expect(listed.filter((c) => !COMMANDS.some((c2) => c2.words[0][0] === c))).toEqual([]); // a new command needs its row here
    const results: Array<{ words: string; code: number; stdout: string; stderr: string }> = [];
    for (const c of COMMANDS) for (const words of c.words) results.push({ words: words.join(' '), ...(await invoke(c.run, [...words.slice(1), '--help'])) });
    for (const r of results) {
      expect({ command: r.words, code: r.code, stderr: r.stderr }).toEqual({ command: r.words, code: 0, stderr: '' });
      expect({ command: r.words, usage: /^Usage: wgmesh /.test(r.stdout) }).toEqual({ command: r.words, usage: true });
    }
  }, 60_000);

  it('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(WORKSPACE, 'package.json'), 'utf8')) as { version: string };
    expect(await wgmesh(['--version'])).toEqual({ code: 0, stdout: `wgmesh ${version}\n`, stderr: '' });
  });

  it('exits 2 on usage errors (with the usage), 1 on failures, alike across commands', async () => {
    const [noAction, unknown, statusMissing, downMissing, execNoCommand] = await Promise.all([
      wgmesh(['registry', 'token']),
      wgmesh(['frobnicate']),
      wgmesh(['lab', 'status', 'nosuch', '--state-dir', stateDir]),
      wgmesh(['lab', 'down', 'nosuch', '--state-dir', stateDir]),
      wgmesh(['lab', 'exec', 'a', '--state-dir', stateDir]),
    ]);
    expect(noAction).toMatchObject({ code: 2, stderr: expect.stringContaining('wgmesh registry token: missing action: create, list or revoke') });
    expect(noAction.stderr).toContain('Usage: wgmesh registry token');
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('wgmesh: unknown command "frobnicate"') });
    // A lab that does not exist is a failure for status as for down.
    expect(statusMissing).toMatchObject({ code: 1, stderr: 'wgmesh lab: no lab nosuch\n' });
    expect(downMissing).toMatchObject({ code: 1, stderr: 'wgmesh lab: no lab nosuch\n' });
    expect(execNoCommand).toMatchObject({ code: 2, stderr: expect.stringContaining('give the wgmesh command after "--"') });
  }, 60_000);
});
