import type { PeerRecord } from '@wgmesh/contracts';
import { Cidr, cidrContains, formatIp, parseCidr, parseIp } from '@wgmesh/netaddr';

/**
 * The member's own check of the registry's table before it configures anything: a peer whose
 * allowed IPs would take traffic that is not its own is refused, however it got into the table
 * (a bug, a registry that was tricked, someone who reached the registry's credential). Refused:
 * a peer whose allowed IPs lie outside the mesh CIDR, cover the registry's tunnel address or this
 * node's own, or overlap another peer's (then both: which one is right cannot be told here).
 * Pure; the caller logs and counts what is refused.
 */
export interface GuardContext {
  meshCidr: string;
  /** The registry's tunnel address, e.g. "10.99.0.1". */
  registryAddress: string;
  /** This node's tunnel address, with or without prefix. */
  selfAddress: string;
  selfKey: string;
  registryKey: string;
}

/** Public key → why this member does not configure the peer. */
export function refusedPeers(table: readonly PeerRecord[], ctx: GuardContext): Map<string, string> {
  const mesh = parseCidr(ctx.meshCidr);
  const protectedAddresses: Array<[string, ReturnType<typeof parseIp>]> = [
    ["the registry's address", parseIp(ctx.registryAddress)],
    ["this node's address", parseIp(ctx.selfAddress.replace(/\/\d+$/, ''))],
  ];
  const refused = new Map<string, string>();
  const hosts = new Map<string, PeerRecord[]>(); // host address → peers claiming it
  const wide: Array<{ peer: PeerRecord; cidr: Cidr; text: string }> = []; // prefixes wider than a host
  const label = (p: PeerRecord) => (p.name ? `"${p.name}"` : p.publicKey);
  for (const peer of table) {
    if (peer.publicKey === ctx.selfKey || peer.publicKey === ctx.registryKey) continue;
    for (const text of peer.allowedIps) {
      const cidr = parseCidr(text);
      const inside = cidr.address.family === mesh.address.family && cidr.prefixLength >= mesh.prefixLength && cidrContains(mesh, cidr.address);
      if (!inside) {
        refused.set(peer.publicKey, `its allowed IPs ${text} lie outside the mesh ${ctx.meshCidr}`);
        break;
      }
      const hit = protectedAddresses.find(([, ip]) => cidrContains(cidr, ip));
      if (hit) {
        refused.set(peer.publicKey, `its allowed IPs ${text} cover ${hit[0]}`);
        break;
      }
      if (cidr.prefixLength === (cidr.address.family === 4 ? 32 : 128)) {
        const key = formatIp(cidr.address);
        hosts.set(key, [...(hosts.get(key) ?? []), peer]);
      } else wide.push({ peer, cidr, text });
    }
  }
  const clash = (a: PeerRecord, b: PeerRecord, what: string) => {
    if (a.publicKey === b.publicKey) return;
    if (!refused.has(a.publicKey)) refused.set(a.publicKey, `its allowed IPs ${what} overlap those of ${label(b)}`);
    if (!refused.has(b.publicKey)) refused.set(b.publicKey, `its allowed IPs ${what} overlap those of ${label(a)}`);
  };
  for (const [address, claimants] of hosts) {
    for (let i = 1; i < claimants.length; i++) clash(claimants[i], claimants[0], `${address}`);
  }
  for (const w of wide) {
    for (const [address, claimants] of hosts) if (cidrContains(w.cidr, parseIp(address))) for (const c of claimants) clash(w.peer, c, w.text);
    for (const other of wide) if (other !== w && (cidrContains(w.cidr, other.cidr.address) || cidrContains(other.cidr, w.cidr.address))) clash(w.peer, other.peer, w.text);
  }
  return refused;
}
