import { SerialQueue } from '@wgmesh/serial-queue';
import type { Logger } from '@wgmesh/log';
import { canonicalCidr, parseIp } from '@wgmesh/netaddr';
import {
  ApiDefinitions,
  checkRetval,
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
} from '@wgmesh/vpp-api';
import { keyFromBase64, keyToBase64, NoDeviceError, publicKeyFromPrivate } from '@wgmesh/wireguard';
import type { DataplaneDriver, DeviceSpec, DeviceState, PeerDiff, RecreatedPeer } from './driver';
import { DEFAULT_MTU, parseInterfaceAddress } from './ip-link';
import { quietLog } from './quiet-log';
import { ensureHostInterface, HOST_INTERFACE_MESSAGES, hostPrefix } from './vpp-host';
import {
  approximateHandshake,
  callFailure,
  canonicalPrefix,
  endpointFields,
  entryFromDump,
  familyOf,
  neededFamilies,
  NextHopFamily,
  NextHopPool,
  NextHops,
  overlapsNextHops,
  routeNextHop,
  RouteOwners,
  sameAsWanted,
  shortKey,
  SPEC_OWNER,
  toPeerState,
  VppApplyError,
  VppCallFailure,
  VppDeviceMismatchError,
  vppAllowedIps,
  VppPeerEntry,
  VppPeerWant,
  wantOf,
  nextHopFamily,
} from './vpp-model';

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
  /** The host's interface into VPP, of this name: a tap or a veth pair, chosen automatically (see vpp-host.ts). */
  vppHostInterface?: string;
  /** Tests: whether /dev/vhost-net exists, which decides tap or veth (default: look). */
  vppVhostNet?: boolean;
  /** Network namespace of the host side of that interface (for `ip`); the current one by default. */
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

/** One peer to put on VPP in a batch: added, or removed and added again (VPP has no peer update). */
interface Upsert {
  want: VppPeerWant;
  /** Re-create it even when VPP has it as wanted (a punch or poke: VPP then sends a handshake initiation). */
  recreate: boolean;
  what: string;
}

/**
 * VPP's WireGuard plugin over the binary API socket (@wgmesh/vpp-api). VPP has no peer update:
 * a peer whose endpoint, allowed IPs or keepalive change is removed and added again (with a new
 * peer index); unchanged peers are never touched. Every allowed IP gets a route through the wg
 * interface via the peer's own next-hop address (see NEXT_HOP_BLOCKS in vpp-model.ts: VPP binds
 * a next hop to the first peer that covers it, not the most specific one), so the registry's
 * mesh-wide prefix never captures a direct peer's traffic and a re-added peer keeps its routes.
 * Requests are pipelined (up to `vppMaxInFlight` in flight; VPP handles a connection's requests
 * in order, so a remove followed by an add of the same key is safe without waiting). The
 * publicKey → peer index map is rebuilt from a dump on every read() and after a (re)connect; the
 * driver assumes it is the only writer of its interface's peers. Operations run one at a time.
 *
 * A peer added to an interface that is up makes VPP send it a handshake initiation 10–330 ms
 * later (wg_timers_send_first_handshake): that is how this driver punches (recreatePeers) and
 * pokes (VPP cannot send a keepalive on demand; a poked peer is re-created, which starts a new
 * session).
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
  private readonly queue = new SerialQueue();

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
  private readonly nextHops = new NextHopPool();

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
    if (diff.upsert.length === 0 && diff.remove.length === 0 && !diff.poke?.length) return Promise.resolve();
    return this.exclusive(() => this.doApply(diff));
  }

  /**
   * Each entry's peer removed and added again, in one pipelined batch: VPP sends each a handshake
   * initiation. A peer whose session is established is left as it is (its handshake happened).
   */
  recreatePeers(entries: readonly RecreatedPeer[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.exclusive(() =>
      this.doApply({
        upsert: [],
        remove: [],
        recreate: entries.map((e) => ({ publicKey: e.publicKey, endpoint: e.endpoint, allowedIps: e.allowedIps, persistentKeepalive: e.persistentKeepalive })),
      }),
    );
  }

  /** Leaves VPP as it is; only our event registration and the API connection go. */
  async close(): Promise<void> {
    await this.queue.idle();
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
    if (this.opts.vppHostInterface) {
      const host = await ensureHostInterface(client, { name: this.opts.vppHostInterface, wgSwIfIndex: itf.swIfIndex, spec, netns: this.opts.netns, log: this.log, vhostNet: this.opts.vppVhostNet });
      changed.push(...host.changed);
      this.specRoutes = []; // the --route prefixes go to the host side
    } else {
      changed.push(...(await this.ensureAddresses(client, itf.swIfIndex, spec.addresses ?? [])));
      this.specRoutes = (spec.routes ?? []).map(canonicalPrefix);
    }
    await this.sync(client);
    // Peers an older version of this driver added have no next hops of their own: re-added with them.
    const renew = [...this.peers.values()].filter((e) => neededFamilies(e.allowedIps).some((f) => e.nextHops[f] === undefined)).map((e) => e.publicKey);
    if (renew.length > 0) {
      await this.doApply({ upsert: [], remove: [], renew });
      changed.push(`${renew.length} peer(s) given next hops of their own (re-added)`);
    }
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

  /**
   * The tunnel addresses go on the wg interface as host addresses ("10.99.0.5/32", whatever
   * prefix length is given): VPP makes an interface's subnet a connected "glean" route, which on
   * a wg interface (no ARP) drops everything for the subnet that no more specific route takes,
   * the relay included. The same address with another length (an older setup) is replaced.
   */
  private async ensureAddresses(client: VppClient, swIfIndex: number, addresses: string[]): Promise<string[]> {
    if (addresses.length === 0) return [];
    const [v4, v6] = await Promise.all([false, true].map((is_ipv6) => client.dump('ip_address_dump', { sw_if_index: swIfIndex, is_ipv6 })));
    const present = [...v4, ...v6].map((d) => parseInterfaceAddress(d.prefix as string));
    const changed: string[] = [];
    for (const a of addresses.map((x) => hostPrefix(parseInterfaceAddress(x)))) {
      if (present.includes(a)) continue;
      for (const other of present.filter((p) => p.split('/')[0] === a.split('/')[0])) {
        await swInterfaceAddDelAddress(client, swIfIndex, other, false);
        changed.push(`address ${other} removed`);
      }
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

  /**
   * `recreate`: punches (recreatePeers). `renew`: peers re-added as they are (their next hops
   * given to them: peers an older version of this driver added).
   */
  private async doApply(diff: PeerDiff & { recreate?: RecreatedPeer[]; renew?: string[] }): Promise<void> {
    const client = await this.api();
    const itf = await this.locate(client);
    if (!this.synced) await this.sync(client);
    if (this.routesDirty) await this.reconcileRoutes(client);
    const failures: VppCallFailure[] = [];
    const fail = (call: string, what: string) => (err: Error) => void failures.push(callFailure(call, what, err));

    const upserts: Upsert[] = [];
    const upserted = new Set<string>();
    for (const p of new Map(diff.upsert.map((u) => [u.publicKey, u])).values()) {
      const e = this.peers.get(p.publicKey);
      const want = this.checkWant(wantOf(p, e));
      upserted.add(p.publicKey);
      if (e && sameAsWanted(e, want)) continue;
      upserts.push({ want, recreate: false, what: `${e ? 'updating' : 'adding'} peer ${shortKey(p.publicKey)} (endpoint ${want.endpoint ?? 'none'}, allowed ${want.allowedIps.join(',') || 'none'})` });
    }
    // A poke: VPP cannot send a keepalive on demand, but a peer added again sends a handshake initiation.
    const again = [...(diff.poke ?? []).map((p) => [p.publicKey, 'poking'] as const), ...(diff.renew ?? []).map((k) => [k, 'giving its next hops to'] as const)];
    for (const [publicKey, why] of again) {
      const e = this.peers.get(publicKey);
      if (!e || upserted.has(publicKey)) continue;
      upserted.add(publicKey);
      upserts.push({ want: { publicKey, endpoint: e.endpoint, allowedIps: e.allowedIps, persistentKeepalive: e.persistentKeepalive }, recreate: true, what: `${why} peer ${shortKey(publicKey)} (re-created)` });
    }
    // VPP sends a new peer's first initiation 10–330 ms after the add: of several re-creations of
    // one peer in a batch only the last is ever sent, so only the last is made.
    for (const r of new Map((diff.recreate ?? []).map((x) => [x.publicKey, x])).values()) {
      if (upserted.has(r.publicKey)) continue;
      // A punch is for a handshake: one that happened already (the other end's initiation got
      // through, and VPP roamed to where it came from) is not undone by a re-creation.
      if (this.establishedSince.has(r.publicKey) && this.peers.has(r.publicKey)) {
        this.log.debug('not punching an established peer', { peer: shortKey(r.publicKey) });
        continue;
      }
      upserted.add(r.publicKey);
      const want = this.checkWant(wantOf({ publicKey: r.publicKey, endpoint: r.endpoint, allowedIps: r.allowedIps, persistentKeepalive: r.persistentKeepalive }, undefined));
      upserts.push({ want, recreate: true, what: `punching peer ${shortKey(r.publicKey)} (endpoint ${r.endpoint})` });
    }

    // Phase 1, pipelined in this order: routes of removed prefixes, peer removes, peer adds.
    const phase1: Op[] = [];
    for (const key of new Set(diff.remove)) {
      if (upserted.has(key)) continue; // as diffPeers: an upserted key is kept
      const e = this.peers.get(key);
      if (!e) continue; // not on VPP: nothing to do
      this.releaseRoutes(client, itf, e, new Set(), `removing peer ${shortKey(key)}`, phase1, fail);
      phase1.push(this.removeOp(client, e, `removing peer ${shortKey(key)} (peer index ${e.peerIndex})`, fail, true));
    }
    const adds: Array<{ want: VppPeerWant; nextHops: NextHops; ok: boolean; fresh: NextHopFamily[] }> = [];
    for (const u of upserts) {
      const e = this.peers.get(u.want.publicKey);
      const nextHops: NextHops = { ...e?.nextHops };
      const fresh: NextHopFamily[] = [];
      for (const f of neededFamilies(u.want.allowedIps)) {
        if (nextHops[f] !== undefined) continue;
        nextHops[f] = this.nextHops.take(f);
        fresh.push(f);
      }
      if (e) {
        // No peer update in VPP: remove and add. Routes of prefixes the peer keeps stay as they are.
        this.releaseRoutes(client, itf, e, new Set(u.want.allowedIps), u.what, phase1, fail);
        phase1.push(this.removeOp(client, e, `${u.what}: removing its old entry (peer index ${e.peerIndex})`, fail, false));
      }
      const add = { want: u.want, nextHops, ok: false, fresh };
      adds.push(add);
      const allowedIps = vppAllowedIps(u.want.allowedIps, nextHops);
      phase1.push({
        run: () =>
          wireguardPeerAdd(client, { swIfIndex: itf.swIfIndex, publicKey: keyFromBase64(u.want.publicKey), ...endpointFields(u.want.endpoint), allowedIps, persistentKeepalive: u.want.persistentKeepalive }).then(
            (peerIndex) => {
              this.setEntry({ peerIndex, ...u.want, nextHops });
              add.ok = true;
            },
            fail('wireguard_peer_add', u.what),
          ),
      });
    }
    await pipeline(phase1, this.opts.vppMaxInFlight ?? 1024);
    lostDuring(client, 'the apply');

    // Phase 2: routes of the peers that VPP now has (a failed add gets none), via their next hops.
    const phase2: Op[] = [];
    for (const { want, nextHops, ok, fresh } of adds) {
      if (!ok) {
        for (const f of fresh) this.nextHops.release(f, nextHops[f]!);
        continue;
      }
      for (const prefix of want.allowedIps) {
        const first = this.owners.acquire(prefix, want.publicKey);
        // A route the peer had before it got its next hop (an older driver's) is pointed at it.
        const repoint = !first && fresh.includes(familyOf(prefix)) && this.owners.primary(prefix) === want.publicKey;
        if (first || repoint) phase2.push(this.routeOp(client, itf, true, prefix, nextHops[familyOf(prefix)]!, `adding the route of peer ${shortKey(want.publicKey)}`, fail));
      }
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

  /** Refuses allowed IPs inside the next-hop blocks (the driver could not tell them from next hops). */
  private checkWant(want: VppPeerWant): VppPeerWant {
    const bad = want.allowedIps.find(overlapsNextHops);
    if (bad) throw new VppApplyError(this.device, [{ call: 'wireguard_peer_add', retval: null, code: null, what: `peer ${shortKey(want.publicKey)}`, message: `allowed IP ${bad} of peer ${shortKey(want.publicKey)} overlaps 198.18.0.0/15 or 2001:2::/48, which the vpp driver keeps for next hops; nothing was changed` }]);
    return want;
  }

  /** Queues the route changes of `e` giving up its prefixes (except `keep`): removed, or moved to the next owner's next hop. */
  private releaseRoutes(client: VppClient, itf: VppInterface, e: VppPeerEntry, keep: Set<string>, what: string, ops: Op[], fail: (call: string, what: string) => (err: Error) => void): void {
    for (const prefix of e.allowedIps) {
      if (keep.has(prefix)) continue;
      const change = this.owners.release(prefix, e.publicKey);
      if (change === 'removed') ops.push(this.routeOp(client, itf, false, prefix, e.nextHops[familyOf(prefix)] ?? routeNextHop(prefix), what, fail));
      if (change === 'moved') ops.push(this.routeOp(client, itf, true, prefix, this.nextHopOf(prefix), `${what}: another peer takes ${prefix}`, fail));
    }
  }

  /** The next hop of the route to `prefix`: its first owner's (a device route's: the prefix's own address). */
  private nextHopOf(prefix: string): string {
    const owner = this.owners.primary(prefix);
    const e = owner === undefined || owner === SPEC_OWNER ? undefined : this.peers.get(owner);
    return e?.nextHops[familyOf(prefix)] ?? routeNextHop(prefix);
  }

  private removeOp(client: VppClient, e: VppPeerEntry, what: string, fail: (call: string, what: string) => (err: Error) => void, forGood: boolean): Op {
    const gone = () => {
      this.deleteEntry(e);
      if (forGood) for (const [f, a] of Object.entries(e.nextHops) as Array<[NextHopFamily, string]>) this.nextHops.release(f, a);
    };
    return {
      run: () =>
        wireguardPeerRemove(client, e.peerIndex).then(gone, (err: Error & { retval?: number }) => {
          // -6 NO_SUCH_ENTRY: already gone, which is what a remove wants.
          if (err.retval === -6) {
            this.log.warn('peer already gone from VPP', { peer: shortKey(e.publicKey), peerIndex: e.peerIndex });
            gone();
          } else fail('wireguard_peer_remove', what)(err);
        }),
    };
  }

  private routeOp(client: VppClient, itf: VppInterface, isAdd: boolean, prefix: string, nextHop: string, what: string, fail: (call: string, what: string) => (err: Error) => void): Op {
    return {
      run: () =>
        ipRouteAddDel(client, { isAdd, prefix, paths: [{ swIfIndex: itf.swIfIndex, nextHop }] }).then(
          () => undefined,
          fail('ip_route_add_del', `${isAdd ? 'adding' : 'removing'} route ${prefix} via ${nextHop} ${itf.name} (${what})`),
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
    this.nextHops.clear();
    const nowSec = Math.floor(this.now() / 1000);
    const present = new Set<string>();
    for (const p of dump) {
      const e = entryFromDump(p);
      present.add(e.publicKey);
      this.setEntry(e);
      for (const [f, a] of Object.entries(e.nextHops) as Array<[NextHopFamily, string]>) this.nextHops.hold(f, a);
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
   * Makes VPP's routes through our interface match the owners (peers' allowed IPs via their next
   * hops, --route prefixes via their own address): adds missing ones, re-points ours that go
   * elsewhere, removes ours that nothing needs. Ours: one normal path via our interface whose next
   * hop is one of our next-hop addresses, or the prefix's own address (a device route, or a route
   * of an older version of this driver). VPP's own entries (local, connected) and other routes
   * through the interface are left alone. Dumped prefixes are compared canonically (VPP may
   * return host bits: "10.99.0.4/16").
   */
  private async reconcileRoutes(client: VppClient): Promise<string[]> {
    const itf = await this.locate(client);
    const dumps = await Promise.all([false, true].map((is_ip6) => client.dump('ip_route_dump', { table: { table_id: 0, is_ip6 } })));
    const ours = new Map<string, string>();
    for (const d of dumps.flat()) {
      const route = d.route as VppFields;
      const paths = route.paths as VppFields[];
      if (paths.length !== 1 || paths[0].sw_if_index !== itf.swIfIndex || paths[0].type !== 0) continue;
      const prefix = canonicalCidr(route.prefix as string);
      const nh = (((paths[0].nh as VppFields).address as VppFields)[(paths[0].proto as number) === 1 ? 'ip6' : 'ip4'] as string) ?? '';
      const host = nh.includes(':') ? `${nh}/128` : `${nh}/32`;
      if (nextHopFamily(host) !== null || nh === routeNextHop(prefix)) ours.set(prefix, nh);
    }
    const failures: VppCallFailure[] = [];
    const fail = (call: string, what: string) => (err: Error) => void failures.push(callFailure(call, what, err));
    const ops: Op[] = [];
    const changed: string[] = [];
    for (const prefix of this.owners.prefixes()) {
      const nh = this.nextHopOf(prefix);
      if (ours.get(prefix) === nh) continue;
      ops.push(this.routeOp(client, itf, true, prefix, nh, 'repairing a missing route', fail));
      changed.push(`route ${prefix} via ${nh}`);
    }
    for (const [prefix, nh] of ours) {
      if (this.owners.has(prefix)) continue;
      ops.push(this.routeOp(client, itf, false, prefix, nh, 'removing a route no peer needs', fail));
      changed.push(`route ${prefix} via ${nh} removed`);
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
    return this.queue.run(once);
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
      require: this.opts.vppHostInterface ? [...REQUIRED, ...HOST_INTERFACE_MESSAGES, ...TAP_MESSAGES] : REQUIRED,
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
