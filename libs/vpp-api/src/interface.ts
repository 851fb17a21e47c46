import type { VppApi } from './client';
import { checkRetval } from './retval';
import { ALL_ONES } from './wireguard';

/** if_status_flags. */
export const IF_STATUS_API_FLAG_ADMIN_UP = 1;
export const IF_STATUS_API_FLAG_LINK_UP = 2;

export interface SwInterface {
  swIfIndex: number;
  supSwIfIndex: number;
  name: string;
  devType: string;
  tag: string;
  flags: number;
  adminUp: boolean;
  linkUp: boolean;
  l2Address: Buffer;
  /** L3, IP4, IP6, MPLS MTUs. */
  mtu: number[];
  linkMtu: number;
}

export const INTERFACE_MESSAGES = [
  'sw_interface_set_flags',
  'sw_interface_set_flags_reply',
  'sw_interface_add_del_address',
  'sw_interface_add_del_address_reply',
  'sw_interface_set_unnumbered',
  'sw_interface_set_unnumbered_reply',
  'sw_interface_dump',
  'sw_interface_details',
  'hw_interface_set_mtu',
  'hw_interface_set_mtu_reply',
] as const;

/** The hardware MTU (what `vppctl set interface mtu` sets): an af_packet interface must get its link's at once. */
export async function hwInterfaceSetMtu(api: VppApi, swIfIndex: number, mtu: number): Promise<void> {
  checkRetval('hw_interface_set_mtu', await api.request('hw_interface_set_mtu', { sw_if_index: swIfIndex, mtu }));
}

/** Admin up or down. */
export async function swInterfaceSetFlags(api: VppApi, swIfIndex: number, up: boolean): Promise<void> {
  const call = 'sw_interface_set_flags';
  checkRetval(call, await api.request(call, { sw_if_index: swIfIndex, flags: up ? IF_STATUS_API_FLAG_ADMIN_UP : 0 }));
}

/** Adds or removes an interface address ("10.100.0.1/24"); `delAll` removes every address. */
export async function swInterfaceAddDelAddress(api: VppApi, swIfIndex: number, prefix: string, isAdd: boolean, delAll = false): Promise<void> {
  const call = 'sw_interface_add_del_address';
  checkRetval(call, await api.request(call, { sw_if_index: swIfIndex, is_add: isAdd, del_all: delAll, prefix }));
}

/**
 * Makes `unnumberedSwIfIndex` borrow the addresses of `swIfIndex` (or stops it with isAdd false).
 */
export async function swInterfaceSetUnnumbered(api: VppApi, swIfIndex: number, unnumberedSwIfIndex: number, isAdd = true): Promise<void> {
  const call = 'sw_interface_set_unnumbered';
  checkRetval(call, await api.request(call, { sw_if_index: swIfIndex, unnumbered_sw_if_index: unnumberedSwIfIndex, is_add: isAdd }));
}

/** Every interface (or one by swIfIndex, or those whose name contains nameFilter). */
export async function swInterfaceDump(api: VppApi, opts: { swIfIndex?: number; nameFilter?: string } = {}): Promise<SwInterface[]> {
  const details = await api.dump('sw_interface_dump', {
    sw_if_index: opts.swIfIndex ?? ALL_ONES,
    name_filter_valid: opts.nameFilter !== undefined,
    name_filter: opts.nameFilter ?? '',
  });
  return details.map((d) => {
    const flags = d.flags as number;
    return {
      swIfIndex: d.sw_if_index as number,
      supSwIfIndex: d.sup_sw_if_index as number,
      name: d.interface_name as string,
      devType: d.interface_dev_type as string,
      tag: d.tag as string,
      flags,
      adminUp: (flags & IF_STATUS_API_FLAG_ADMIN_UP) !== 0,
      linkUp: (flags & IF_STATUS_API_FLAG_LINK_UP) !== 0,
      l2Address: d.l2_address as Buffer,
      mtu: d.mtu as number[],
      linkMtu: d.link_mtu as number,
    };
  });
}
