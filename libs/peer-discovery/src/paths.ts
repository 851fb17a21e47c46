import type { PeerRecord, PeerState } from '@wgmesh/contracts';

/**
 * How a node reaches each other member, for `wgmesh status`:
 * - direct: the node has a peer entry for it with a handshake in the last `recentSeconds`;
 * - connecting: it has a peer entry, but no recent handshake (hole punching, or a dead path);
 * - relayed: no direct peer entry, or one without allowed IPs (a direct attempt by nat-probe);
 *   traffic takes the registry peer (mesh CIDR route), which has a recent handshake;
 * - down: neither a direct peer nor a working registry peer.
 */
export type PathKind = 'direct' | 'connecting' | 'relayed' | 'down' | 'registry';

export interface PathRow {
  publicKey: string;
  name?: string;
  allowedIps: string[];
  path: PathKind;
  /** The endpoint the node's device uses for it (null when it has no entry or none learnt). */
  endpoint: string | null;
  /** Unix seconds, 0 for never (of the direct peer; of the registry peer for the registry row). */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}

/** WireGuard's REJECT_AFTER_TIME: a session older than this carries no traffic. */
export const RECENT_HANDSHAKE_SECONDS = 180;

export function classifyPaths(
  table: readonly PeerRecord[],
  devicePeers: readonly PeerState[],
  opts: { self: string; registryKey: string | null; nowSeconds: number; recentSeconds?: number },
): PathRow[] {
  const recent = opts.recentSeconds ?? RECENT_HANDSHAKE_SECONDS;
  const fresh = (t: number) => t > 0 && opts.nowSeconds - t <= recent;
  const device = new Map(devicePeers.map((p) => [p.publicKey, p]));
  const registry = opts.registryKey ? device.get(opts.registryKey) : undefined;
  const rows: PathRow[] = [];
  if (opts.registryKey) {
    rows.push({
      publicKey: opts.registryKey,
      name: 'registry',
      allowedIps: registry?.allowedIps ?? [],
      path: 'registry',
      endpoint: registry?.endpoint ?? null,
      latestHandshake: registry?.latestHandshake ?? 0,
      rxBytes: registry?.rxBytes ?? 0,
      txBytes: registry?.txBytes ?? 0,
    });
  }
  const relayUp = registry !== undefined && fresh(registry.latestHandshake);
  for (const member of table) {
    if (member.publicKey === opts.self || member.publicKey === opts.registryKey) continue;
    const d = device.get(member.publicKey);
    const row: PathRow = {
      publicKey: member.publicKey,
      allowedIps: member.allowedIps,
      path: d && d.allowedIps.length > 0 ? (fresh(d.latestHandshake) ? 'direct' : 'connecting') : relayUp ? 'relayed' : 'down',
      endpoint: d?.endpoint ?? null,
      latestHandshake: d?.latestHandshake ?? 0,
      rxBytes: d?.rxBytes ?? 0,
      txBytes: d?.txBytes ?? 0,
    };
    if (member.name !== undefined) row.name = member.name;
    rows.push(row);
  }
  return rows;
}
