import type { DesiredPeer } from '@wgmesh/contracts';
import { type DataplaneDriver, diffPeers } from '@wgmesh/dataplane';

/**
 * How `member up` puts its registry peers on the device (watchRelayCarrier's apply): a new
 * registry is protected before it goes on (a desired set applied meanwhile never takes it off);
 * the peers of registries no longer listed come off, and out of the protected keys, after; the
 * dataplane-programmer's bootstrap (what it puts back on a device it re-creates) follows.
 */
export function registryPeersApply(o: {
  driver: Pick<DataplaneDriver, 'read' | 'apply'>;
  /** The dataplane-programmer's protected keys (RunningDataplane.setProtect). */
  setProtect: (keys: readonly string[]) => void;
  /** The keys protected now (the registries at the start). */
  protect: readonly string[];
  /** The bootstrap peers, changed in place. */
  bootstrap: DesiredPeer[];
}): (peers: DesiredPeer[], remove: string[]) => Promise<void> {
  let protect = [...o.protect];
  return async (peers, remove) => {
    const keys = peers.map((p) => p.publicKey);
    o.setProtect([...new Set([...protect, ...keys])]);
    const { diff } = diffPeers(peers, (await o.driver.read()).peers, { replace: false, remove });
    if (diff.upsert.length > 0 || diff.remove.length > 0) await o.driver.apply(diff);
    o.bootstrap.splice(0, o.bootstrap.length, ...peers);
    protect = keys;
    o.setProtect(protect);
  };
}
