import { defineOptions, values } from '@wgmesh/config';
import { canonicalIp } from '@wgmesh/netaddr';
import { parseDeviceName } from '@wgmesh/wireguard';
import { DEFAULT_VPP_API_DIR, DEFAULT_VPP_SOCKET } from './vpp-driver';

/** How a command reaches VPP (--driver vpp): every command that reads or programs it. */
export const vppApiOptions = defineOptions([
  { key: 'vppSocket', flag: 'vpp-socket', env: 'WGMESH_VPP_SOCKET', value: '<path>', parse: values.string, default: DEFAULT_VPP_SOCKET, description: "--driver vpp: VPP's binary API socket (socksvr)" },
  { key: 'vppApiDir', flag: 'vpp-api-dir', env: 'WGMESH_VPP_API_DIR', value: '<dir>', parse: values.string, default: DEFAULT_VPP_API_DIR, description: "--driver vpp: VPP's .api.json definitions (searched recursively)" },
]);

/** The VPP driver's options for a service that owns the device (dataplane-programmer, member up, registry up). */
export const vppOptions = defineOptions([
  ...vppApiOptions,
  { key: 'vppSrcAddress', flag: 'vpp-src-address', env: 'WGMESH_VPP_SRC_ADDRESS', value: '<ip>', parse: canonicalIp, description: "--driver vpp: source address of the tunnel's UDP packets (an address of VPP's uplink); needed to create the interface" },
  { key: 'vppHostInterface', flag: 'vpp-host-interface', env: 'WGMESH_VPP_HOST_INTERFACE', value: '<ifname>', parse: parseDeviceName, description: "--driver vpp: give the host an interface of this name into VPP carrying the tunnel addresses and the mesh routes, so the host's own sockets reach the mesh (a tap where /dev/vhost-net exists, else a veth pair VPP attaches with af_packet)" },
]);
