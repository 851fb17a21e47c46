import type { Logger } from '@wgmesh/log';
import { formatIp, parseIp } from '@wgmesh/netaddr';
import { ALL_ONES, checkRetval, ipRouteAddDel, swInterfaceAddDelAddress, swInterfaceSetFlags, swInterfaceSetUnnumbered, tapCreate, VppClient } from '@wgmesh/vpp-api';
import type { DeviceSpec } from './driver';
import { configureLink, DEFAULT_MTU, IpLink, parseInterfaceAddress } from './ip-link';

// Linux netstack interop for the vpp driver (--vpp-tap <name>): a tap in tun mode (with GSO)
// between VPP and the host, so that the host's own sockets reach the mesh through VPP's
// WireGuard. The member's tunnel addresses belong to the host side; VPP routes them into the tap
// and routes everything else by the peers' allowed-IP routes on the wg interface.
//
//   host: <name> (tun) 10.99.0.5/16, --route prefixes ──► VPP: tapN ──► FIB ──► wg0 ──► peers
//
// VPP side: the tap is up and has a link-local /32 of VPP's own (VPP_TAP_ADDRESS), which IP-
// enables it; the wg interface borrows it (unnumbered), since the tunnel address is the host's.
// Host side: tap_create_v3 sets the first IPv4/IPv6 tunnel address and the MTU itself; the rest
// (other addresses, the --route prefixes, up) is done with `ip` only when the tap is visible here.
// With the simulator it never is, so that part is deliberately small.

export const VPP_TAP_ADDRESS = '169.254.77.1/32';

/** Messages of the tap path beyond @wgmesh/vpp-api's TAP_MESSAGES. */
export const TAP_DUMP_MESSAGES = [
  'sw_interface_tap_v2_dump',
  'sw_interface_tap_v2_details',
  'sw_interface_set_unnumbered',
  'sw_interface_set_unnumbered_reply',
  'sw_interface_ip6_enable_disable',
  'sw_interface_ip6_enable_disable_reply',
];

export interface VppTapOptions {
  hostName: string;
  wgSwIfIndex: number;
  spec: DeviceSpec;
  netns?: string;
  log: Logger;
}

/** Creates or adopts the tap and wires it as above; returns what it changed. */
export async function ensureVppTap(client: VppClient, o: VppTapOptions): Promise<string[]> {
  const changed: string[] = [];
  const mtu = o.spec.mtu ?? DEFAULT_MTU;
  const addresses = (o.spec.addresses ?? []).map(parseInterfaceAddress);
  const v4 = addresses.find((a) => !a.includes(':'));
  const v6 = addresses.find((a) => a.includes(':'));

  const taps = await client.dump('sw_interface_tap_v2_dump', { sw_if_index: ALL_ONES });
  const found = taps.find((t) => t.host_if_name === o.hostName);
  let tap: number;
  if (found) {
    tap = found.sw_if_index as number;
  } else {
    tap = await tapCreate(client, { hostIfName: o.hostName, tun: true, gso: true, hostMtu: mtu, hostIp4Prefix: v4, hostIp6Prefix: v6, hostNamespace: o.netns });
    changed.push(`tap ${o.hostName} (sw_if_index ${tap})`);
  }
  await swInterfaceSetFlags(client, tap, true);
  const own = await client.dump('ip_address_dump', { sw_if_index: tap, is_ipv6: false });
  if (!own.some((d) => d.prefix === VPP_TAP_ADDRESS)) {
    await swInterfaceAddDelAddress(client, tap, VPP_TAP_ADDRESS, true);
    changed.push(`tap address ${VPP_TAP_ADDRESS}`);
  }
  await swInterfaceSetUnnumbered(client, tap, o.wgSwIfIndex, true);
  if (v6) {
    for (const i of [tap, o.wgSwIfIndex]) {
      checkRetval('sw_interface_ip6_enable_disable', await client.request('sw_interface_ip6_enable_disable', { sw_if_index: i, enable: true }));
    }
  }
  // The host's tunnel addresses are reached through the tap (a point-to-point link: no next hop).
  for (const a of addresses) await ipRouteAddDel(client, { isAdd: true, prefix: hostPrefix(a), paths: [{ swIfIndex: tap }] });

  const link = new IpLink(o.hostName, { netns: o.netns });
  let exists = false;
  try {
    exists = (await link.state()).exists;
  } catch (err) {
    o.log.warn('cannot look for the tap on the host', { tap: o.hostName, error: (err as Error).message });
  }
  if (exists) {
    changed.push(...(await configureLink(link, { addresses: o.spec.addresses, routes: o.spec.routes, mtu })).map((c) => `host ${c}`));
  } else {
    o.log.info('the tap is not visible on this host; its host side is left to VPP (tap_create_v3 set the first addresses)', { tap: o.hostName, netns: o.netns });
  }
  return changed;
}

/** "10.99.0.5/16" → "10.99.0.5/32": the host's own address, not its subnet. */
function hostPrefix(address: string): string {
  const ip = parseIp(address.split('/')[0]);
  return `${formatIp(ip)}/${ip.family === 4 ? 32 : 128}`;
}
