import type { VppApi } from './client';
import { checkRetval } from './retval';
import { ALL_ONES } from './wireguard';

/** tap_flags. */
export const TAP_API_FLAG_GSO = 1;
export const TAP_API_FLAG_CSUM_OFFLOAD = 2;
export const TAP_API_FLAG_PERSIST = 4;
export const TAP_API_FLAG_ATTACH = 8;
export const TAP_API_FLAG_TUN = 16;
export const TAP_API_FLAG_GRO_COALESCE = 32;

export interface TapCreate {
  /** tapN instance; ~0 (default) lets VPP choose. */
  id?: number;
  /** Linux side name (e.g. "vpp-wg"); VPP picks "tapN" when omitted. */
  hostIfName?: string;
  /** Network namespace for the Linux side. */
  hostNamespace?: string;
  /** Layer 3 (tun) instead of Ethernet (tap). Default true: what the WireGuard interop needs. */
  tun?: boolean;
  gso?: boolean;
  csumOffload?: boolean;
  hostIp4Prefix?: string;
  hostIp6Prefix?: string;
  hostMtu?: number;
  numRxQueues?: number;
  tag?: string;
}

export const TAP_MESSAGES = ['tap_create_v3', 'tap_create_v3_reply', 'tap_delete_v2', 'tap_delete_v2_reply'] as const;

/** Creates a virtio tap/tun interface with tap_create_v3; returns its sw_if_index. */
export async function tapCreate(api: VppApi, opts: TapCreate = {}): Promise<number> {
  const call = 'tap_create_v3';
  let flags = 0;
  if (opts.tun ?? true) flags |= TAP_API_FLAG_TUN;
  if (opts.gso) flags |= TAP_API_FLAG_GSO;
  if (opts.csumOffload) flags |= TAP_API_FLAG_CSUM_OFFLOAD;
  const reply = await api.request(call, {
    id: opts.id ?? ALL_ONES,
    use_random_mac: true,
    num_rx_queues: opts.numRxQueues ?? 1,
    host_mtu_set: opts.hostMtu !== undefined,
    host_mtu_size: opts.hostMtu ?? 0,
    host_ip4_prefix_set: opts.hostIp4Prefix !== undefined,
    host_ip4_prefix: opts.hostIp4Prefix,
    host_ip6_prefix_set: opts.hostIp6Prefix !== undefined,
    host_ip6_prefix: opts.hostIp6Prefix,
    tap_flags: flags,
    host_namespace_set: opts.hostNamespace !== undefined,
    host_namespace: opts.hostNamespace ?? '',
    host_if_name_set: opts.hostIfName !== undefined,
    host_if_name: opts.hostIfName ?? '',
    tag: opts.tag ?? '',
  });
  return checkRetval(call, reply).sw_if_index as number;
}

export async function tapDelete(api: VppApi, swIfIndex: number): Promise<void> {
  checkRetval('tap_delete_v2', await api.request('tap_delete_v2', { sw_if_index: swIfIndex }));
}
