import type { PeerRecord } from '@wgmesh/contracts';

/** One way the DNS-SD view and the NATS-fed mirror disagree about a peer. */
export interface ViewDifference {
  publicKey: string;
  kind: 'missing-in-dns' | 'missing-in-mirror' | 'endpoint' | 'allowed-ips';
  mirror?: string;
  dns?: string;
}

/**
 * Compares what members act on (endpoint and allowed IPs of peers that have an endpoint; DNS-SD
 * publishes no others) between the mirror and a DNS-SD pull. `ignore`: keys only one side has by
 * design (the registry's own `self` record). With `truncated` (the PTR listing did not fit in one
 * message), peers missing from DNS are not counted.
 */
export function compareViews(mirror: readonly PeerRecord[], dns: readonly PeerRecord[], opts: { ignore?: ReadonlySet<string>; truncated?: boolean } = {}): ViewDifference[] {
  const diffs: ViewDifference[] = [];
  const fromDns = new Map(dns.map((p) => [p.publicKey, p]));
  const seen = new Set<string>();
  for (const m of mirror) {
    if (m.endpoint === null || opts.ignore?.has(m.publicKey)) continue;
    seen.add(m.publicKey);
    const d = fromDns.get(m.publicKey);
    if (!d) {
      if (!opts.truncated) diffs.push({ publicKey: m.publicKey, kind: 'missing-in-dns' });
      continue;
    }
    if (d.endpoint !== m.endpoint) diffs.push({ publicKey: m.publicKey, kind: 'endpoint', mirror: m.endpoint, dns: d.endpoint ?? undefined });
    const a = [...m.allowedIps].sort().join(',');
    const b = [...d.allowedIps].sort().join(',');
    if (a !== b) diffs.push({ publicKey: m.publicKey, kind: 'allowed-ips', mirror: a, dns: b });
  }
  for (const d of dns) {
    if (!seen.has(d.publicKey) && !opts.ignore?.has(d.publicKey)) diffs.push({ publicKey: d.publicKey, kind: 'missing-in-mirror', dns: d.endpoint ?? undefined });
  }
  return diffs;
}
