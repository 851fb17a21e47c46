import type { PeerRecord } from '@wgmesh/contracts';
import { cidrContains, IpAddress, isIp, parseCidr, parseIp } from '@wgmesh/netaddr';

/**
 * A peer named by an operator (`--connect`, `wgmesh connect`): its public key, one of its tunnel
 * addresses (any address inside its allowed IPs), or its member name.
 */
export class PeerTarget {
  private readonly ip: IpAddress | null;

  constructor(readonly text: string) {
    this.ip = isIp(text) ? parseIp(text) : null;
  }

  matches(peer: PeerRecord): boolean {
    if (peer.publicKey === this.text || (peer.name !== undefined && peer.name === this.text)) return true;
    const ip = this.ip;
    return ip !== null && peer.allowedIps.some((c) => cidrContains(parseCidr(c), ip));
  }
}

/** Does any of `targets` name `peer`? */
export function matchesAny(peer: PeerRecord, targets: readonly PeerTarget[]): boolean {
  return targets.some((t) => t.matches(peer));
}
