import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { ApiDefinitions, loadDefinitions, VppClient } from '@wgmesh/vpp-api';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, UapiClient, uapiSocketPath, WgPeer } from '@wgmesh/wireguard';
import { run as sh } from './exec';
import type { VppInstall } from './find';
import { startVpp, StartVppOptions, VppInstance } from './instance';
import { takeUplink, Uplink } from './uplink';

/**
 * A live VPP with an uplink into an "outside" namespace, and wireguard-go devices there to be
 * its WireGuard peers (tests of the vpp driver and the services on it). Everything is ours and
 * goes in stop(): processes by PID, their UAPI sockets, both namespaces.
 *
 *   VPP (its own namespace): host-eth0 192.0.2.1/24  ── veth ──  outside: eth0 192.0.2.2/24,
 *                                                                wireguard-go devices on ports of 192.0.2.2
 */
export const TEST_NET = { vpp: '192.0.2.1', outside: '192.0.2.2', prefix: 24 } as const;

export interface TestWireguard {
  device: string;
  publicKey: string;
  privateKey: Uint8Array;
  listenPort: number;
  /** "192.0.2.2:<port>": where VPP reaches it. */
  endpoint: string;
  uapi: UapiClient;
  /** Its peer entry for `publicKey` (VPP's key), if it has one. */
  peer(publicKey: string): Promise<WgPeer | undefined>;
}

export class VppTestNet {
  private readonly children: Array<{ child: ChildProcess; device: string }> = [];

  private constructor(
    readonly vpp: VppInstance,
    readonly outside: string,
    readonly client: VppClient,
    readonly definitions: ApiDefinitions,
    readonly uplink: Uplink,
  ) {}

  static async start(install: VppInstall, opts: Pick<StartVppOptions, 'config'> = {}): Promise<VppTestNet> {
    const vpp = await startVpp({ install, ...opts });
    const outside = `wgvo${vpp.id}`;
    let client: VppClient | undefined;
    try {
      await sh('ip', ['netns', 'add', outside]);
      await sh('ip', ['-n', outside, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', vpp.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
      await sh('ip', ['-n', outside, 'addr', 'add', `${TEST_NET.outside}/${TEST_NET.prefix}`, 'dev', 'eth0']);
      await sh('ip', ['-n', outside, 'link', 'set', 'eth0', 'up']);
      const definitions = loadDefinitions(install.apiDir);
      client = await VppClient.connect({ socketPath: vpp.apiSocket, definitions, name: 'vpp-test-net' });
      const uplink = await takeUplink(client, vpp.netns, { ifname: 'eth0', addresses: [`${TEST_NET.vpp}/${TEST_NET.prefix}`], gateway: TEST_NET.outside });
      return new VppTestNet(vpp, outside, client, definitions, uplink);
    } catch (err) {
      await client?.close().catch(() => undefined);
      await vpp.stop();
      await sh('ip', ['netns', 'del', outside]).catch(() => undefined);
      throw err;
    }
  }

  /** A wireguard-go device in the outside namespace listening on `listenPort`, with `peers` configured. */
  async wireguardGo(listenPort: number, opts: { address?: string; routes?: string[] } = {}): Promise<TestWireguard> {
    const device = `wgvt${randomBytes(3).toString('hex')}`;
    const child = spawn('ip', ['netns', 'exec', this.outside, 'wireguard-go', '-f', device], { stdio: 'ignore', env: { ...process.env, WG_PROCESS_FOREGROUND: '1' } });
    this.children.push({ child, device });
    const uapi = new UapiClient(device);
    const deadline = Date.now() + 10_000;
    while (!(await uapi.get().then(() => true, () => false))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`wireguard-go ${device} did not come up`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const privateKey = generatePrivateKey();
    await uapi.set({ privateKey, listenPort });
    await sh('ip', ['-n', this.outside, 'link', 'set', device, 'up']);
    if (opts.address) await sh('ip', ['-n', this.outside, 'addr', 'add', opts.address, 'dev', device]);
    for (const r of opts.routes ?? []) await sh('ip', ['-n', this.outside, 'route', 'add', r, 'dev', device]);
    return {
      device,
      publicKey: keyToBase64(publicKeyFromPrivate(privateKey)),
      privateKey,
      listenPort,
      endpoint: `${TEST_NET.outside}:${listenPort}`,
      uapi,
      peer: async (publicKey) => (await uapi.get()).peers.find((p) => p.publicKey === publicKey),
    };
  }

  /** Runs a command in the outside namespace. */
  outsideExec(cmd: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', this.outside, cmd, ...args]);
  }

  /** Stops the wireguard-go devices, VPP and both namespaces. Never throws. */
  async stop(): Promise<void> {
    for (const { child, device } of this.children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      const socket = uapiSocketPath(device);
      if (existsSync(socket)) rmSync(socket, { force: true });
    }
    await this.client.close().catch(() => undefined);
    await this.vpp.stop();
    await sh('ip', ['netns', 'del', this.outside]).catch(() => undefined);
  }
}
