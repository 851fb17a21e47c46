import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDefinitions, VppClient } from '@wgmesh/vpp-api';
import { findVpp, shareUplinkWithHost, startupConfig, takeUplink, VppInstall, vppPaths, waitForSocket } from '@wgmesh/vpp-live';
import { LabError } from './errors';
import type { Lab } from './lab';
import { ADDR, Host, IF, namespaceName, Plan, REGISTRY, vppHosts } from './plan';

/**
 * VPP nodes of the lab (`--dataplane vpp`, a member's `name:nat:vpp`): as the seed runs it, VPP
 * owns the node's uplink, and the host keeps using the node's address through VPP (what linux-cp
 * gives the host in production; see @wgmesh/vpp-live's uplink.ts):
 *
 *   eth0 (the plan's uplink) ── VPP host-eth0: the node's address(es), default route
 *   host: up0 = the node's address/32 ── veth ── VPP, which punts to it what is not its own
 *         (TCP, UDP on ports other than WireGuard's): NATS, Redis, STUN, … work as before
 *   host: wl<id>-r / wl<id>-m<k> = the tunnel address, created by wgmesh's vpp driver
 *         (--vpp-host-interface): the mesh through VPP's WireGuard
 *
 * VPP runs with @wgmesh/vpp-live's small-machine configuration: one thread, interrupt-mode rx,
 * and its main loop sleeping 1 ms per turn (~1.5% of a core idle; each VPP on the way adds up to
 * ~1 ms of latency); `vppPollSleepUsec: null` gives VPP's own epoll loop (the dataplane benchmark).
 * One VPP per node, in the node's namespace, started with lab.spawn (its PID is in the state
 * file; teardown ends it like every process in the lab's namespaces), its runtime directory in
 * `<state dir>/<id>.vpp/<host>/` and its shared memory `/dev/shm/wgl-<id>-<host>-*` (both removed
 * by teardown). VPP is found as a user's install is (WGMESH_VPP_BIN / WGMESH_VPP_API_DIR, or `vpp`
 * on PATH).
 */

export interface VppNode {
  host: string;
  apiSocket: string;
  cliSocket: string;
  apiDir: string;
  runtimeDir: string;
}

/** `<state dir>/<id>.vpp`: every VPP node's runtime directory. */
export function vppDir(stateDir: string, id: string): string {
  return join(stateDir, `${id}.vpp`);
}

/** Where a lab's VPP node keeps its sockets (a pure function of the lab: `lab status`, the mesh and teardown find it). */
export function vppNode(stateDir: string, id: string, host: string, apiDir: string): VppNode {
  const runtimeDir = join(vppDir(stateDir, id), host);
  const p = vppPaths(runtimeDir);
  return { host, apiSocket: p.apiSocket, cliSocket: p.cliSocket, apiDir, runtimeDir };
}

/** The shared-memory prefix of a node's VPP (unique per lab and host). */
function apiPrefix(id: string, host: string): string {
  return namespaceName(id, host);
}

/** Why the plan's VPP nodes cannot run here, or the install to run them with. */
export function vppFor(plan: Plan): VppInstall | undefined {
  if (vppHosts(plan).length === 0) return undefined;
  return findVpp();
}

/** The addresses VPP takes over on the host's uplink: the plan's, plus the registry's second one. */
function uplinkAddresses(host: Host): string[] {
  const main = `${host.address}/24`;
  return host.name === REGISTRY ? [main, `${ADDR.registryAlt}/24`] : [main];
}

/** Starts VPP on each of the plan's VPP hosts and hands it the uplink (see above). */
export async function startVppNodes(lab: Lab, stateDir: string, install: VppInstall, pollSleepUsec?: number | null): Promise<VppNode[]> {
  const definitions = loadDefinitions(install.apiDir);
  return Promise.all(
    vppHosts(lab.plan).map(async (host) => {
      const node = vppNode(stateDir, lab.id, host.name, install.apiDir);
      mkdirSync(node.runtimeDir, { recursive: true, mode: 0o700 });
      const config = join(node.runtimeDir, 'startup.conf');
      writeFileSync(config, startupConfig({ runtimeDir: node.runtimeDir, apiPrefix: apiPrefix(lab.id, host.name), mainHeapMb: 256, pollSleepUsec }));
      const proc = lab.spawn(host.name, install.bin, ['-c', config]);
      try {
        await waitForSocket(node.apiSocket, () => !proc.running, 30_000);
      } catch (err) {
        throw new LabError(`VPP on ${host.name} did not start: ${(err as Error).message}: ${proc.tail()}`);
      }
      const client = await VppClient.connect({ socketPath: node.apiSocket, definitions, name: 'wgmesh-lab' });
      try {
        const addresses = uplinkAddresses(host);
        const gateway = lab.plan.gateways[host.name];
        const uplink = await takeUplink(client, host.ns, { ifname: IF.uplink, addresses, gateway });
        await shareUplinkWithHost(client, host.ns, uplink, addresses);
      } finally {
        await client.close().catch(() => undefined);
      }
      return node;
    }),
  );
}

/** Removes what a lab's VPP nodes leave on disk and in shared memory (their processes are gone). */
export function removeVppFiles(stateDir: string, id: string): void {
  rmSync(vppDir(stateDir, id), { recursive: true, force: true });
  const prefix = `${namespaceName(id, '')}`;
  if (!existsSync('/dev/shm')) return;
  for (const f of readdirSync('/dev/shm')) if (f.startsWith(prefix)) rmSync(join('/dev/shm', f), { force: true });
}
