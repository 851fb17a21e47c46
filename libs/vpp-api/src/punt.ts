import type { VppApi } from './client';
import { FIB_API_PATH_NH_PROTO_IP4, FIB_API_PATH_NH_PROTO_IP6 } from './ip-route';
import { checkRetval } from './retval';

/** punt_type. */
export const PUNT_API_TYPE_L4 = 0;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;
/** A punt_l4 port of ~0: every port nobody in VPP listens on. */
export const PUNT_ALL_PORTS = 0xffff;

export const PUNT_MESSAGES = ['set_punt', 'set_punt_reply', 'add_del_ip_punt_redirect_v2', 'add_del_ip_punt_redirect_v2_reply'] as const;

/**
 * Punts UDP packets for VPP's own addresses on ports it has no listener for (instead of answering
 * ICMP port unreachable). TCP needs nothing: without VPP's session layer TCP is punted already.
 */
export async function puntUnknownUdp(api: VppApi, family: 4 | 6, isAdd = true): Promise<void> {
  const call = 'set_punt';
  checkRetval(call, await api.request(call, { is_add: isAdd, punt: { type: PUNT_API_TYPE_L4, punt: { l4: { af: family === 4 ? 0 : 1, protocol: IP_PROTO_UDP, port: PUNT_ALL_PORTS } } } }));
}

/** Sends what VPP punts from `rxSwIfIndex` to `nextHop` on `txSwIfIndex` (e.g. the host sharing VPP's address). */
export async function ipPuntRedirect(api: VppApi, o: { rxSwIfIndex: number; txSwIfIndex: number; nextHop: string; isAdd?: boolean }): Promise<void> {
  const call = 'add_del_ip_punt_redirect_v2';
  const v6 = o.nextHop.includes(':');
  const path = { sw_if_index: o.txSwIfIndex, table_id: 0, weight: 1, preference: 0, proto: v6 ? FIB_API_PATH_NH_PROTO_IP6 : FIB_API_PATH_NH_PROTO_IP4, nh: { address: v6 ? { ip6: o.nextHop } : { ip4: o.nextHop } } };
  checkRetval(call, await api.request(call, { is_add: o.isAdd ?? true, punt: { rx_sw_if_index: o.rxSwIfIndex, af: v6 ? 1 : 0, paths: [path] } }));
}
