import type { DataplaneApplyRequest, DesiredPeer, PeerState } from '@wgmesh/contracts';
import { canonicalCidr, cidrContains, parseCidr } from '@wgmesh/netaddr';
import type { AddressPlan } from './address-plan';
import type { MemberRecord } from './membership';

/**
 * What the registry publishes and what its hub device must hold, when it enrols members: the
 * membership (the store of record) is the truth, the device contributes what it observes
 * (endpoint, handshake, keepalive). Pure.
 *
 * - A member is published whether or not the device has it: with the device's observations when
 *   it has the peer, else with its last known endpoint. A member never leaves the table because
 *   the device lost it (a crash, a reboot): only `member remove` takes it out.
 * - A member the device lacks, or holds with other allowed IPs than its address, is to be
 *   programmed on the hub (`repair`): its key, its /32 (/128), its last known endpoint so the hub
 *   can reach it at once.
 * - A device peer that is no member (one the operator added by hand) is published as the device
 *   has it (as wgsd does), unless its allowed IPs overlap a member's address or the registry's
 *   own: then it is left out and named in `refused`.
 */
export interface HubView {
  /** The peers to publish, as the watcher reads them. */
  peers: PeerState[];
  /** Members to (re)program on the hub. */
  repair: DesiredPeer[];
  /** Device peers not published, and why. */
  refused: Array<{ publicKey: string; reason: string }>;
}

/**
 * The hub's persistent keepalive towards members: a member (re)programmed on the hub with its
 * last known endpoint is sent a keepalive at once (WireGuard does so when the keepalive is
 * switched on), so a rebuilt hub handshakes with every member without waiting for their next
 * packet; it also keeps members' NAT mappings towards the hub open from both sides.
 */
export const HUB_KEEPALIVE = 25;

export function hubView(device: readonly PeerState[], members: readonly MemberRecord[], plan: AddressPlan, registryAddress: string, keepalive = HUB_KEEPALIVE): HubView {
  const onDevice = new Map(device.map((p) => [p.publicKey, p]));
  const memberKeys = new Set(members.map((m) => m.publicKey));
  const peers: PeerState[] = [];
  const repair: DesiredPeer[] = [];
  const refused: HubView['refused'] = [];
  const taken = new Map<string, string>([[registryAddress, 'the registry']]);
  for (const m of members) {
    const prefix = plan.hostPrefix(m.address);
    taken.set(m.address, `member "${m.name}"`);
    const seen = onDevice.get(m.publicKey);
    const exact = seen !== undefined && seen.allowedIps.length === 1 && sameCidr(seen.allowedIps[0], prefix) && seen.persistentKeepalive === keepalive;
    if (!exact) repair.push(hubPeer(m, prefix, seen?.endpoint ?? m.endpoint ?? null, keepalive));
    peers.push({
      publicKey: m.publicKey,
      allowedIps: [prefix],
      endpoint: seen?.endpoint ?? m.endpoint ?? null,
      latestHandshake: seen?.latestHandshake ?? 0,
      rxBytes: seen?.rxBytes ?? 0,
      txBytes: seen?.txBytes ?? 0,
      persistentKeepalive: keepalive,
    });
  }
  for (const p of device) {
    if (memberKeys.has(p.publicKey)) continue;
    const clash = overlap(p.allowedIps, taken);
    if (clash) refused.push({ publicKey: p.publicKey, reason: `its allowed IPs ${p.allowedIps.join(',')} cover ${clash.address}, the address of ${clash.holder}` });
    else peers.push(p);
  }
  return { peers, repair, refused };
}

/** A member as the hub device holds it: its key, its address alone, an endpoint when known, the hub's keepalive. */
export function hubPeer(m: MemberRecord, prefix: string, endpoint: string | null, keepalive = HUB_KEEPALIVE): DesiredPeer {
  return { publicKey: m.publicKey, endpoint, allowedIps: [prefix], persistentKeepalive: keepalive };
}

/** A device's allowed IP equals a canonical prefix (most often as the same text: no parsing, once per member per read). */
function sameCidr(cidr: string, canonical: string): boolean {
  return cidr === canonical || canonicalCidr(cidr) === canonical;
}

/** The first address of `taken` that one of the prefixes covers. */
function overlap(allowedIps: readonly string[], taken: ReadonlyMap<string, string>): { address: string; holder: string } | null {
  for (const cidr of allowedIps) {
    const net = parseCidr(cidr);
    for (const [address, holder] of taken) {
      if (cidrContains(net, parseCidr(address).address)) return { address, holder };
    }
  }
  return null;
}

/**
 * The guard of the hub's dataplane-programmer: why a request must not be applied to the hub, or
 * null. Whoever sends it (only the registry's credential may), every peer it adds or changes must
 * be an enrolled member (looked up in the store of record) with exactly its allocated address as
 * allowed IPs; the hub is never replaced wholesale (that would drop members) and never punches.
 */
export async function hubApplyRefusal(req: DataplaneApplyRequest, memberOfKey: (publicKey: string) => Promise<MemberRecord | null>, plan: AddressPlan): Promise<string | null> {
  if (req.replace) return 'the hub device is never replaced by a request (it would drop members): send replace=false with the peers to add';
  if (req.punch?.length) return 'the hub device does not punch';
  for (const p of req.peers) {
    const m = await memberOfKey(p.publicKey);
    if (!m) return `${p.publicKey} is not an enrolled member: only members go on the hub device`;
    const expected = plan.hostPrefix(m.address);
    const given = p.allowedIps.map((c) => canonicalCidr(c));
    if (given.length !== 1 || given[0] !== expected) {
      return `the allowed IPs of ${p.publicKey} (${given.join(',') || 'none'}) are not its allocated address ${expected} (member "${m.name}"): the hub routes to a member only its own address`;
    }
  }
  return null;
}
