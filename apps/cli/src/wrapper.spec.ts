import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort, waitFor } from '@wgmesh/testing';
import { isNpm, npmWrappers } from './wrapper';

const a = (pid: number, cmdline: string) => ({ pid, startTime: '1', cmdline });

describe('stopping with the npm wrapper', () => {
  const groups: number[] = [];
  afterAll(() => {
    for (const g of groups) {
      try {
        process.kill(-g, 'SIGKILL');
      } catch {
        // all gone
      }
    }
  });

  it('follows npm and the shell it started, and nothing else', () => {
    expect(isNpm('npm exec wgmesh member up --device wg0')).toBe(true);
    expect(isNpm('/usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js exec wgmesh')).toBe(true);
    expect(isNpm('npx wgmesh status')).toBe(true);
    expect(isNpm('node /work/bin/wgmesh.js lab up')).toBe(false);
    expect(npmWrappers([a(10, "sh -c 'wgmesh' member up"), a(9, 'npm exec wgmesh member up')]).map((w) => w.pid)).toEqual([10, 9]);
    expect(npmWrappers([a(10, 'npm run start')]).map((w) => w.pid)).toEqual([10]);
    expect(npmWrappers([a(10, 'node /work/bin/wgmesh.js lab up --members 2')])).toEqual([]); // the lab's detached members
    expect(npmWrappers([a(10, 'sh -c exec "$@" >>"$LAB_LOG_FILE" 2>&1'), a(9, 'node bin/wgmesh.js lab up')])).toEqual([]);
    expect(npmWrappers([a(1, '/sbin/init')])).toEqual([]);
  });

  /**
   * A stand-in for `npx`: a process whose command line is "npm exec …" (as npm sets its title)
   * running `sh -c 'node bin/wgmesh.js …'`, killed as a service manager would kill npx.
   */
  async function underFakeNpm(args: string[]) {
    const wgmesh = resolve(__dirname, '../../../bin/wgmesh.js');
    const inner = `${process.execPath} ${wgmesh} ${args.join(' ')}; echo exited`;
    const wrapper = `process.title='npm exec wgmesh ${args.join(' ').replace(/'/g, '')}'.padEnd(200,' ');require('child_process').spawn('sh',['-c',${JSON.stringify(inner)}],{stdio:'inherit'});setInterval(()=>{},1000)`;
    // Its own process group: afterAll ends whatever is left of it (the test failing leaves the service).
    const npm = spawn(process.execPath, ['-e', `${wrapper}//${'x'.repeat(200)}`], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    groups.push(npm.pid!);
    let out = '';
    npm.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { npm, output: () => out };
  }

  it('a service under npx stops (cleanly, as on SIGTERM) once npx is killed', async () => {
    const port = await freePort();
    const { npm, output } = await underFakeNpm(['nat-probe', 'server', '--listen', `127.0.0.1:${port}`, '--http-listen', 'off']);
    await waitFor('the STUN server to listen', () => /stun server listening/.test(output()), 20_000);
    npm.kill('SIGKILL'); // npm gone without a word; its shell stays
    await waitFor('the service to stop', () => /the npm wrapper that started this process .* is gone; stopping/.test(output()) && /exited/.test(output()), 10_000);
  }, 40_000);
});
