import type { PeerState } from '@wgmesh/contracts';
import type { WgDevice, WgDeviceChange, WgPeer, WgPeerChange } from '@wgmesh/wireguard';
import type { DeviceSpec, DeviceState, PeerDiff, RecreatedPeer } from './driver';

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
 * A diff as peer changes, removals first. A new peer gets its whole desired state (allowed IPs
 * replaced, keepalive, endpoint when known: null keeps the learnt one). With `minimal`, a peer
 * the diff marks as `changed` gets only what differs (an endpoint change is one line).
 */
export function toPeerChanges(diff: PeerDiff, opts: { minimal?: boolean; /** The protocol has update_only (UAPI; not `wg set`). */ updateOnly?: boolean } = {}): WgPeerChange[] {
  const out: WgPeerChange[] = diff.remove.map((publicKey) => ({ publicKey, remove: true }));
  for (const p of diff.upsert) {
    const only = opts.minimal ? diff.changed?.get(p.publicKey) : undefined;
    const change: WgPeerChange = { publicKey: p.publicKey };
    if (p.endpoint !== null && (!only || only.endpoint)) change.endpoint = p.endpoint;
    if (!only || only.persistentKeepalive) change.persistentKeepalive = p.persistentKeepalive ?? 0;
    if (!only || only.allowedIps) {
      change.replaceAllowedIps = true;
      change.allowedIps = p.allowedIps;
    }
    out.push(change);
  }
  // A poke: keepalive off then on again in the same transaction; turning it on sends one now.
  // (update_only where the protocol has it: a peer removed meanwhile is not created again.)
  const only = opts.updateOnly ? { updateOnly: true } : {};
  for (const p of diff.poke ?? []) out.push({ publicKey: p.publicKey, ...only, persistentKeepalive: 0 }, { publicKey: p.publicKey, ...only, persistentKeepalive: p.keepalive });
  return out;
}

/** Hole punching as peer changes: each entry's peer removed, then created with that endpoint. */
export function recreateChanges(entries: readonly RecreatedPeer[]): WgPeerChange[] {
  return entries.flatMap((e) => [
    { publicKey: e.publicKey, remove: true },
    { publicKey: e.publicKey, endpoint: e.endpoint, persistentKeepalive: e.persistentKeepalive, replaceAllowedIps: true, allowedIps: e.allowedIps },
  ]);
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
