import { isBase64Key, keyFromBase64, keyToBase32 } from '@wgmesh/wireguard';

/**
 * wgmesh's span attribute names (docs/tracing.md lists which span carries which). Values are
 * public facts only: never a private key, a token or a payload.
 */
export const Attr = {
  /** The peer a span is about: `shortKey` of its public key. */
  peer: 'wgmesh.peer',
  mesh: 'wgmesh.mesh',
  /** The node id (a member's name; "registry" for the hub's programmer). */
  node: 'wgmesh.node',
  /** Dataplane driver: uapi, wg or vpp. */
  driver: 'wgmesh.driver',
  device: 'wgmesh.device',
  /** How many peers the span's work changed (or, before applying, wants changed). */
  peersChanged: 'wgmesh.peers.changed',
  /** How many peers are in the desired set / table / device. */
  peers: 'wgmesh.peers',
  /** Peer table revision. */
  revision: 'wgmesh.revision',
  /** upsert, remove or reset. */
  change: 'wgmesh.change',
  /** Why the registry watcher published (new, endpoint, allowed-ips, handshake…). */
  changeReason: 'wgmesh.change.reason',
  /** How many triggers a coalesced run stands for. */
  triggers: 'wgmesh.triggers',
  /** How many apply requests one device batch served. */
  requests: 'wgmesh.requests',
  added: 'wgmesh.peers.added',
  updated: 'wgmesh.peers.updated',
  removed: 'wgmesh.peers.removed',
  unchanged: 'wgmesh.peers.unchanged',
  /** What a dataplane batch was diffed against: device (a read of the whole device) or model (the programmer's model, for a delta). */
  diffAgainst: 'wgmesh.diff.against',
  /** applied, unchanged (nothing new to send) or no-table (fail-static). */
  result: 'wgmesh.apply.result',
} as const;

/** Length of `shortKey`: 60 bits, plenty to tell a mesh's peers apart. */
export const SHORT_KEY_LENGTH = 12;

/**
 * A public key as spans show it: the first 12 characters of its lowercase base32 form, i.e. the
 * start of the peer's DNS-SD instance name (`<base32>._wireguard._udp.<zone>`). Something that is
 * not a key is shown as "invalid" (never echoed: it could be anything).
 */
export function shortKey(publicKey: string): string {
  if (!isBase64Key(publicKey)) return 'invalid';
  return keyToBase32(keyFromBase64(publicKey)).slice(0, SHORT_KEY_LENGTH);
}
