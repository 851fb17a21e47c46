import { parseIp } from '@wgmesh/netaddr';
import type { VppApi } from './client';
import { VppEncodeError } from './errors';
import { checkRetval } from './retval';

/** fib_path_nh_proto. */
export const FIB_API_PATH_NH_PROTO_IP4 = 0;
export const FIB_API_PATH_NH_PROTO_IP6 = 1;

export interface RoutePath {
  swIfIndex: number;
  /** Next hop; omit for an attached (interface) route. */
  nextHop?: string;
  /** Default 1. */
  weight?: number;
  preference?: number;
  /** Table of the next hop (default 0). */
  tableId?: number;
}

export interface IpRoute {
  isAdd: boolean;
  /** "10.100.0.2/32" */
  prefix: string;
  paths: readonly RoutePath[];
  tableId?: number;
  /** Add/remove one path of a multipath route instead of replacing the route. */
  isMultipath?: boolean;
}

export const ROUTE_MESSAGES = ['ip_route_add_del', 'ip_route_add_del_reply'] as const;

/**
 * Adds or deletes a route. Each path is encoded as in the golden capture (frame 18): type NORMAL,
 * flags NONE, proto from the next hop's (or the prefix's) family, next hop in `nh.address`.
 * Returns the route's stats index.
 */
export async function ipRouteAddDel(api: VppApi, route: IpRoute): Promise<number> {
  const call = 'ip_route_add_del';
  const family = prefixFamily(call, route.prefix);
  const paths = route.paths.map((p, i) => {
    const nhFamily = p.nextHop === undefined ? family : ipFamily(call, `paths[${i}].nextHop`, p.nextHop);
    const proto = nhFamily === 4 ? FIB_API_PATH_NH_PROTO_IP4 : FIB_API_PATH_NH_PROTO_IP6;
    return {
      sw_if_index: p.swIfIndex,
      table_id: p.tableId ?? 0,
      weight: p.weight ?? 1,
      preference: p.preference ?? 0,
      proto,
      nh: p.nextHop === undefined ? undefined : { address: nhFamily === 4 ? { ip4: p.nextHop } : { ip6: p.nextHop } },
    };
  });
  const reply = await api.request(call, {
    is_add: route.isAdd,
    is_multipath: route.isMultipath ?? false,
    route: { table_id: route.tableId ?? 0, prefix: route.prefix, paths },
  });
  return checkRetval(call, reply).stats_index as number;
}

function prefixFamily(call: string, prefix: string): 4 | 6 {
  return ipFamily(call, 'prefix', prefix.split('/')[0]);
}

function ipFamily(call: string, field: string, text: string): 4 | 6 {
  try {
    return parseIp(text).family;
  } catch (e) {
    throw new VppEncodeError(call, field, (e as Error).message);
  }
}
