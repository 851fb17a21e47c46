import { accessSync, constants } from 'node:fs';
import { findExecutable } from '@wgmesh/executables';

/** What the lab needs from the machine, and which Debian package provides each tool. */
export const TOOLS: ReadonlyArray<{ tool: string; pkg: string; why: string }> = [
  { tool: 'ip', pkg: 'iproute2', why: 'builds namespaces, veths, addresses' },
  { tool: 'iptables-restore', pkg: 'iptables', why: "loads the routers' NAT rules" },
  { tool: 'conntrack', pkg: 'conntrack', why: 'flushes NAT state for setNatMode, flushNat, rebindNat' },
  { tool: 'sysctl', pkg: 'procps', why: 'sets ip_forward on routers and the registry' },
  { tool: 'ping', pkg: 'iputils-ping', why: 'measures reachability for lab.ping' },
  { tool: 'wireguard-go', pkg: 'wireguard-go', why: 'runs WireGuard devices in the namespaces' },
  { tool: 'wg', pkg: 'wireguard-tools', why: 'configures WireGuard devices' },
];

export interface Machine {
  uid: number;
  has: (tool: string) => boolean;
  tun: boolean;
}

/** Problems that stop the lab on this machine, one sentence each (empty when it can run). */
export function missingRequirements(machine: Machine = thisMachine()): string[] {
  const problems: string[] = [];
  if (machine.uid !== 0) problems.push('the lab needs root (network namespaces, iptables): run it as root or with sudo');
  const missing = TOOLS.filter((t) => !machine.has(t.tool));
  for (const t of missing) problems.push(`${t.tool} is missing (it ${t.why}): apt-get install ${t.pkg}`);
  if (!machine.tun) problems.push('/dev/net/tun is missing: wireguard-go needs the tun driver');
  return problems;
}

export function thisMachine(): Machine {
  return { uid: process.getuid?.() ?? -1, has: (tool) => findExecutable(tool) !== null, tun: canAccess('/dev/net/tun') };
}

/** An executable on PATH (plus the sbin directories, which a non-login root shell may lack). */
export { findExecutable };

function canAccess(path: string, mode = constants.F_OK): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') return false;
    throw err;
  }
}
