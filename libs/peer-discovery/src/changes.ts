import type { DesiredPeer } from '@wgmesh/contracts';

/**
 * How many peers differ between two desired sets: added, removed, or with another endpoint,
 * keepalive or allowed IPs. For traces (`wgmesh.peers.changed`); with no previous set, every
 * peer counts.
 */
export function countChangedPeers(next: readonly DesiredPeer[], previous: readonly DesiredPeer[] | null): number {
  if (!previous) return next.length;
  const before = new Map(previous.map((p) => [p.publicKey, p]));
  let changed = 0;
  for (const p of next) {
    const old = before.get(p.publicKey);
    before.delete(p.publicKey);
    if (!old || old.endpoint !== p.endpoint || old.persistentKeepalive !== p.persistentKeepalive || old.allowedIps.join() !== p.allowedIps.join()) changed++;
  }
  return changed + before.size;
}
