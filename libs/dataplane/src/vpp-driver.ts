import type { Logger } from '@wgmesh/log';
import { parseIp } from '@wgmesh/netaddr';
import {
  ApiDefinitions,
  DEFAULT_API_DIR,
  DEFAULT_SOCKET_PATH,
  INTERFACE_MESSAGES,
  ipRouteAddDel,
  loadDefinitions,
  ROUTE_MESSAGES,
  swInterfaceAddDelAddress,
  swInterfaceSetFlags,
  TAP_MESSAGES,
  VppClient,
  VppConnectionError,
  VppFields,
  wantWireguardPeerEvents,
  WIREGUARD_MESSAGES,
  WIREGUARD_PEER_ESTABLISHED,
  WIREGUARD_PEER_STATUS_DEAD,
  wireguardInterfaceCreate,
  WireguardInterface,
  wireguardInterfaceDump,
  wireguardPeerAdd,
  wireguardPeerRemove,
  wireguardPeersDump,
  checkRetval,
} from '@wgmesh/vpp-api';
import { keyFromBase64, keyToBase64, NoDeviceError, publicKeyFromPrivate } from '@wgmesh/wireguard';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff } from './driver';
import { DEFAULT_MTU, parseInterfaceAddress } from './ip-link';
import { quietLog } from './quiet-log';
import {
  approximateHandshake,
  callFailure,
  canonicalPrefix,
  endpointFields,
  entryFromDump,
  routeNextHop,
  RouteOwners,
  sameAsWanted,
  shortKey,
  SPEC_OWNER,
  toPeerState,
  VppApplyError,
  VppCallFailure,
  VppDeviceMismatchError,
  VppPeerEntry,
  VppPeerWant,
  wantOf,
} from './vpp-model';
import { ensureVppTap, TAP_DUMP_MESSAGES } from './vpp-tap';

export const DEFAULT_VPP_SOCKET = DEFAULT_SOCKET_PATH;
export const DEFAULT_VPP_API_DIR = DEFAULT_API_DIR;
/** Listen port of an interface created without one (VPP needs a port). */
export const DEFAULT_VPP_LISTEN_PORT = 51820;

export interface VppDriverOptions {
  /** VPP's API socket (default /run/vpp/api.sock). */
  vppSocket?: string;
  /** VPP's .api.json directory (default /usr/share/vpp/api). */
  vppApiDir?: string;
  /** Already loaded definitions (then vppApiDir is not read). */
  vppDefinitions?: ApiDefinitions;
  /** Source address of the tunnel's UDP packets (an address of VPP's uplink); needed to create the interface. */
  vppSrcAddress?: string;
  /** Linux netstack interop: name of a tun-mode tap between VPP and the host (see vpp-tap.ts). */
  vppTap?: string;
  /** Network namespace of the host side of the tap (for `ip`); the current one by default. */
  netns?: string;
  /** Requests in flight at once during an apply (default 1024). */
  vppMaxInFlight?: number;
  /** Per request (default 10 s). */
  vppTimeoutMs?: number;
  log?: Logger;
  /** Wall clock in ms (tests). */
  now?: () => number;
}

/** Messages the driver uses (checked at connect: a VPP without the wireguard plugin fails there, by name). */
const REQUIRED = [
  ...WIREGUARD_MESSAGES,
  ...ROUTE_MESSAGES,
  ...INTERFACE_MESSAGES.filter((m) => m.startsWith('sw_interface_set_flags') || m.startsWith('sw_interface_add_del_address')),
  'sw_interface_set_mtu',
  'sw_interface_set_mtu_reply',
  'ip_address_dump',
  'ip_address_details',
  'ip_route_dump',
  'ip_route_details',
];

interface VppInterface {
  swIfIndex: number;
  name: string;
  publicKey: string;
  listenPort: number;
  srcAddress: string;
}

/**
 * VPP's WireGuard plugin over the binary API socket (@wgmesh/vpp-api). VPP has no peer update:
 * a peer whose endpoint, allowed IPs or keepalive change is removed and added again (with a new
 * peer index); unchanged peers are never touched. Every allowed IP gets a route through the wg
 * interface (next hop = the allowed IP), added and removed in step with the peers. Requests are
 * pipelined (up to `vppMaxInFlight` in flight; VPP handles a connection's requests in order, so
 * a remove followed by an add of the same key is safe without waiting). The publicKey → peer
 * index map is rebuilt from a dump on every read() and after a (re)connect; the driver assumes it
 * is the only writer of its interface's peers. Operations run one at a time.
 *
 * Not available from VPP and reported as: latest handshake — approximated from the ESTABLISHED
 * flag (see approximateHandshake); rx/tx bytes — 0.
 */
export class VppDriver implements DataplaneDriver {
  readonly kind = 'vpp' as const;
  private readonly log: Logger;
  private readonly now: () => number;
  private definitions: ApiDefinitions | undefined;
  private client: VppClient | null = null;
  private connecting: Promise<VppClient> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private itf: VppInterface | null = null;
  /** The peer map reflects VPP (dumped on the current connection, no failed call since). */
  private synced = false;
  /** Routes may not match the owners (a failed call): reconcile before the next apply. */
  private routesDirty = true;
  private subscribed = false;
  private specRoutes: string[] = [];
  /** The last ensureDevice spec: finds the interface again after a reconnect, and recreates it after a VPP restart when `create`. */
  private lastSpec: DeviceSpec | null = null;
  private readonly peers = new Map<string, VppPeerEntry>();
  private readonly keyByIndex = new Map<number, string>();
  /** Public key → unix seconds when the driver first saw ESTABLISHED (event or dump). */
  private readonly establishedSince = new Map<string, number>();
  private readonly owners = new RouteOwners();

  constructor(
    readonly device: string,
    private readonly opts: VppDriverOptions = {},
  ) {
    this.log = (opts.log ?? quietLog).child({ driver: 'vpp', device });
    this.now = opts.now ?? Date.now;
  }

  ensureDevice(spec: DeviceSpec): Promise<void> {
    return this.exclusive(() => this.doEnsureDevice(spec));
  }

  read(): Promise<DeviceState> {
    return this.exclusive(() => this.doRead());
  }

  apply(diff: PeerDiff): Promise<void> {
    if (diff.upsert.length === 0 && diff.remove.length === 0) return Promise.resolve();
    return this.exclusive(() => this.doApply(diff));
  }

  /** Leaves VPP as it is; only our event registration and the API connection go. */
  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    const client = this.client;
    this.client = null;
    if (!client || client.closed) return;
    if (this.subscribed && this.itf) {
      // Registrations outlive the connection in VPP and would reach whoever gets our handle next.
      await wantWireguardPeerEvents(client, false, { swIfIndex: this.itf.swIfIndex }).catch((err: Error) => this.log.debug('cannot cancel the event registration', { error: err.message }));
    }
    await client.close().catch((err: Error) => this.log.debug('sockclnt_delete failed', { error: err.message }));
  }

  // --- device -----------------------------------------------------------------------------------

  private async doEnsureDevice(spec: DeviceSpec): Promise<void> {
    const client = await this.api();
    const changed: string[] = [];
    let itf = this.match(await wireguardInterfaceDump(client), spec);
    if (!itf) {
      if (!spec.create) {
        const port = spec.listenPort ? ` or with listen port ${spec.listenPort}` : '';
        throw new NoDeviceError(this.device, `VPP has no WireGuard interface ${this.device}${port}; have it created (--create)`);
      }
      itf = await this.create(client, spec);
      changed.push(`created ${itf.name} (sw_if_index ${itf.swIfIndex})`);
    } else {
      this.checkAdoptable(itf, spec);
    }
    this.itf = itf;
    this.lastSpec = spec;
    const mtu = spec.mtu ?? DEFAULT_MTU;
    await swInterfaceSetFlags(client, itf.swIfIndex, true);
    checkRetval('sw_interface_set_mtu', await client.request('sw_interface_set_mtu', { sw_if_index: itf.swIfIndex, mtu: [mtu, mtu, mtu, mtu] }));
    if (this.opts.vppTap) {
      changed.push(...(await ensureVppTap(client, { hostName: this.opts.vppTap, wgSwIfIndex: itf.swIfIndex, spec, netns: this.opts.netns, log: this.log })));
      this.specRoutes = []; // the --route prefixes go to the host side of the tap
    } else {
      changed.push(...(await this.ensureAddresses(client, itf.swIfIndex, spec.addresses ?? [])));
      this.specRoutes = (spec.routes ?? []).map(canonicalPrefix);
    }
    await this.sync(client);
    changed.push(...(await this.reconcileRoutes(client)));
    this.log[changed.length > 0 ? 'info' : 'debug'](changed.length > 0 ? 'VPP interface configured' : 'VPP interface already as configured', {
      name: itf.name,
      swIfIndex: itf.swIfIndex,
      listenPort: itf.listenPort,
      peers: this.peers.size,
      changed,
    });
  }

  /** By name (wg<N> is VPP's name for instance N), else by listen port. */
  private match(list: WireguardInterface[], spec?: DeviceSpec): VppInterface | null {
    const m = /^wg(\d+)$/.exec(this.device);
    const found = m ? list.find((i) => i.userInstance === Number(m[1])) : spec?.listenPort ? list.find((i) => i.listenPort === spec.listenPort) : undefined;
    if (!found) return null;
    return { swIfIndex: found.swIfIndex, name: `wg${found.userInstance}`, publicKey: keyToBase64(found.publicKey), listenPort: found.listenPort, srcAddress: found.srcAddress };
  }

  private async create(client: VppClient, spec: DeviceSpec): Promise<VppInterface> {
    const src = this.opts.vppSrcAddress;
    if (!src) throw new VppDeviceMismatchError(`cannot create VPP interface ${this.device}: VPP needs the tunnel's source address (--vpp-src-address, an address of VPP's uplink)`);
    const m = /^wg(\d+)$/.exec(this.device);
    const listenPort = spec.listenPort ?? DEFAULT_VPP_LISTEN_PORT;
    const swIfIndex = await wireguardInterfaceCreate(client, {
      privateKey: spec.privateKey,
      generateKey: spec.privateKey === undefined,
      listenPort,
      srcAddress: src,
      userInstance: m ? Number(m[1]) : undefined,
    });
    const [d] = await wireguardInterfaceDump(client, false, swIfIndex);
    if (!d) throw new NoDeviceError(this.device, `VPP created sw_if_index ${swIfIndex} but does not list it`);
    const itf = { swIfIndex, name: `wg${d.userInstance}`, publicKey: keyToBase64(d.publicKey), listenPort: d.listenPort, srcAddress: d.srcAddress };
    if (!m) this.log.info('VPP named the new interface', { device: this.device, name: itf.name });
    return itf;
  }

  /** VPP cannot change an interface's key, port or source address: a different one is an error, not a silent recreate (which would drop every peer). */
  private checkAdoptable(itf: VppInterface, spec: DeviceSpec): void {
    const fix = `VPP cannot change it in place: delete the interface (vppctl wireguard delete ${itf.name}) to have it recreated, or configure what it has`;
    if (spec.privateKey && keyToBase64(publicKeyFromPrivate(spec.privateKey)) !== itf.publicKey) {
      throw new VppDeviceMismatchError(`VPP interface ${itf.name} (sw_if_index ${itf.swIfIndex}) has public key ${itf.publicKey}, not that of the given private key; ${fix}`);
    }
    if (spec.listenPort && spec.listenPort !== itf.listenPort) {
      throw new VppDeviceMismatchError(`VPP interface ${itf.name} (sw_if_index ${itf.swIfIndex}) listens on port ${itf.listenPort}, not ${spec.listenPort}; ${fix}`);
    }
    const src = this.opts.vppSrcAddress;
    if (src && parseIp(src).bytes.join() !== parseIp(itf.srcAddress).bytes.join()) {
      throw new VppDeviceMismatchError(`VPP interface ${itf.name} (sw_if_index ${itf.swIfIndex}) has source address ${itf.srcAddress}, not ${src}; ${fix}`);
    }
    this.log.debug('adopting the VPP interface as it is', { name: itf.name, swIfIndex: itf.swIfIndex });
  }

  private async ensureAddresses(client: VppClient, swIfIndex: number, addresses: string[]): Promise<string[]> {
    if (addresses.length === 0) return [];
    const [v4, v6] = await Promise.all([false, true].map((is_ipv6) => client.dump('ip_address_dump', { sw_if_index: swIfIndex, is_ipv6 })));
    const present = new Set([...v4, ...v6].map((d) => parseInterfaceAddress(d.prefix as string)));
    const changed: string[] = [];
    for (const a of addresses.map(parseInterfaceAddress)) {
      if (present.has(a)) continue;
      await swInterfaceAddDelAddress(client, swIfIndex, a, true);
      changed.push(`address ${a}`);
    }
    return changed;
  }

  // --- read -------------------------------------------------------------------------------------

  private async doRead(): Promise<DeviceState> {
    const client = await this.api();
    const itf = await this.locate(client);
    const [itfs, dump] = await Promise.all([wireguardInterfaceDump(client, false, itf.swIfIndex), wireguardPeersDump(client)]);
    const d = itfs.find((i) => i.swIfIndex === itf.swIfIndex);
    if (!d) {
      this.itf = null;
      throw new NoDeviceError(this.device, `VPP interface ${itf.name} (sw_if_index ${itf.swIfIndex}) is gone`);
    }
    this.rebuild(dump.filter((p) => p.swIfIndex === itf.swIfIndex));
    if (!this.subscribed) await this.subscribe(client);
    const nowSec = Math.floor(this.now() / 1000);
    const peers = [...this.peers.values()]
      .sort((a, b) => a.peerIndex - b.peerIndex)
      .map((e) => toPeerState(e, approximateHandshake(this.establishedSince.get(e.publicKey), nowSec)));
    return { publicKey: keyToBase64(d.publicKey), listenPort: d.listenPort, peers };
  }

  /** The interface: known from ensureDevice, else found by name (read() without ensureDevice, as `wgmesh status` does). */
  private async locate(client: VppClient): Promise<VppInterface> {
    if (this.itf) return this.itf;
    const itf = this.match(await wireguardInterfaceDump(client), this.lastSpec ?? undefined);
    if (!itf && this.lastSpec?.create) {
      // VPP restarted (its configuration is gone): set the interface up again as ensureDevice did.
      this.log.warn('the VPP interface is gone (VPP restarted?); creating it again', { device: this.device });
      await this.doEnsureDevice(this.lastSpec);
      return this.itf as unknown as VppInterface;
    }
    if (!itf) {
      const hint = /^wg\d+$/.test(this.device) ? '' : ' (VPP names its WireGuard interfaces wg<N>)';
      throw new NoDeviceError(this.device, `VPP has no WireGuard interface ${this.device}${hint}`);
    }
    this.itf = itf;
    return itf;
  }

  // --- apply ------------------------------------------------------------------------------------

  private async doApply(diff: PeerDiff): Promise<void> {
    const client = await this.api();
    const itf = await this.locate(client);
    if (!this.synced) await this.sync(client);
    if (this.routesDirty) await this.reconcileRoutes(client);
    const failures: VppCallFailure[] = [];
    const fail = (call: string, what: string) => (err: Error) => void failures.push(callFailure(call, what, err));

    // Phase 1, pipelined in this order: routes of removed prefixes, peer removes, peer adds.
    const phase1: Op[] = [];
    const upserted = new Set(diff.upsert.map((p) => p.publicKey));
    for (const key of new Set(diff.remove)) {
      if (upserted.has(key)) continue; // as diffPeers: an upserted key is kept
      const e = this.peers.get(key);
      if (!e) continue; // not on VPP: nothing to do
      for (const prefix of e.allowedIps) if (this.owners.release(prefix, key)) phase1.push(this.routeOp(client, itf, false, prefix, `removing peer ${shortKey(key)}`, fail));
      phase1.push(this.removeOp(client, e, `removing peer ${shortKey(key)} (peer index ${e.peerIndex})`, fail));
    }
    const adds: Array<{ want: VppPeerWant; ok: boolean }> = [];
    for (const p of new Map(diff.upsert.map((u) => [u.publicKey, u])).values()) {
      const e = this.peers.get(p.publicKey);
      const want = wantOf(p, e);
      if (e && sameAsWanted(e, want)) continue;
      const what = `${e ? 'updating' : 'adding'} peer ${shortKey(p.publicKey)} (endpoint ${want.endpoint ?? 'none'}, allowed ${want.allowedIps.join(',') || 'none'})`;
      if (e) {
        // No peer update in VPP: remove and add. Routes of prefixes the peer keeps stay as they are.
        const keep = new Set(want.allowedIps);
        for (const prefix of e.allowedIps) if (!keep.has(prefix) && this.owners.release(prefix, p.publicKey)) phase1.push(this.routeOp(client, itf, false, prefix, what, fail));
        phase1.push(this.removeOp(client, e, `${what}: removing its old entry (peer index ${e.peerIndex})`, fail));
      }
      const add = { want, ok: false };
      adds.push(add);
      phase1.push({
        run: () =>
          wireguardPeerAdd(client, { swIfIndex: itf.swIfIndex, publicKey: keyFromBase64(want.publicKey), ...endpointFields(want.endpoint), allowedIps: want.allowedIps, persistentKeepalive: want.persistentKeepalive }).then(
            (peerIndex) => {
              this.setEntry({ peerIndex, ...want });
              add.ok = true;
            },
            fail('wireguard_peer_add', what),
          ),
      });
    }
    await pipeline(phase1, this.opts.vppMaxInFlight ?? 1024);
    lostDuring(client, 'the apply');

    // Phase 2: routes of the peers that VPP now has (a failed add gets none).
    const phase2: Op[] = [];
    for (const { want, ok } of adds) {
      if (!ok) continue;
      for (const prefix of want.allowedIps) if (this.owners.acquire(prefix, want.publicKey)) phase2.push(this.routeOp(client, itf, true, prefix, `adding the route of peer ${shortKey(want.publicKey)}`, fail));
    }
    await pipeline(phase2, this.opts.vppMaxInFlight ?? 1024);
    lostDuring(client, 'the apply');
    // The subscription covers the peers that exist when it is made: renew it for the new ones.
    if (adds.some((a) => a.ok)) await this.subscribe(client);

    if (failures.length > 0) {
      // The maps follow the replies, but a failed call leaves VPP in a state we did not plan:
      // dump and reconcile before the next apply.
      this.synced = false;
      this.routesDirty = true;
      throw new VppApplyError(this.device, failures);
    }
  }

  private removeOp(client: VppClient, e: VppPeerEntry, what: string, fail: (call: string, what: string) => (err: Error) => void): Op {
    return {
      run: () =>
        wireguardPeerRemove(client, e.peerIndex).then(
          () => this.deleteEntry(e),
          (err: Error & { retval?: number }) => {
            // -6 NO_SUCH_ENTRY: already gone, which is what a remove wants.
            if (err.retval === -6) {
              this.log.warn('peer already gone from VPP', { peer: shortKey(e.publicKey), peerIndex: e.peerIndex });
              this.deleteEntry(e);
            } else fail('wireguard_peer_remove', what)(err);
          },
        ),
    };
  }

  private routeOp(client: VppClient, itf: VppInterface, isAdd: boolean, prefix: string, what: string, fail: (call: string, what: string) => (err: Error) => void): Op {
    return {
      run: () =>
        ipRouteAddDel(client, { isAdd, prefix, paths: [{ swIfIndex: itf.swIfIndex, nextHop: routeNextHop(prefix) }] }).then(
          () => undefined,
          fail('ip_route_add_del', `${isAdd ? 'adding' : 'removing'} route ${prefix} via ${itf.name} (${what})`),
        ),
    };
  }

  // --- peer map, events, routes -----------------------------------------------------------------

  /** Dumps the peers and rebuilds the maps; subscribes to their events. */
  private async sync(client: VppClient): Promise<void> {
    const itf = await this.locate(client);
    this.rebuild((await wireguardPeersDump(client)).filter((p) => p.swIfIndex === itf.swIfIndex));
    await this.subscribe(client);
  }

  private rebuild(dump: Awaited<ReturnType<typeof wireguardPeersDump>>): void {
    this.peers.clear();
    this.keyByIndex.clear();
    this.owners.clear();
    const nowSec = Math.floor(this.now() / 1000);
    const present = new Set<string>();
    for (const p of dump) {
      const e = entryFromDump(p);
      present.add(e.publicKey);
      this.setEntry(e);
      for (const prefix of e.allowedIps) this.owners.acquire(prefix, e.publicKey);
      if (p.established) {
        if (!this.establishedSince.has(e.publicKey)) this.establishedSince.set(e.publicKey, nowSec);
      } else this.establishedSince.delete(e.publicKey);
    }
    for (const key of [...this.establishedSince.keys()]) if (!present.has(key)) this.establishedSince.delete(key);
    for (const r of this.specRoutes) this.owners.acquire(r, SPEC_OWNER);
    this.synced = true;
  }

  /** Route owners are not touched here: rebuild() and apply's phase 2 take them. */
  private setEntry(e: VppPeerEntry): void {
    this.peers.set(e.publicKey, e);
    this.keyByIndex.set(e.peerIndex, e.publicKey);
  }

  /** After a successful remove; the owners were released when the remove was planned. */
  private deleteEntry(e: VppPeerEntry): void {
    if (this.peers.get(e.publicKey)?.peerIndex === e.peerIndex) this.peers.delete(e.publicKey);
    if (this.keyByIndex.get(e.peerIndex) === e.publicKey) this.keyByIndex.delete(e.peerIndex);
    this.establishedSince.delete(e.publicKey);
  }

  private async subscribe(client: VppClient): Promise<void> {
    const itf = await this.locate(client);
    await wantWireguardPeerEvents(client, true, { swIfIndex: itf.swIfIndex });
    this.subscribed = true;
  }

  private onEvent(f: VppFields): void {
    const key = this.keyByIndex.get(f.peer_index as number);
    if (key === undefined) return; // another interface's peer, or one removed already
    const flags = f.flags as number;
    if ((flags & WIREGUARD_PEER_ESTABLISHED) !== 0 && (flags & WIREGUARD_PEER_STATUS_DEAD) === 0) {
      if (!this.establishedSince.has(key)) this.establishedSince.set(key, Math.floor(this.now() / 1000));
    } else {
      this.establishedSince.delete(key);
    }
    this.log.debug('peer event', { peer: shortKey(key), peerIndex: f.peer_index, flags });
  }

  /**
   * Makes VPP's routes through our interface match the owners (peers' allowed IPs, --route
   * prefixes): adds missing ones, removes ours (one path via our interface, next hop = the
   * prefix's address) that nothing needs. Other routes through the interface are left alone.
   */
  private async reconcileRoutes(client: VppClient): Promise<string[]> {
    const itf = await this.locate(client);
    const wanted = this.owners.prefixes();
    const dumps = await Promise.all([false, true].map((is_ip6) => client.dump('ip_route_dump', { table: { table_id: 0, is_ip6 } })));
    const ours = new Set<string>();
    for (const d of dumps.flat()) {
      const route = d.route as VppFields;
      const paths = route.paths as VppFields[];
      const prefix = route.prefix as string;
      if (paths.length !== 1 || paths[0].sw_if_index !== itf.swIfIndex) continue;
      const nh = (((paths[0].nh as VppFields).address as VppFields)[(paths[0].proto as number) === 1 ? 'ip6' : 'ip4'] as string) ?? '';
      if (nh === routeNextHop(prefix)) ours.add(prefix);
    }
    const failures: VppCallFailure[] = [];
    const fail = (call: string, what: string) => (err: Error) => void failures.push(callFailure(call, what, err));
    const ops: Op[] = [];
    const changed: string[] = [];
    for (const prefix of wanted) {
      if (ours.has(prefix)) continue;
      ops.push(this.routeOp(client, itf, true, prefix, 'repairing a missing route', fail));
      changed.push(`route ${prefix} added`);
    }
    for (const prefix of ours) {
      if (this.owners.has(prefix)) continue;
      ops.push(this.routeOp(client, itf, false, prefix, 'removing a route no peer needs', fail));
      changed.push(`route ${prefix} removed`);
    }
    await pipeline(ops, this.opts.vppMaxInFlight ?? 1024);
    if (failures.length > 0) throw new VppApplyError(this.device, failures);
    if (changed.length > 0) this.log.warn('VPP routes did not match the peers; repaired', { changed: changed.slice(0, 20), count: changed.length });
    this.routesDirty = false;
    return changed;
  }

  // --- connection -------------------------------------------------------------------------------

  /**
   * One operation at a time. One that fails because the connection was lost (VPP restarted, or
   * the socket broke while idle) runs once more on a new connection: every operation starts from
   * VPP's state (a dump after a reconnect), so running it again is safe.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const once = async () => {
      const reused = this.client !== null && !this.client.closed;
      try {
        return await fn();
      } catch (err) {
        // A fresh connection that fails (VPP not running) is not retried.
        if (!(err instanceof VppConnectionError) || !reused) throw err;
        this.log.warn('VPP API connection lost; trying again on a new connection', { error: err.message });
        this.client?.destroy(err);
        return fn();
      }
    };
    const run = this.queue.then(once, once);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async api(): Promise<VppClient> {
    if (this.client && !this.client.closed) return this.client;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connect(): Promise<VppClient> {
    this.definitions ??= this.opts.vppDefinitions ?? loadDefinitions(this.opts.vppApiDir ?? DEFAULT_VPP_API_DIR);
    const client = await VppClient.connect({
      socketPath: this.opts.vppSocket ?? DEFAULT_VPP_SOCKET,
      definitions: this.definitions,
      name: `wgmesh-${this.device}`,
      requestTimeoutMs: this.opts.vppTimeoutMs ?? 10_000,
      require: this.opts.vppTap ? [...REQUIRED, ...TAP_MESSAGES, ...TAP_DUMP_MESSAGES] : REQUIRED,
      // Registered before the first frame: after a reconnect VPP may send events of an earlier
      // registration of the same handle.
      on: { wireguard_peer_event: (f) => this.onEvent(f) },
    });
    client.onError((err) => this.log.warn('VPP API', { error: err.message }));
    client.onClose((err) => {
      if (this.client !== client) return;
      this.client = null;
      // A new connection (maybe a restarted VPP): dump again, subscribe again, check the routes.
      this.synced = false;
      this.subscribed = false;
      this.routesDirty = true;
      this.itf = null;
      if (err) this.log.warn('VPP API connection lost', { error: err.message });
    });
    this.client = client;
    return client;
  }
}

/** The connection went away during a batch of calls: their failures are the connection's, not VPP's answers. */
function lostDuring(client: VppClient, what: string): void {
  if (client.closed) throw new VppConnectionError(`the VPP API connection was lost during ${what}`);
}

interface Op {
  /** Sends the request (now, in call order) and resolves when its reply is handled. */
  run: () => Promise<void>;
}

/** Runs ops in order with at most `max` in flight; every op handles its own failure. */
async function pipeline(ops: Op[], max: number): Promise<void> {
  if (ops.length === 0) return;
  await new Promise<void>((resolve) => {
    let next = 0;
    let active = 0;
    const pump = () => {
      while (active < max && next < ops.length) {
        const op = ops[next++];
        active++;
        op.run().then(done, done);
      }
    };
    const done = () => {
      active--;
      if (next >= ops.length && active === 0) resolve();
      else pump();
    };
    pump();
  });
}
