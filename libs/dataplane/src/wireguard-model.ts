import type { PeerState } from '@wgmesh/contracts';
import type { WgDevice, WgDeviceChange, WgPeer, WgPeerChange } from '@wgmesh/wireguard';
import type { DeviceSpec, DeviceState, PeerDiff } from './driver';

// Between the contracts' model (what travels on NATS) and libs/wireguard's (what a device reports
// and takes). Shared by the uapi and wg drivers.

export function toPeerState(p: WgPeer): PeerState {
  return {
    publicKey: p.publicKey,
    endpoint: p.endpoint,
    allowedIps: p.allowedIps,
    latestHandshake: p.lastHandshakeSec,
    rxBytes: p.rxBytes,
    txBytes: p.txBytes,
    persistentKeepalive: p.persistentKeepalive,
  };
}

/** The device as the dataplane reports it: no private key. */
export function toDeviceState(d: WgDevice): DeviceState {
  return { publicKey: d.publicKey, listenPort: d.listenPort, peers: d.peers.map(toPeerState) };
}

/**
 * A diff as peer changes, removals first: each upsert carries the peer's whole desired state
 * (allowed IPs replaced, keepalive set, endpoint only when known: null keeps the learnt one).
 */
export function toPeerChanges(diff: PeerDiff): WgPeerChange[] {
  const out: WgPeerChange[] = diff.remove.map((publicKey) => ({ publicKey, remove: true }));
  for (const p of diff.upsert) {
    const change: WgPeerChange = { publicKey: p.publicKey, persistentKeepalive: p.persistentKeepalive ?? 0, replaceAllowedIps: true, allowedIps: p.allowedIps };
    if (p.endpoint !== null) change.endpoint = p.endpoint;
    out.push(change);
  }
  return out;
}

/**
 * The device settings of `spec` that differ from the device: private key (when given) and
 * listen port (when given and not 0, which would pick a new random port every time).
 */
export function settingsChange(current: WgDevice, spec: DeviceSpec): { change: WgDeviceChange; changed: string[] } {
  const change: WgDeviceChange = {};
  const changed: string[] = [];
  if (spec.privateKey && !current.privateKey?.equals(spec.privateKey)) {
    change.privateKey = spec.privateKey;
    changed.push('private key');
  }
  if (spec.listenPort && spec.listenPort !== current.listenPort) {
    change.listenPort = spec.listenPort;
    changed.push(`listen port ${spec.listenPort}`);
  }
  return { change, changed };
}
