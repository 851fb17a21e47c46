import type { MemberNat } from './plan';

/**
 * The mesh as its devices show it (pure: parsing `wg show <dev> dump`, deciding each pair's path,
 * printing the table). mesh.ts reads the devices and pings; this file only interprets.
 */

/** One peer line of `wg show <dev> dump`. */
export interface DumpPeer {
  publicKey: string;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds; 0 for never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
}

/**
 * `wg show <dev> dump`: the interface line (private key, public key, port, fwmark), then one
 * tab-separated line per peer: public key, preshared key, endpoint, allowed ips, latest
 * handshake, rx, tx, keepalive ("off" or seconds).
 */
export function parseDump(text: string): { publicKey: string | null; listenPort: number; peers: Map<string, DumpPeer> } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const peers = new Map<string, DumpPeer>();
  if (lines.length === 0) return { publicKey: null, listenPort: 0, peers };
  const [, publicKey, port] = lines[0].split('\t');
  for (const line of lines.slice(1)) {
    const f = line.split('\t');
    if (f.length < 8) throw new Error(`wg show dump: a peer line has ${f.length} fields, not 8: ${line.slice(0, 80)}`);
    peers.set(f[0], {
      publicKey: f[0],
      endpoint: f[2] === '(none)' ? null : f[2],
      allowedIps: f[3] === '(none)' ? [] : f[3].split(','),
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7] === 'off' ? 0 : Number(f[7]),
    });
  }
  return { publicKey: publicKey === '(none)' ? null : publicKey, listenPort: Number(port), peers };
}

export type PairPath = 'direct' | 'relayed';

/** One pair of members, as `wgmesh lab up` prints it. */
export interface PairRow {
  a: string;
  b: string;
  path: PairPath;
  /** Average of `ping -c 3` between the tunnel addresses; null when no reply came back. */
  rttMs: number | null;
  /** Why the pair is not direct (or why a direct pair did not answer). */
  reason?: string;
}

/** WireGuard's REJECT_AFTER_TIME: an older session carries no traffic. */
export const RECENT_HANDSHAKE_S = 180;

export interface PairView {
  a: { name: string; nat: MemberNat };
  b: { name: string; nat: MemberNat };
  /** a's device entry for b, and b's for a (undefined: no entry). */
  aToB: DumpPeer | undefined;
  bToA: DumpPeer | undefined;
  nowSeconds: number;
}

/** Direct when each side has a peer entry for the other with a handshake in the last 180 s. */
export function pairPath(v: PairView): { path: PairPath; reason?: string } {
  const fresh = (p: DumpPeer | undefined) => p !== undefined && p.latestHandshake > 0 && v.nowSeconds - p.latestHandshake <= RECENT_HANDSHAKE_S;
  if (fresh(v.aToB) && fresh(v.bToA)) return { path: 'direct' };
  const missing = [v.aToB ? null : `${v.a.name} has no peer entry for ${v.b.name}`, v.bToA ? null : `${v.b.name} has no peer entry for ${v.a.name}`].filter(Boolean);
  if (missing.length > 0) return { path: 'relayed', reason: `${missing.join('; ')} (no endpoint at the registry yet?)` };
  const hint = expectDirect(v.a.nat, v.b.nat) ? 'hole punching has not succeeded (yet)' : `${[v.a, v.b].filter((m) => m.nat === 'edm').map((m) => m.name).join(' and ')} behind an endpoint-dependent NAT: no hole punching`;
  return { path: 'relayed', reason: `direct peers configured, no recent handshake: ${hint}` };
}

/**
 * Whether two members can get a direct tunnel by hole punching in the lab: always, unless one is
 * behind an endpoint-dependent NAT (a random port per destination, so the registry-observed port
 * is useless) and the other is not public. A public member learns an edm member's real port from
 * its first handshake (WireGuard roaming), so that pair works.
 */
export function expectDirect(a: MemberNat, b: MemberNat): boolean {
  if (a === 'edm') return b === 'public';
  if (b === 'edm') return a === 'public';
  return true;
}

/** The pair table as text: a, b, path, RTT (and the reason when there is one). */
export function formatPairTable(rows: readonly PairRow[]): string {
  const table = [['A', 'B', 'PATH', 'RTT'], ...rows.map((r) => [r.a, r.b, r.path, r.rttMs === null ? 'no reply' : `${r.rttMs.toFixed(2)} ms`])];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = table.map((r, i) => {
    const text = r.map((c, j) => c.padEnd(widths[j])).join('  ').trimEnd();
    const reason = i > 0 ? rows[i - 1].reason : undefined;
    return reason ? `${text}  (${reason})` : text;
  });
  return lines.join('\n');
}

/** Every unordered pair of `names`, in order: (a,b), (a,c), …, (b,c), … */
export function pairsOf<T>(items: readonly T[]): Array<[T, T]> {
  const out: Array<[T, T]> = [];
  for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) out.push([items[i], items[j]]);
  return out;
}
