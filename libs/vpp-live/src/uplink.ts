import { canonicalIp } from '@wgmesh/netaddr';
import {
  afPacketCreate,
  hwInterfaceSetMtu,
  ipNeighborAddDel,
  ipPuntRedirect,
  ipRouteAddDel,
  puntUnknownUdp,
  swInterfaceAddDelAddress,
  swInterfaceDump,
  swInterfaceSetFlags,
  VppApi,
} from '@wgmesh/vpp-api';
import { run } from './exec';

// A node whose uplink VPP owns, as the seed ("VPP + wgsd + wg") runs it, and what a linux-cp
// setup gives the host in production: the host keeps using the node's address(es) through VPP.
//
//   uplink eth0 ── VPP host-eth0 (the node's address, default route)
//                     │  WireGuard (its UDP port) and ICMP: VPP's own
//                     │  everything else for the node's addresses (TCP, other UDP): punted ──┐
//   host: up0 (the node's address/32, default via VPP) ── veth ── VPP host-vup0 ◄────────────┘
//
// The host's own packets leave through VPP unchanged (same source address). VPP answers ARP for
// the node's addresses on the uplink; the host link needs no ARP (static neighbours both ways).

/** The host end and VPP end of the host link (names inside the node's namespace). */
export const HOST_LINK = { host: 'up0', vpp: 'vup0' } as const;
/** Link-local next hops on the host link: VPP's end and the host's end (the node's own address is VPP's too, so it cannot be a next hop). */
export const HOST_LINK_ADDRESSES = { vpp: '169.254.0.1', host: '169.254.0.2' } as const;

export interface UplinkSpec {
  /** The Linux interface VPP takes over (in VPP's namespace). */
  ifname: string;
  /** Its addresses with prefix length; the first is the node's main address. */
  addresses: string[];
  /** Default gateway. */
  gateway: string;
  /** Default 1500: the veth's. */
  mtu?: number;
}

export interface Uplink {
  swIfIndex: number;
  /** VPP's name for it ("host-eth0"). */
  name: string;
}

/**
 * VPP takes `ifname` over: the Linux side keeps the interface up but loses its addresses and
 * ARP (so only VPP answers for the node), VPP attaches it with af_packet (MTU set before it is
 * up: a new af_packet interface has MTU 9000, and one oversized frame wedges its TX ring), and
 * gets the addresses and the default route.
 */
export async function takeUplink(api: VppApi, netns: string, spec: UplinkSpec): Promise<Uplink> {
  await ip(netns, ['addr', 'flush', 'dev', spec.ifname]);
  await ip(netns, ['link', 'set', spec.ifname, 'arp', 'off', 'up']);
  const swIfIndex = await afPacketCreate(api, { hostIfName: spec.ifname });
  await hwInterfaceSetMtu(api, swIfIndex, spec.mtu ?? 1500);
  await swInterfaceSetFlags(api, swIfIndex, true);
  for (const a of spec.addresses) await swInterfaceAddDelAddress(api, swIfIndex, a, true);
  await ipRouteAddDel(api, { isAdd: true, prefix: '0.0.0.0/0', paths: [{ swIfIndex, nextHop: spec.gateway }] });
  return { swIfIndex, name: `host-${spec.ifname}` };
}

/**
 * Gives the host the node's addresses through VPP (see the drawing): a veth pair, VPP's end
 * attached with af_packet, static neighbours both ways, the host's default route through VPP,
 * and VPP punting what is not its own (TCP always, UDP on ports without a VPP listener) to the
 * host. ICMP to the node's addresses stays VPP's (it answers pings itself).
 */
export async function shareUplinkWithHost(api: VppApi, netns: string, uplink: Uplink, addresses: readonly string[], mtu = 1500): Promise<void> {
  const hosts = addresses.map((a) => canonicalIp(a.split('/')[0]));
  await ip(netns, ['link', 'add', HOST_LINK.host, 'type', 'veth', 'peer', 'name', HOST_LINK.vpp]);
  for (const dev of [HOST_LINK.host, HOST_LINK.vpp]) await ip(netns, ['link', 'set', dev, 'mtu', String(mtu), 'up']);
  const vppEnd = await afPacketCreate(api, { hostIfName: HOST_LINK.vpp });
  await hwInterfaceSetMtu(api, vppEnd, mtu);
  await swInterfaceSetFlags(api, vppEnd, true);
  await swInterfaceAddDelAddress(api, vppEnd, `${HOST_LINK_ADDRESSES.vpp}/32`, true);
  const [vppMac] = (await swInterfaceDump(api, { swIfIndex: vppEnd })).map((i) => i.l2Address.subarray(0, 6));
  await ipNeighborAddDel(api, { swIfIndex: vppEnd, ip: HOST_LINK_ADDRESSES.host, mac: await linkMac(netns, HOST_LINK.host) });
  await puntUnknownUdp(api, 4);
  await ipPuntRedirect(api, { rxSwIfIndex: uplink.swIfIndex, txSwIfIndex: vppEnd, nextHop: HOST_LINK_ADDRESSES.host });
  for (const a of [...hosts, HOST_LINK_ADDRESSES.host]) await ip(netns, ['addr', 'add', `${a}/32`, 'dev', HOST_LINK.host]);
  await ip(netns, ['neigh', 'replace', HOST_LINK_ADDRESSES.vpp, 'lladdr', macText(vppMac), 'dev', HOST_LINK.host, 'nud', 'permanent']);
  await ip(netns, ['route', 'add', 'default', 'via', HOST_LINK_ADDRESSES.vpp, 'dev', HOST_LINK.host, 'onlink', 'src', hosts[0]]);
}

/** The MAC of a Linux interface in `netns`. */
export async function linkMac(netns: string, dev: string): Promise<Buffer> {
  const [link] = JSON.parse(await ip(netns, ['-j', 'link', 'show', 'dev', dev])) as Array<{ address: string }>;
  return Buffer.from(link.address.split(':').map((h) => parseInt(h, 16)));
}

export function macText(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

function ip(netns: string, args: string[]): Promise<string> {
  return run('ip', ['-n', netns, ...args], 10_000);
}
