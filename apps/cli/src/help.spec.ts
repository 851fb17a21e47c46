import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// The CLI as a newcomer meets it (real processes): every command and subcommand has a --help
// that exits 0, --version says which wgmesh this is, and the exit codes agree across commands:
// 0 success, 1 failure, 2 usage.
const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/wgmesh.js');

function wgmesh(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 30_000, env: { ...process.env, WGMESH_STATE_DIR: '/nonexistent' } }, (_e, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }));
  });
}

/** Every command and subcommand (the words after `wgmesh`). */
const COMMANDS = [
  ['registry'], ['registry', 'init'], ['registry', 'token'], ['registry', 'token', 'create'], ['registry', 'token', 'list'], ['registry', 'token', 'revoke'], ['registry', 'up'],
  ['member'], ['member', 'up'], ['member', 'remove'],
  ['peers'], ['status'], ['watch'], ['connect'], ['peer-discovery'], ['resolver'], ['dataplane'],
  ['nat-probe'], ['nat-probe', 'server'], ['nat-probe', 'classify'],
  ['lab'], ['lab', 'up'], ['lab', 'run'], ['lab', 'down'], ['lab', 'status'], ['lab', 'exec'],
  ['demo'],
];

describe('wgmesh --help, --version and exit codes (processes)', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'wgmesh-help-'));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('has a --help for every command and subcommand: usage on stdout, exit 0', async () => {
    const top = await wgmesh(['--help']);
    const listed = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]);
    expect(listed.filter((c) => !COMMANDS.some((w) => w[0] === c))).toEqual([]); // a new command needs its row here
    const results = await Promise.all(COMMANDS.map(async (words) => ({ words: words.join(' '), ...(await wgmesh([...words, '--help'])) })));
    for (const r of results) {
      expect({ command: r.words, code: r.code, stderr: r.stderr }).toEqual({ command: r.words, code: 0, stderr: '' });
      expect({ command: r.words, usage: /^Usage: wgmesh /.test(r.stdout) }).toEqual({ command: r.words, usage: true });
    }
  }, 120_000);

  it('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
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
