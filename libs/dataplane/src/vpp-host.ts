import { existsSync, statSync } from 'node:fs';
import type { Logger } from '@wgmesh/log';
import { formatIp, parseCidr, parseIp } from '@wgmesh/netaddr';
import {
  AF_PACKET_MESSAGES,
  afPacketCreate,
  afPacketDump,
  ALL_ONES,
  checkRetval,
  hwInterfaceSetMtu,
  ipNeighborAddDel,
  ipRouteAddDel,
  NEIGHBOR_MESSAGES,
  swInterfaceAddDelAddress,
  swInterfaceDump,
  swInterfaceSetFlags,
  swInterfaceSetUnnumbered,
  tapCreate,
  VppClient,
  VppRetvalError,
} from '@wgmesh/vpp-api';
import type { DeviceSpec } from './driver';
import { configureLink, DEFAULT_MTU, IpLink, parseInterfaceAddress } from './ip-link';

// The host's way into the mesh when VPP is the dataplane (--vpp-host-interface <name>): an
// interface between VPP and the host's own netstack, so that the host's sockets (NATS over the
// tunnel, DNS-SD, applications) reach the mesh through VPP's WireGuard. The member's tunnel
// addresses belong to the host side; VPP routes them into the host interface and routes
// everything else by the peers' routes on the wg interface.
//
//   host: <name> 10.99.0.5, mesh routes ──► VPP: its end ──► FIB ──► wg0 ──► peers
//
// Which kind is chosen automatically:
// - tap (tun mode) where /dev/vhost-net exists: VPP's tap needs vhost-net, and VPP sets the host
//   side's first addresses and MTU itself (tap_create_v3);
// - a veth pair otherwise (or when the tap fails with VPP's "syscall error 1", i.e. no
//   vhost-net): the host keeps <name>, VPP attaches the other end ("<name>-v") with af_packet.
//   No ARP on this link: static neighbours both ways, the host's routes "via 169.254.77.1
//   onlink", its addresses as host addresses.
// Either way the host's kernel computes every checksum itself and sends no segments above the
// MTU: the tap without checksum/GSO offload, the veth with its offloads off (ethtool -K <name> tx
// off tso off gso off). VPP v26.06's WireGuard encrypts a packet whose TCP/UDP checksum was left
// to offload as it is (wg4-output-tun does not complete it, as IPsec's esp-encrypt does), so the
// peer gets a bad checksum and drops it: pings work, TCP does not.
// VPP's end has a link-local /32 of VPP's own (VPP_HOST_ADDRESS), which IP-enables it; the wg
// interface borrows it (unnumbered), since the tunnel address is the host's.

export const VPP_HOST_ADDRESS = '169.254.77.1/32';
const VPP_HOST_NEXT_HOP = '169.254.77.1';

/** Messages of the host interface beyond the driver's own. */
export const HOST_INTERFACE_MESSAGES = [
  ...AF_PACKET_MESSAGES,
  ...NEIGHBOR_MESSAGES,
  'sw_interface_tap_v2_dump',
  'sw_interface_tap_v2_details',
  'sw_interface_set_unnumbered',
  'sw_interface_set_unnumbered_reply',
  'sw_interface_ip6_enable_disable',
  'sw_interface_ip6_enable_disable_reply',
  'hw_interface_set_mtu',
  'hw_interface_set_mtu_reply',
];

export type HostInterfaceKind = 'tap' | 'veth';

export interface VppHostOptions {
  /** The host side's interface name. */
  name: string;
  wgSwIfIndex: number;
  spec: DeviceSpec;
  /** Network namespace of the host side; the current one by default. */
  netns?: string;
  log: Logger;
  /** Tests: whether /dev/vhost-net exists (default: look). */
  vhostNet?: boolean;
}

/** The name of the veth end VPP attaches ("<name>-v", within Linux's 15 characters). */
export function vppEndName(name: string): string {
  return `${name.slice(0, 13)}-v`;
}

/**
 * Creates or adopts the host interface (tap or veth, see above) and wires it; returns what it
 * changed. An existing tap or af_packet end of that name is adopted whatever vhost-net says.
 */
export async function ensureHostInterface(client: VppClient, o: VppHostOptions): Promise<{ kind: HostInterfaceKind; changed: string[] }> {
  const taps = await client.dump('sw_interface_tap_v2_dump', { sw_if_index: ALL_ONES });
  if (taps.some((t) => t.host_if_name === o.name)) return { kind: 'tap', changed: await ensureTap(client, o, taps.find((t) => t.host_if_name === o.name)!.sw_if_index as number) };
  const veth = (await afPacketDump(client)).find((a) => a.hostIfName === vppEndName(o.name));
  if (veth) return { kind: 'veth', changed: await ensureVeth(client, o, veth.swIfIndex) };
  if (o.vhostNet ?? existsSync('/dev/vhost-net')) {
    try {
      return { kind: 'tap', changed: await ensureTap(client, o) };
    } catch (err) {
      // -11 (SYSCALL_ERROR_1): VPP could not open /dev/vhost-net after all (a container, another kernel).
      if (!(err instanceof VppRetvalError && err.retval === -11)) throw err;
      o.log.warn('VPP cannot create a tap here (no vhost-net?); using a veth pair', { name: o.name, error: err.message });
    }
  }
  return { kind: 'veth', changed: await ensureVeth(client, o) };
}

/** The tunnel addresses: the host's own (host prefixes), and the subnets they imply, routed through VPP. */
function hostAddresses(spec: DeviceSpec): { addresses: string[]; hosts: string[]; subnets: string[] } {
  const addresses = (spec.addresses ?? []).map(parseInterfaceAddress);
  const hosts = addresses.map((a) => hostPrefix(a));
  const subnets = addresses.map((a) => formatCidrOf(a)).filter((s, i) => s !== hosts[i]);
  return { addresses, hosts, subnets };
}

async function ensureTap(client: VppClient, o: VppHostOptions, existing?: number): Promise<string[]> {
  const changed: string[] = [];
  const mtu = o.spec.mtu ?? DEFAULT_MTU;
  const { addresses, hosts } = hostAddresses(o.spec);
  const v4 = addresses.find((a) => !a.includes(':'));
  const v6 = addresses.find((a) => a.includes(':'));
  let tap = existing;
  if (tap === undefined) {
    tap = await tapCreate(client, { hostIfName: o.name, tun: true, gso: false, csumOffload: false, hostMtu: mtu, hostIp4Prefix: v4, hostIp6Prefix: v6, hostNamespace: o.netns });
    changed.push(`tap ${o.name} (sw_if_index ${tap})`);
  }
  changed.push(...(await vppEnd(client, o, tap)));
  // A point-to-point link: the host's addresses are reached through the tap, no next hop.
  for (const h of hosts) await ipRouteAddDel(client, { isAdd: true, prefix: h, paths: [{ swIfIndex: tap }] });
  const link = new IpLink(o.name, { netns: o.netns });
  if ((await link.state()).exists) changed.push(...(await configureLink(link, { addresses: o.spec.addresses, routes: o.spec.routes, mtu })).map((c) => `host ${c}`));
  else o.log.info('the tap is not visible on this host; its host side is left to VPP (tap_create_v3 set the first addresses)', { tap: o.name, netns: o.netns });
  return changed;
}

async function ensureVeth(client: VppClient, o: VppHostOptions, existing?: number): Promise<string[]> {
  const changed: string[] = [];
  const mtu = o.spec.mtu ?? DEFAULT_MTU;
  const end = vppEndName(o.name);
  const host = new IpLink(o.name, { netns: o.netns });
  let swIfIndex = existing;
  if (swIfIndex === undefined) {
    if (!(await host.state()).exists) {
      await host.addVeth(end);
      // VPP attaches interfaces of its own network namespace: move its end there (by VPP's PID).
      const pid = (await client.ping()).vpe_pid as number;
      if (!sameNetns(pid, o.netns)) await host.movePeer(end, pid);
      changed.push(`veth ${o.name} / ${end}`);
    }
    swIfIndex = await afPacketCreate(client, { hostIfName: end });
    changed.push(`af_packet ${end} (sw_if_index ${swIfIndex})`);
  }
  // Before up: a new af_packet interface has MTU 9000, and a frame above the link's wedges it.
  await hwInterfaceSetMtu(client, swIfIndex, mtu);
  changed.push(...(await vppEnd(client, o, swIfIndex)));
  const [vppMac] = (await swInterfaceDump(client, { swIfIndex })).map((i) => i.l2Address.subarray(0, 6));
  const hostMac = await host.mac();
  const { hosts, subnets } = hostAddresses(o.spec);
  for (const h of hosts) {
    const ip = h.split('/')[0];
    await ipNeighborAddDel(client, { swIfIndex, ip, mac: hostMac });
    await ipRouteAddDel(client, { isAdd: true, prefix: h, paths: [{ swIfIndex, nextHop: ip }] });
  }
  // Host side: its addresses as host addresses, everything of the mesh through VPP, no ARP.
  const state = await host.state();
  for (const h of hosts) {
    if (state.addresses.includes(h)) continue;
    await host.addAddress(h);
    changed.push(`host address ${h}`);
  }
  if (!state.up || state.mtu !== mtu) await host.setUp(mtu);
  await host.setOffloads(false);
  await host.setNeighbour(VPP_HOST_NEXT_HOP, vppMac);
  const v4src = hosts.find((h) => !h.includes(':'))?.split('/')[0];
  for (const r of [...subnets, ...(o.spec.routes ?? [])]) {
    if (r.includes(':')) continue; // IPv6 over the veth would need an IPv6 next hop: not yet
    await host.replaceRouteVia(r, VPP_HOST_NEXT_HOP, v4src);
  }
  return changed;
}

/** VPP's end: up, its link-local /32, the wg interface unnumbered to it (and IPv6 on when the host has IPv6). */
async function vppEnd(client: VppClient, o: VppHostOptions, swIfIndex: number): Promise<string[]> {
  const changed: string[] = [];
  await swInterfaceSetFlags(client, swIfIndex, true);
  const own = await client.dump('ip_address_dump', { sw_if_index: swIfIndex, is_ipv6: false });
  if (!own.some((d) => d.prefix === VPP_HOST_ADDRESS)) {
    await swInterfaceAddDelAddress(client, swIfIndex, VPP_HOST_ADDRESS, true);
    changed.push(`host interface address ${VPP_HOST_ADDRESS}`);
  }
  await swInterfaceSetUnnumbered(client, swIfIndex, o.wgSwIfIndex, true);
  if ((o.spec.addresses ?? []).some((a) => a.includes(':'))) {
    for (const i of [swIfIndex, o.wgSwIfIndex]) {
      checkRetval('sw_interface_ip6_enable_disable', await client.request('sw_interface_ip6_enable_disable', { sw_if_index: i, enable: true }));
    }
  }
  return changed;
}

/** True when VPP (by its PID) runs in the host side's namespace (`netns`, or ours). */
function sameNetns(vppPid: number, netns: string | undefined): boolean {
  const ours = netns ? `/var/run/netns/${netns}` : '/proc/self/ns/net';
  try {
    return statSync(`/proc/${vppPid}/ns/net`).ino === statSync(ours).ino;
  } catch {
    return false;
  }
}

/** "10.99.0.5/16" → "10.99.0.5/32": the host's own address, not its subnet. */
export function hostPrefix(address: string): string {
  const ip = parseIp(address.split('/')[0]);
  return `${formatIp(ip)}/${ip.family === 4 ? 32 : 128}`;
}

function formatCidrOf(address: string): string {
  const c = parseCidr(address);
  return `${formatIp(c.address)}/${c.prefixLength}`;
}
