import type { VppApi, VppEvents } from './client';
import type { VppFields } from './codec';
import { VppEncodeError } from './errors';
import { checkRetval } from './retval';

/** ~0: "any"/"none" for u32 indexes. */
export const ALL_ONES = 0xffffffff;

/** wireguard_peer_flags bits (the event's `flags` is the whole set after the change). */
export const WIREGUARD_PEER_STATUS_DEAD = 1;
export const WIREGUARD_PEER_ESTABLISHED = 2;

export interface WireguardInterfaceCreate {
  /** Raw 32 bytes (not base64). Omit with generateKey to let VPP make one. */
  privateKey?: Uint8Array;
  listenPort: number;
  /** Source address of the tunnel's UDP packets (an address VPP owns). */
  srcAddress: string;
  generateKey?: boolean;
  /** wgN instance; ~0 (default) lets VPP choose. */
  userInstance?: number;
}

export interface WireguardInterface {
  userInstance: number;
  swIfIndex: number;
  /** 32 zero bytes unless dumped with showPrivateKey. */
  privateKey: Buffer;
  publicKey: Buffer;
  listenPort: number;
  srcAddress: string;
}

export interface WireguardPeerAdd {
  swIfIndex: number;
  publicKey: Uint8Array;
  /** "0.0.0.0" (the default) with port 0: no endpoint yet (accepted by VPP). */
  endpoint?: string;
  port?: number;
  /** Prefixes ("10.100.0.2/32"); VPP refuses an empty list (-7 INVALID_VALUE). */
  allowedIps: readonly string[];
  persistentKeepalive?: number;
  /** FIB table in which the endpoint is reachable. */
  tableId?: number;
}

export interface WireguardPeer {
  peerIndex: number;
  publicKey: Buffer;
  endpoint: string;
  port: number;
  persistentKeepalive: number;
  tableId: number;
  swIfIndex: number;
  flags: number;
  established: boolean;
  dead: boolean;
  allowedIps: string[];
}

export interface WireguardPeerEvent {
  peerIndex: number;
  flags: number;
  established: boolean;
  dead: boolean;
}

/** Every message the WireGuard calls below use: pass as `require` to VppClient.connect to fail early. */
export const WIREGUARD_MESSAGES = [
  'wireguard_interface_create',
  'wireguard_interface_create_reply',
  'wireguard_interface_delete',
  'wireguard_interface_delete_reply',
  'wireguard_interface_dump',
  'wireguard_interface_details',
  'wireguard_peer_add',
  'wireguard_peer_add_reply',
  'wireguard_peer_remove',
  'wireguard_peer_remove_reply',
  'wireguard_peers_dump',
  'wireguard_peers_details',
  'want_wireguard_peer_events',
  'want_wireguard_peer_events_reply',
  'wireguard_peer_event',
] as const;

/** Creates a wg interface (admin down); returns its sw_if_index. */
export async function wireguardInterfaceCreate(api: VppApi, opts: WireguardInterfaceCreate): Promise<number> {
  const call = 'wireguard_interface_create';
  if (opts.privateKey !== undefined) key(call, 'privateKey', opts.privateKey);
  else if (!opts.generateKey) throw new VppEncodeError(call, 'privateKey', 'required unless generateKey is set');
  const reply = await api.request(call, {
    interface: {
      user_instance: opts.userInstance ?? ALL_ONES,
      private_key: opts.privateKey,
      port: opts.listenPort,
      src_ip: opts.srcAddress,
    },
    generate_key: opts.generateKey ?? false,
  });
  return checkRetval(call, reply).sw_if_index as number;
}

export async function wireguardInterfaceDelete(api: VppApi, swIfIndex: number): Promise<void> {
  checkRetval('wireguard_interface_delete', await api.request('wireguard_interface_delete', { sw_if_index: swIfIndex }));
}

/** Every wg interface (or one, by swIfIndex). Private keys are zeros unless showPrivateKey. */
export async function wireguardInterfaceDump(api: VppApi, showPrivateKey = false, swIfIndex = ALL_ONES): Promise<WireguardInterface[]> {
  const details = await api.dump('wireguard_interface_dump', { show_private_key: showPrivateKey, sw_if_index: swIfIndex });
  return details.map((d) => {
    const i = d.interface as VppFields;
    return {
      userInstance: i.user_instance as number,
      swIfIndex: i.sw_if_index as number,
      privateKey: i.private_key as Buffer,
      publicKey: i.public_key as Buffer,
      listenPort: i.port as number,
      srcAddress: i.src_ip as string,
    };
  });
}

/** Adds a peer with the deprecated-but-stable wireguard_peer_add (the _v2 one is in_progress); returns the peer index. */
export async function wireguardPeerAdd(api: VppApi, peer: WireguardPeerAdd): Promise<number> {
  const call = 'wireguard_peer_add';
  key(call, 'publicKey', peer.publicKey);
  const reply = await api.request(call, {
    peer: {
      public_key: peer.publicKey,
      port: peer.port ?? 0,
      persistent_keepalive: peer.persistentKeepalive ?? 0,
      table_id: peer.tableId ?? 0,
      endpoint: peer.endpoint ?? '0.0.0.0',
      sw_if_index: peer.swIfIndex,
      allowed_ips: [...peer.allowedIps],
    },
  });
  return checkRetval(call, reply).peer_index as number;
}

export async function wireguardPeerRemove(api: VppApi, peerIndex: number): Promise<void> {
  checkRetval('wireguard_peer_remove', await api.request('wireguard_peer_remove', { peer_index: peerIndex }));
}

/** Every peer of every wg interface (or one, by peerIndex), with its status flags. */
export async function wireguardPeersDump(api: VppApi, peerIndex = ALL_ONES): Promise<WireguardPeer[]> {
  const details = await api.dump('wireguard_peers_dump', { peer_index: peerIndex });
  return details.map((d) => {
    const p = d.peer as VppFields;
    const flags = p.flags as number;
    return {
      peerIndex: p.peer_index as number,
      publicKey: p.public_key as Buffer,
      endpoint: p.endpoint as string,
      port: p.port as number,
      persistentKeepalive: p.persistent_keepalive as number,
      tableId: p.table_id as number,
      swIfIndex: p.sw_if_index as number,
      flags,
      established: (flags & WIREGUARD_PEER_ESTABLISHED) !== 0,
      dead: (flags & WIREGUARD_PEER_STATUS_DEAD) !== 0,
      allowedIps: p.allowed_ips as string[],
    };
  });
}

/**
 * (Un)registers for wireguard_peer_event. VPP registers the peers that exist at that moment
 * only, so call it again after adding peers (it is idempotent per client).
 */
export async function wantWireguardPeerEvents(
  api: VppApi,
  enable: boolean,
  opts: { swIfIndex?: number; peerIndex?: number; pid?: number } = {},
): Promise<void> {
  const call = 'want_wireguard_peer_events';
  const reply = await api.request(call, {
    sw_if_index: opts.swIfIndex ?? ALL_ONES,
    peer_index: opts.peerIndex ?? ALL_ONES,
    enable_disable: enable ? 1 : 0,
    pid: opts.pid ?? process.pid,
  });
  checkRetval(call, reply);
}

/** Subscribes to wireguard_peer_event; returns the unsubscribe function. */
export function onWireguardPeerEvent(events: VppEvents, handler: (event: WireguardPeerEvent) => void): () => void {
  return events.on('wireguard_peer_event', (f) => {
    const flags = f.flags as number;
    handler({
      peerIndex: f.peer_index as number,
      flags,
      established: (flags & WIREGUARD_PEER_ESTABLISHED) !== 0,
      dead: (flags & WIREGUARD_PEER_STATUS_DEAD) !== 0,
    });
  });
}

function key(call: string, field: string, value: unknown): void {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    throw new VppEncodeError(call, field, 'a WireGuard key is 32 raw bytes (decode base64 first)');
  }
}
