import type { DesiredPeer, DriverKind, PeerState } from '@wgmesh/contracts';
import type { SecretKey } from '@wgmesh/wireguard';

/**
 * The one interface every dataplane driver implements (uapi: wireguard-go/boringtun over the
 * UAPI socket; wg: kernel WireGuard through wireguard-tools; vpp: VPP's binary API). Used by
 * dataplane-programmer to program a node's device and by the registry watcher to read the hub.
 */
export interface DataplaneDriver {
  readonly kind: DriverKind;
  /** The device name (interface name; for VPP the wireguard interface's name). */
  readonly device: string;

  /** Creates the device if asked and missing, then sets key, port, addresses and routes. Idempotent. */
  ensureDevice(spec: DeviceSpec): Promise<void>;

  /** The device as it is now. The private key is never part of the result. */
  read(): Promise<DeviceState>;

  /**
   * The device's private key (a SecretKey: never printed or logged), or null when it has none.
   * The registry checks enrolment proofs of key possession with its hub's. Absent: the driver
   * cannot read it (VPP).
   */
  readPrivateKey?(): Promise<SecretKey | null>;

  /** Applies one batch of peer changes (computed by `diffPeers`) in as few operations as the driver allows. */
  apply(diff: PeerDiff): Promise<void>;

  /**
   * Hole punching: for each entry in order, removes the peer and creates it again with that
   * endpoint, its allowed IPs and keepalive, in one operation. Creating a peer with a keepalive
   * makes the device send a handshake initiation to its endpoint at once (VPP: 10–330 ms later,
   * to the last endpoint given for a peer, and not for a peer whose session is established).
   * Every driver has it; a read-only stand-in (a test's hub) may not.
   */
  recreatePeers?(entries: readonly RecreatedPeer[]): Promise<void>;

  /** Releases sockets and watchers; leaves the device as it is (fail-static). */
  close(): Promise<void>;
}

export interface RecreatedPeer {
  publicKey: string;
  endpoint: string;
  allowedIps: string[];
  /** At least 1 (0 would not send). */
  persistentKeepalive: number;
}

export interface DeviceSpec {
  /** Create the device when it does not exist (uapi: start wireguard-go). */
  create: boolean;
  /** Raw 32-byte private key; set when given. */
  privateKey?: Uint8Array;
  listenPort?: number;
  /** Interface addresses with prefix, e.g. "10.99.0.5/16". */
  addresses?: string[];
  /** Extra routes through the device, e.g. the mesh CIDR. */
  routes?: string[];
  mtu?: number;
}

export interface DeviceState {
  publicKey: string | null;
  listenPort: number;
  peers: PeerState[];
}

/** What `apply` changes: peers to add or update (full desired state of each), and keys to remove. */
export interface PeerDiff {
  upsert: DesiredPeer[];
  remove: string[];
  /**
   * Optional (filled by `diffPeers`): for upserted peers the device already has, which settings
   * differ. A driver may then send only those: an endpoint change is then one line instead of
   * re-setting allowed IPs and keepalive (a third of wireguard-go's work). Peers without an
   * entry get their whole desired state.
   */
  changed?: Map<string, PeerChanges>;
  /**
   * Existing peers to send a keepalive to now, each with the persistent keepalive it keeps
   * (WireGuard sends one at once when the keepalive goes from off to on).
   */
  poke?: Array<{ publicKey: string; keepalive: number }>;
}

export interface PeerChanges {
  endpoint: boolean;
  allowedIps: boolean;
  persistentKeepalive: boolean;
}
