import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '@wgmesh/testing';
import { DeviceInUseError, deviceLockKey, lockDevice, removeStaleLocks } from './device-lock';

describe('device lock: one dataplane service per device', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const vpp = { kind: 'vpp' as const, device: 'wg0', vppSocket: join(dir, 'api.sock') };

  it('refuses a second holder, naming the first; free again once released', async () => {
    const lock = await lockDevice(vpp, dir, { pid: 4242, node: 'site-a' });
    const err = await lockDevice(vpp, dir, { pid: process.pid }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DeviceInUseError);
    expect((err as Error).message).toMatch(/^device wg0 is already served by another dataplane service \(process 4242 \(node site-a\), since \d{4}-.*\); stop that one first/);
    // Another interface of the same VPP, or the same name on another VPP, is another device.
    await (await lockDevice({ ...vpp, device: 'wg1' }, dir, { pid: 1 })).release();
    await (await lockDevice({ ...vpp, vppSocket: join(dir, 'other.sock') }, dir, { pid: 1 })).release();
    await lock.release();
    expect(existsSync(lock.path)).toBe(false);
    await (await lockDevice(vpp, dir, { pid: 1 })).release();
  });

  it('takes over the lock of a holder that died without releasing it', async () => {
    const script = `require(${JSON.stringify(resolve(__dirname, '../../../bin/register.js'))});require(${JSON.stringify(join(__dirname, 'device-lock.ts'))}).lockDevice(${JSON.stringify(vpp)},${JSON.stringify(dir)},{pid:process.pid}).then(()=>{console.log('locked');setInterval(()=>{},1000)})`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout!.once('data', r));
    await expect(lockDevice(vpp, dir, { pid: process.pid })).rejects.toThrow(new RegExp(`process ${child.pid}`));
    child.kill('SIGKILL');
    await waitFor('the holder to die', () => child.exitCode !== null || child.signalCode !== null);
    const held = await lockDevice({ ...vpp, device: 'wg9' }, dir, { pid: process.pid });
    // A cleaner removes the dead holder's lock only, never a held one.
    expect(await removeStaleLocks(dir)).toEqual([expect.stringMatching(/dataplane-[0-9a-f]{20}\.lock$/)]);
    expect(existsSync(held.path)).toBe(true);
    await held.release();
    await (await lockDevice(vpp, dir, { pid: process.pid })).release();
  });

  it('names devices by what identifies them on the machine', () => {
    expect(deviceLockKey({ kind: 'uapi', device: 'wg0', netns: 'a' })).toBe(deviceLockKey({ kind: 'uapi', device: 'wg0', netns: 'b' }));
    expect(deviceLockKey({ kind: 'wg', device: 'wg0' })).toMatch(/^wg ino:\d+ wg0$/);
    expect(deviceLockKey(vpp)).toBe(`vpp ${vpp.vppSocket} wg0`);
  });
});
