import { loadDefinitions, VppClient } from '@wgmesh/vpp-api';
import { existsSync, readdirSync } from 'node:fs';
import { describeWithVpp, startVpp, VppInstance } from './index';

describeWithVpp('a live VPP (libs/vpp-live)', (install) => {
  let vpp: VppInstance | undefined;
  afterAll(async () => {
    await vpp?.stop();
  });

  it('starts in a namespace of its own, answers on its API socket, and stop() leaves nothing behind', async () => {
    vpp = await startVpp({ install: install() });
    const client = await VppClient.connect({ socketPath: vpp.apiSocket, definitions: loadDefinitions(install().apiDir) });
    const version = await client.request('show_version', {});
    await client.close();
    expect(String(version.version)).toMatch(/\d+\.\d+/);
    expect(readdirSync('/var/run/netns')).toContain(vpp.netns);
    const { pid, runtimeDir, netns, id } = vpp;
    await vpp.stop();
    vpp = undefined;
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(existsSync(runtimeDir)).toBe(false);
    expect(readdirSync('/var/run/netns')).not.toContain(netns);
    expect(readdirSync('/dev/shm').filter((f) => f.startsWith(`wgmesh-vpp-${id}-`))).toEqual([]);
  });
});
