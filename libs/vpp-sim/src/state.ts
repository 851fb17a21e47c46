import { canonicalCidr, parseIp } from '@wgmesh/netaddr';
import type { VppFields } from '@wgmesh/vpp-api';
import { generatePrivateKey, publicKeyFromPrivate } from '@wgmesh/wireguard';

// The simulated VPP's objects and what each API message does to them. Test double: the
// behaviour follows VPP v26.06 as observed in ../shared/vpp-api (README "Behaviour observed")
// and VPP's sources for the cases the capture does not cover (marked "assumed" below).

export const ALL_ONES = 0xffffffff;
export const PEER_DEAD = 1;
export const PEER_ESTABLISHED = 2;

/** VNET_API_ERROR codes the simulator answers with. */
export const SimErrors = {
  /** Observed: wireguard_interface_delete of sw_if_index 99. */
  INVALID_SW_IF_INDEX: -2,
  /** Assumed (fib_api_table_id_decode): a route in a table that was never created. */
  NO_SUCH_FIB: -3,
  /** Observed: wireguard_peer_remove of index 77. */
  NO_SUCH_ENTRY: -6,
  /** Observed: wireguard_peer_add with n_allowed_ips 0 (peer_index ~0 in the reply). */
  INVALID_VALUE: -7,
  /** Assumed: the second interface of a two-interface call does not exist. */
  INVALID_SW_IF_INDEX_2: -10,
  /** Assumed (wg_if_create): the wgN instance asked for is taken. */
  INVALID_REGISTRATION: -31,
  /** Assumed: deleting an address the interface does not have. */
  ADDRESS_NOT_FOUND_FOR_INTERFACE: -60,
  /** Assumed: tap_create_v3 with an id in use. */
  IF_ALREADY_EXISTS: -79,
  /** Assumed: adding an address the interface already has. */
  VALUE_EXIST: -81,
  /** Assumed (wg_peer_add): a peer with this public key exists (on any wg interface). */
  ENTRY_ALREADY_EXISTS: -116,
} as const;

export interface SimWireguard {
  instance: number;
  privateKey: Buffer;
  publicKey: Buffer;
  port: number;
  srcIp: string;
}

export interface SimTap {
  id: number;
  flags: number;
  hostIfName: string;
  hostNamespace: string;
  hostIp4Prefix: string | null;
  hostIp6Prefix: string | null;
  hostMtu: number;
}

export interface SimInterface {
  swIfIndex: number;
  name: string;
  devType: string;
  adminUp: boolean;
  /** L3, IP4, IP6, MPLS. */
  mtu: [number, number, number, number];
  /** With prefix length and host bits, as added ("10.100.0.1/24"). */
  addresses: string[];
  /** The interface whose addresses this one borrows (sw_interface_set_unnumbered). */
  unnumberedTo: number | null;
  ip6Enabled: boolean;
  wireguard?: SimWireguard;
  tap?: SimTap;
}

export interface SimPeer {
  peerIndex: number;
  publicKey: Buffer;
  port: number;
  persistentKeepalive: number;
  tableId: number;
  endpoint: string;
  swIfIndex: number;
  flags: number;
  allowedIps: string[];
  /** Client handles registered for this peer's events (want_wireguard_peer_events). */
  subscribers: Set<number>;
}

export interface SimPath {
  swIfIndex: number;
  /** Null for an attached path (no next hop). */
  nextHop: string | null;
  proto: number;
  type: number;
  flags: number;
  weight: number;
  preference: number;
  tableId: number;
}

export interface SimRoute {
  tableId: number;
  /** Canonical ("10.100.0.2/32"). */
  prefix: string;
  paths: SimPath[];
  statsIndex: number;
}

/** Where a handler's messages go: details of a dump to the requester, events to a client handle. */
export interface SimOutput {
  send(name: string, fields: VppFields): void;
}

export type EventSink = (handle: number, name: string, fields: VppFields) => void;

interface Failure {
  message: string;
  retval: number;
  remaining: number;
  match?: (request: VppFields) => boolean;
}

/** A pool of indexes reused last-freed-first, as VPP's pools hand them out. */
class IndexPool {
  private next: number;
  private readonly free: number[] = [];
  constructor(first = 0) {
    this.next = first;
  }
  alloc(): number {
    return this.free.pop() ?? this.next++;
  }
  release(i: number): void {
    this.free.push(i);
  }
}

export interface SimStateOptions {
  /** An uplink at sw_if_index 1 (as host-vpp0 in the capture), so the first wg interface is 2. Default on. */
  uplink?: { name: string; address: string } | false;
  /** control_ping_reply's vpe_pid. */
  pid?: number;
}

type Handler = (req: VppFields, out: SimOutput) => VppFields | undefined;

export class SimState {
  readonly interfaces = new Map<number, SimInterface>();
  readonly peers = new Map<number, SimPeer>();
  readonly routes = new Map<string, SimRoute>();
  /** Requests handled, by message name. */
  readonly counts = new Map<string, number>();
  /** Messages the simulator has no handler for (answered UNIMPLEMENTED when the reply has a retval). */
  readonly unhandled = new Map<string, number>();
  emitEvent: EventSink = () => undefined;

  private readonly swIfIndexes = new IndexPool(0);
  private readonly peerIndexes = new IndexPool(0);
  private readonly wgInstances = new Set<number>();
  private readonly tapIds = new Set<number>();
  private readonly peerByKey = new Map<string, number>();
  private nextStatsIndex = 1;
  private failures: Failure[] = [];
  private readonly pid: number;
  private readonly handlers: Record<string, Handler>;

  constructor(opts: SimStateOptions = {}) {
    this.pid = opts.pid ?? process.pid;
    this.addInterface({ name: 'local0', devType: 'local' });
    const uplink = opts.uplink ?? { name: 'host-vpp0', address: '10.10.0.1/24' };
    if (uplink) {
      const i = this.addInterface({ name: uplink.name, devType: 'af_packet' });
      i.adminUp = true;
      i.addresses.push(uplink.address);
    }
    this.handlers = {
      control_ping: () => ({ retval: 0, client_index: 0, vpe_pid: this.pid }),
      show_version: () => ({ retval: 0, program: 'vpe', version: '26.06-release', build_date: 'vpp-sim', build_directory: '' }),
      wireguard_interface_create: (r) => this.wgCreate(r),
      wireguard_interface_delete: (r) => this.wgDelete(r),
      wireguard_interface_dump: (r, out) => this.wgDump(r, out),
      wireguard_peer_add: (r) => this.peerAdd(r),
      wireguard_peer_remove: (r) => this.peerRemove(r),
      wireguard_peers_dump: (r, out) => this.peersDump(r, out),
      want_wireguard_peer_events: (r) => this.wantEvents(r),
      sw_interface_set_flags: (r) => this.setFlags(r),
      sw_interface_set_mtu: (r) => this.setMtu(r),
      sw_interface_add_del_address: (r) => this.addDelAddress(r),
      sw_interface_set_unnumbered: (r) => this.setUnnumbered(r),
      sw_interface_ip6_enable_disable: (r) => this.ip6Enable(r),
      sw_interface_dump: (r, out) => this.swInterfaceDump(r, out),
      ip_address_dump: (r, out) => this.ipAddressDump(r, out),
      ip_route_add_del: (r) => this.routeAddDel(r),
      ip_route_dump: (r, out) => this.routeDump(r, out),
      tap_create_v3: (r) => this.tapCreate(r),
      tap_delete_v2: (r) => this.tapDelete(r),
      sw_interface_tap_v2_dump: (r, out) => this.tapDump(r, out),
    };
  }

  /** True when the simulator implements `name` (a request). */
  handles(name: string): boolean {
    return name in this.handlers;
  }

  /**
   * Runs one request. Returns the reply's fields (without id and context), or undefined when
   * the request has no reply of its own (a dump: the details went to `out`, control_ping ends it).
   */
  handle(name: string, req: VppFields, out: SimOutput): VppFields | undefined {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const failure = this.takeFailure(name, req);
    if (failure !== undefined) return failureReply(name, failure);
    return this.handlers[name](req, out);
  }

  /**
   * The next `times` requests named `message` (that `match`, when given) get `retval` and change
   * nothing. For tests of error handling.
   */
  fail(message: string, retval: number, opts: { times?: number; match?: (request: VppFields) => boolean } = {}): void {
    if (message.endsWith('_dump')) throw new Error(`vpp-sim: a dump has no retval to fail (${message})`);
    this.failures.push({ message, retval, remaining: opts.times ?? 1, match: opts.match });
  }

  /** A completed handshake: the peer gets ESTABLISHED and its subscribers an event. */
  simulateHandshake(peerIndex: number): void {
    this.updateFlags(this.peer(peerIndex), PEER_ESTABLISHED, true);
  }

  /** Keys expired without a new handshake (VPP clears ESTABLISHED after REJECT_AFTER_TIME × 3). */
  simulateSessionExpiry(peerIndex: number): void {
    this.updateFlags(this.peer(peerIndex), PEER_ESTABLISHED, false);
  }

  peerByPublicKey(key: Uint8Array): SimPeer | undefined {
    const i = this.peerByKey.get(Buffer.from(key).toString('hex'));
    return i === undefined ? undefined : this.peers.get(i);
  }

  routesVia(swIfIndex: number): SimRoute[] {
    return [...this.routes.values()].filter((r) => r.paths.some((p) => p.swIfIndex === swIfIndex));
  }

  // ---------------------------------------------------------------------------------------------

  private peer(peerIndex: number): SimPeer {
    const p = this.peers.get(peerIndex);
    if (!p) throw new Error(`vpp-sim: no peer ${peerIndex}`);
    return p;
  }

  private takeFailure(name: string, req: VppFields): number | undefined {
    const f = this.failures.find((x) => x.message === name && x.remaining > 0 && (!x.match || x.match(req)));
    if (!f) return undefined;
    f.remaining--;
    this.failures = this.failures.filter((x) => x.remaining > 0);
    return f.retval;
  }

  private addInterface(init: { name: string; devType: string }): SimInterface {
    const i: SimInterface = { swIfIndex: this.swIfIndexes.alloc(), ...init, adminUp: false, mtu: [9000, 0, 0, 0], addresses: [], unnumberedTo: null, ip6Enabled: false };
    this.interfaces.set(i.swIfIndex, i);
    return i;
  }

  private deleteInterface(i: SimInterface): void {
    for (const r of [...this.routes.values()]) {
      r.paths = r.paths.filter((p) => p.swIfIndex !== i.swIfIndex);
      if (r.paths.length === 0) this.routes.delete(routeKey(r.tableId, r.prefix));
    }
    for (const other of this.interfaces.values()) if (other.unnumberedTo === i.swIfIndex) other.unnumberedTo = null;
    this.interfaces.delete(i.swIfIndex);
    this.swIfIndexes.release(i.swIfIndex);
  }

  private valid(swIfIndex: unknown): SimInterface | undefined {
    return typeof swIfIndex === 'number' ? this.interfaces.get(swIfIndex) : undefined;
  }

  private updateFlags(peer: SimPeer, flag: number, set: boolean): void {
    if (((peer.flags & flag) !== 0) === set) return;
    peer.flags ^= flag;
    for (const handle of peer.subscribers) {
      this.emitEvent(handle, 'wireguard_peer_event', { client_index: 0, pid: 0, peer_index: peer.peerIndex, flags: peer.flags });
    }
  }

  // --- WireGuard --------------------------------------------------------------------------------

  private wgCreate(req: VppFields): VppFields {
    const itf = req.interface as VppFields;
    const want = itf.user_instance as number;
    let instance = want;
    if (want === ALL_ONES) {
      instance = 0;
      while (this.wgInstances.has(instance)) instance++;
    } else if (this.wgInstances.has(want)) {
      return { retval: SimErrors.INVALID_REGISTRATION, sw_if_index: ALL_ONES };
    }
    // VPP ignores the request's public_key and sw_if_index; it derives the public key.
    const privateKey = req.generate_key ? generatePrivateKey() : Buffer.from(itf.private_key as Buffer);
    this.wgInstances.add(instance);
    const i = this.addInterface({ name: `wg${instance}`, devType: 'wireguard' });
    i.wireguard = { instance, privateKey, publicKey: publicKeyFromPrivate(privateKey), port: itf.port as number, srcIp: itf.src_ip as string };
    return { retval: 0, sw_if_index: i.swIfIndex };
  }

  private wgDelete(req: VppFields): VppFields {
    const i = this.valid(req.sw_if_index);
    if (!i?.wireguard) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    for (const p of [...this.peers.values()]) if (p.swIfIndex === i.swIfIndex) this.removePeer(p);
    this.wgInstances.delete(i.wireguard.instance);
    this.deleteInterface(i);
    return { retval: 0 };
  }

  private wgDump(req: VppFields, out: SimOutput): undefined {
    for (const i of this.interfaces.values()) {
      const wg = i.wireguard;
      if (!wg || (req.sw_if_index !== ALL_ONES && req.sw_if_index !== i.swIfIndex)) continue;
      out.send('wireguard_interface_details', {
        interface: {
          user_instance: wg.instance,
          sw_if_index: i.swIfIndex,
          private_key: req.show_private_key ? wg.privateKey : Buffer.alloc(32),
          public_key: wg.publicKey,
          port: wg.port,
          src_ip: wg.srcIp,
        },
      });
    }
    return undefined;
  }

  private peerAdd(req: VppFields): VppFields {
    const p = req.peer as VppFields;
    const refuse = (retval: number) => ({ retval, peer_index: ALL_ONES });
    const itf = this.valid(p.sw_if_index);
    if (!itf) return refuse(SimErrors.INVALID_SW_IF_INDEX);
    if ((p.n_allowed_ips as number) === 0) return refuse(SimErrors.INVALID_VALUE);
    if (!itf.wireguard) return refuse(SimErrors.INVALID_SW_IF_INDEX);
    const keyHex = (p.public_key as Buffer).toString('hex');
    if (this.peerByKey.has(keyHex)) return refuse(SimErrors.ENTRY_ALREADY_EXISTS);
    const peer: SimPeer = {
      peerIndex: this.peerIndexes.alloc(),
      publicKey: Buffer.from(p.public_key as Buffer),
      port: p.port as number,
      persistentKeepalive: p.persistent_keepalive as number,
      tableId: p.table_id as number,
      endpoint: p.endpoint as string,
      swIfIndex: itf.swIfIndex,
      flags: 0,
      allowedIps: [...(p.allowed_ips as string[])],
      subscribers: new Set(),
    };
    this.peers.set(peer.peerIndex, peer);
    this.peerByKey.set(keyHex, peer.peerIndex);
    return { retval: 0, peer_index: peer.peerIndex };
  }

  private peerRemove(req: VppFields): VppFields {
    const peer = this.peers.get(req.peer_index as number);
    if (!peer) return { retval: SimErrors.NO_SUCH_ENTRY };
    this.removePeer(peer);
    return { retval: 0 };
  }

  /** Observed: an ESTABLISHED peer's subscribers get flags 0, then flags 1 (DEAD), before the reply. */
  private removePeer(peer: SimPeer): void {
    this.updateFlags(peer, PEER_ESTABLISHED, false);
    this.updateFlags(peer, PEER_DEAD, true);
    this.peers.delete(peer.peerIndex);
    this.peerByKey.delete(peer.publicKey.toString('hex'));
    this.peerIndexes.release(peer.peerIndex);
  }

  private peersDump(req: VppFields, out: SimOutput): undefined {
    const send = (p: SimPeer) =>
      out.send('wireguard_peers_details', {
        peer: {
          peer_index: p.peerIndex,
          public_key: p.publicKey,
          port: p.port,
          persistent_keepalive: p.persistentKeepalive,
          table_id: p.tableId,
          endpoint: p.endpoint,
          sw_if_index: p.swIfIndex,
          flags: p.flags,
          allowed_ips: p.allowedIps,
        },
      });
    if (req.peer_index === ALL_ONES) {
      for (const index of [...this.peers.keys()].sort((a, b) => a - b)) send(this.peers.get(index) as SimPeer);
    } else {
      const p = this.peers.get(req.peer_index as number);
      if (p) send(p);
    }
    return undefined;
  }

  /**
   * Observed scope: registers the client (by handle) on the peers that exist now; later peers are
   * not covered. Registrations are kept by handle and outlive the connection.
   */
  private wantEvents(req: VppFields): VppFields {
    const handle = req.client_index as number;
    for (const p of this.peers.values()) {
      if (req.sw_if_index !== ALL_ONES && req.sw_if_index !== p.swIfIndex) continue;
      if (req.peer_index !== ALL_ONES && req.peer_index !== p.peerIndex) continue;
      if (req.enable_disable) p.subscribers.add(handle);
      else p.subscribers.delete(handle);
    }
    return { retval: 0 };
  }

  // --- Interfaces -------------------------------------------------------------------------------

  private setFlags(req: VppFields): VppFields {
    const i = this.valid(req.sw_if_index);
    if (!i) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    i.adminUp = ((req.flags as number) & 1) !== 0;
    return { retval: 0 };
  }

  private setMtu(req: VppFields): VppFields {
    const i = this.valid(req.sw_if_index);
    if (!i) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    i.mtu = [...(req.mtu as number[])] as SimInterface['mtu'];
    return { retval: 0 };
  }

  private addDelAddress(req: VppFields): VppFields {
    const i = this.valid(req.sw_if_index);
    if (!i) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    if (req.del_all) {
      i.addresses = [];
      return { retval: 0 };
    }
    const prefix = req.prefix as string;
    const has = i.addresses.includes(prefix);
    if (req.is_add) {
      if (has) return { retval: SimErrors.VALUE_EXIST };
      i.addresses.push(prefix);
    } else {
      if (!has) return { retval: SimErrors.ADDRESS_NOT_FOUND_FOR_INTERFACE };
      i.addresses = i.addresses.filter((a) => a !== prefix);
    }
    return { retval: 0 };
  }

  private setUnnumbered(req: VppFields): VppFields {
    const owner = this.valid(req.sw_if_index);
    if (!owner) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    const borrower = this.valid(req.unnumbered_sw_if_index);
    if (!borrower) return { retval: SimErrors.INVALID_SW_IF_INDEX_2 };
    borrower.unnumberedTo = req.is_add ? owner.swIfIndex : null;
    return { retval: 0 };
  }

  private ip6Enable(req: VppFields): VppFields {
    const i = this.valid(req.sw_if_index);
    if (!i) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    i.ip6Enabled = Boolean(req.enable);
    return { retval: 0 };
  }

  private swInterfaceDump(req: VppFields, out: SimOutput): undefined {
    for (const i of this.interfaces.values()) {
      if (req.name_filter_valid) {
        if (!i.name.includes(req.name_filter as string)) continue;
      } else if (req.sw_if_index !== ALL_ONES && req.sw_if_index !== i.swIfIndex) continue;
      out.send('sw_interface_details', {
        sw_if_index: i.swIfIndex,
        sup_sw_if_index: i.swIfIndex,
        flags: i.adminUp ? 3 : 0,
        link_mtu: Math.min(i.mtu[0], 0xffff),
        mtu: i.mtu,
        interface_name: i.name,
        interface_dev_type: i.devType,
      });
    }
    return undefined;
  }

  private ipAddressDump(req: VppFields, out: SimOutput): undefined {
    const i = this.valid(req.sw_if_index);
    for (const prefix of i?.addresses ?? []) {
      if (prefix.includes(':') === Boolean(req.is_ipv6)) out.send('ip_address_details', { sw_if_index: i!.swIfIndex, prefix });
    }
    return undefined;
  }

  // --- Routes -----------------------------------------------------------------------------------

  /**
   * ip_route_add_del: is_add replaces the route's paths (is_multipath adds to them); a delete
   * without is_multipath removes the route, with it removes the given paths. Deleting a route that
   * does not exist succeeds (VPP "allows it"). Only table 0 exists.
   */
  private routeAddDel(req: VppFields): VppFields {
    const route = req.route as VppFields;
    const tableId = route.table_id as number;
    if (tableId !== 0) return { retval: SimErrors.NO_SUCH_FIB, stats_index: 0 };
    const paths: SimPath[] = [];
    for (const p of route.paths as VppFields[]) {
      const swIfIndex = p.sw_if_index as number;
      if (swIfIndex !== ALL_ONES && !this.interfaces.has(swIfIndex)) return { retval: SimErrors.INVALID_SW_IF_INDEX, stats_index: 0 };
      paths.push(decodePath(p));
    }
    const prefix = canonicalCidr(route.prefix as string);
    const key = routeKey(tableId, prefix);
    const existing = this.routes.get(key);
    if (req.is_add) {
      const r = existing ?? { tableId, prefix, paths: [], statsIndex: this.nextStatsIndex++ };
      r.paths = req.is_multipath ? [...r.paths, ...paths.filter((p) => !r.paths.some((q) => samePath(p, q)))] : paths;
      this.routes.set(key, r);
      return { retval: 0, stats_index: r.statsIndex };
    }
    if (existing) {
      existing.paths = req.is_multipath ? existing.paths.filter((q) => !paths.some((p) => samePath(p, q))) : [];
      if (existing.paths.length === 0) this.routes.delete(key);
    }
    return { retval: 0, stats_index: 0 };
  }

  /** Only the routes added through the API (not VPP's own connected and special entries). */
  private routeDump(req: VppFields, out: SimOutput): undefined {
    const table = req.table as VppFields;
    for (const r of this.routes.values()) {
      if (r.tableId !== table.table_id || r.prefix.includes(':') !== Boolean(table.is_ip6)) continue;
      out.send('ip_route_details', {
        route: {
          table_id: r.tableId,
          stats_index: r.statsIndex,
          prefix: r.prefix,
          paths: r.paths.map((p) => ({
            sw_if_index: p.swIfIndex,
            table_id: p.tableId,
            weight: p.weight,
            preference: p.preference,
            type: p.type,
            flags: p.flags,
            proto: p.proto,
            nh: p.nextHop === null ? undefined : { address: p.proto === 1 ? { ip6: p.nextHop } : { ip4: p.nextHop } },
          })),
        },
      });
    }
    return undefined;
  }

  // --- Taps -------------------------------------------------------------------------------------

  private tapCreate(req: VppFields): VppFields {
    let id = req.id as number;
    if (id === ALL_ONES) {
      id = 0;
      while (this.tapIds.has(id)) id++;
    } else if (this.tapIds.has(id)) {
      return { retval: SimErrors.IF_ALREADY_EXISTS, sw_if_index: ALL_ONES };
    }
    this.tapIds.add(id);
    const i = this.addInterface({ name: `tap${id}`, devType: 'virtio' });
    i.tap = {
      id,
      flags: req.tap_flags as number,
      hostIfName: req.host_if_name_set ? (req.host_if_name as string) : `tap${id}`,
      hostNamespace: req.host_namespace_set ? (req.host_namespace as string) : '',
      hostIp4Prefix: req.host_ip4_prefix_set ? (req.host_ip4_prefix as string) : null,
      hostIp6Prefix: req.host_ip6_prefix_set ? (req.host_ip6_prefix as string) : null,
      hostMtu: req.host_mtu_set ? (req.host_mtu_size as number) : 1500,
    };
    return { retval: 0, sw_if_index: i.swIfIndex };
  }

  private tapDelete(req: VppFields): VppFields {
    const i = this.valid(req.sw_if_index);
    if (!i?.tap) return { retval: SimErrors.INVALID_SW_IF_INDEX };
    this.tapIds.delete(i.tap.id);
    this.deleteInterface(i);
    return { retval: 0 };
  }

  private tapDump(req: VppFields, out: SimOutput): undefined {
    for (const i of this.interfaces.values()) {
      const t = i.tap;
      if (!t || (req.sw_if_index !== ALL_ONES && req.sw_if_index !== i.swIfIndex)) continue;
      out.send('sw_interface_tap_v2_details', {
        sw_if_index: i.swIfIndex,
        id: t.id,
        tx_ring_sz: 256,
        rx_ring_sz: 256,
        host_mtu_size: t.hostMtu,
        host_ip4_prefix: t.hostIp4Prefix ?? undefined,
        host_ip6_prefix: t.hostIp6Prefix ?? undefined,
        tap_flags: t.flags,
        dev_name: i.name,
        host_if_name: t.hostIfName,
        host_namespace: t.hostNamespace,
      });
    }
    return undefined;
  }
}

function routeKey(tableId: number, prefix: string): string {
  return `${tableId} ${prefix}`;
}

function decodePath(p: VppFields): SimPath {
  const proto = p.proto as number;
  const addr = ((p.nh as VppFields).address as VppFields)[proto === 1 ? 'ip6' : 'ip4'] as string;
  const zero = parseIp(addr).bytes.every((b) => b === 0);
  return {
    swIfIndex: p.sw_if_index as number,
    nextHop: zero ? null : addr,
    proto,
    type: p.type as number,
    flags: p.flags as number,
    weight: p.weight as number,
    preference: p.preference as number,
    tableId: p.table_id as number,
  };
}

function samePath(a: SimPath, b: SimPath): boolean {
  return a.swIfIndex === b.swIfIndex && a.nextHop === b.nextHop && a.type === b.type && a.proto === b.proto;
}

/** An injected failure's reply: the retval, and ~0 where the reply carries a new index. */
function failureReply(name: string, retval: number): VppFields {
  if (name === 'wireguard_peer_add') return { retval, peer_index: ALL_ONES };
  if (name === 'wireguard_interface_create' || name === 'tap_create_v3') return { retval, sw_if_index: ALL_ONES };
  return { retval };
}
