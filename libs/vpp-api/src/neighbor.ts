import type { VppApi } from './client';
import { checkRetval } from './retval';

/** ip_neighbor_flags. */
export const IP_API_NEIGHBOR_FLAG_STATIC = 1;

export const NEIGHBOR_MESSAGES = ['ip_neighbor_add_del', 'ip_neighbor_add_del_reply'] as const;

/** Adds (or removes) a static neighbour: `ip` is at `mac` on the interface, no ARP/ND needed. */
export async function ipNeighborAddDel(api: VppApi, o: { swIfIndex: number; ip: string; mac: Uint8Array; isAdd?: boolean }): Promise<void> {
  const call = 'ip_neighbor_add_del';
  checkRetval(call, await api.request(call, { is_add: o.isAdd ?? true, neighbor: { sw_if_index: o.swIfIndex, flags: IP_API_NEIGHBOR_FLAG_STATIC, mac_address: o.mac, ip_address: o.ip } }));
}
