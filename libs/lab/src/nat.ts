import { IF, NatMode } from './plan';

/**
 * A NAT router's rules (pure: rendering and parsing; lab.ts runs them).
 *
 * - eim, endpoint-independent mapping: `MASQUERADE`. Linux keeps the member's source port when it
 *   is free, so one internal socket gets the same external port towards every destination.
 * - edm, endpoint-dependent mapping: `MASQUERADE --random-fully`: a random external port per
 *   destination, so the port the registry observed is useless to another member.
 * - seq, endpoint-dependent mapping with sequential allocation: every new UDP flow gets the next
 *   port of SEQ_PORTS (wrapping), like many carrier and office NATs. Linux picks SNAT ports at
 *   random within a range, so the sequence is built from one single-port SNAT rule per port,
 *   each taking its turn (`-m statistic --mode nth`: rule i takes every (n-i)-th of the flows
 *   the rules before it left, which hands flows to the rules round-robin). NAT rules see only a
 *   flow's first packet, so the count is of flows. Other protocols: MASQUERADE.
 * - Both: inbound on the WAN is accepted only for ESTABLISHED,RELATED flows; everything else new
 *   from the WAN is dropped (INPUT and FORWARD), as a home router does. Without the drop the
 *   router answers a peer's early handshake with a port unreachable, conntrack keeps that
 *   inbound flow, and the member's own outbound packet then collides with it and gets another
 *   port: hole punching deadlocks.
 * - Pins (after `rebindNat` under eim): `SNAT --to-source WAN:<port>` for one internal UDP port,
 *   ahead of MASQUERADE. A single-port range keeps the mapping endpoint independent (every
 *   destination gets that port) while making it different from before; see rebindPlan().
 */
export interface PortPin {
  /** The member's LAN address. */
  source: string;
  /** The member's UDP source port (e.g. its WireGuard listen port). */
  sourcePort: number;
  /** The external port the router maps it to. */
  toPort: number;
}

/** The ports a seq router hands out, in order (then from the first again). */
export const SEQ_PORTS = { first: 30000, count: 128 } as const;

/** Input for `iptables-restore` (replaces the router's nat and filter tables whole). */
export function natRules(mode: NatMode, wanAddress: string, pins: readonly PortPin[] = []): string {
  const masquerade = mode === 'edm' ? `-A POSTROUTING -o ${IF.wan} -j MASQUERADE --random-fully` : `-A POSTROUTING -o ${IF.wan} -j MASQUERADE`;
  const pinRules = mode === 'eim' ? pins.map((p) => `-A POSTROUTING -o ${IF.wan} -s ${p.source}/32 -p udp --sport ${p.sourcePort} -j SNAT --to-source ${wanAddress}:${p.toPort}`) : [];
  const n = SEQ_PORTS.count;
  const seqRules =
    mode === 'seq' ? Array.from({ length: n }, (_, i) => `-A POSTROUTING -o ${IF.wan} -p udp -m statistic --mode nth --every ${n - i} --packet 0 -j SNAT --to-source ${wanAddress}:${SEQ_PORTS.first + i}`) : [];
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...pinRules,
    ...seqRules,
    masquerade,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `-A INPUT -i ${IF.wan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A INPUT -i ${IF.wan} -j DROP`,
    `-A FORWARD -i ${IF.wan} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
    `-A FORWARD -i ${IF.wan} -j DROP`,
    'COMMIT',
    '',
  ].join('\n');
}

/** One flow through the NAT, from `conntrack -L`. */
export interface NatMapping {
  proto: 'udp' | 'tcp';
  /** The member's side: source address and port. */
  source: string;
  sourcePort: number;
  /** Where it goes. */
  destination: string;
  destinationPort: number;
  /** The port the internet sees (the reply direction's destination port). */
  externalPort: number;
  /** The address the internet sees. */
  externalAddress: string;
}

/**
 * Parses `conntrack -L -o extended`-style lines (with or without the leading "ipv4 2"):
 * `udp 17 29 src=172.16.1.2 dst=203.0.113.1 sport=51820 dport=51820 [UNREPLIED] src=203.0.113.1
 * dst=198.51.100.11 sport=51820 dport=40123 mark=0 use=1`. Other protocols are skipped.
 */
export function parseConntrack(text: string): NatMapping[] {
  const out: NatMapping[] = [];
  for (const line of text.split('\n')) {
    const proto = /(?:^|\s)(udp|tcp)\s+\d+\s/.exec(line)?.[1] as 'udp' | 'tcp' | undefined;
    if (!proto) continue;
    const kv = [...line.matchAll(/\b(src|dst|sport|dport)=(\S+)/g)].map((m) => [m[1], m[2]] as const);
    const first = (key: string, from = 0) => kv.slice(from).find(([k]) => k === key)?.[1];
    const replyAt = kv.findIndex(([k], i) => k === 'src' && i > 0);
    if (replyAt < 0) continue;
    const [src, dst, sport, dport] = [first('src'), first('dst'), first('sport'), first('dport')];
    const [rdst, rdport] = [first('dst', replyAt), first('dport', replyAt)];
    if (!src || !dst || !sport || !dport || !rdst || !rdport) continue;
    out.push({ proto, source: src, sourcePort: Number(sport), destination: dst, destinationPort: Number(dport), externalPort: Number(rdport), externalAddress: rdst });
  }
  return out;
}

export interface Rebind {
  /** The member's UDP source port. */
  sourcePort: number;
  /** External ports it had (one under eim; one per destination under edm). */
  before: number[];
  /** The pinned external port (eim), or undefined: random at the next packet (edm). */
  after?: number;
}

/**
 * Under eim, the new pins that give every UDP socket of the member a new external port: for each
 * source port seen in `mappings`, a port from 20000-59999 that differs from every external port it
 * had and from any port in use. `random` is injectable for tests.
 */
export function rebindPlan(member: string, mappings: readonly NatMapping[], pins: readonly PortPin[], random: () => number = Math.random): { pins: PortPin[]; rebinds: Rebind[] } {
  const udp = mappings.filter((m) => m.proto === 'udp' && m.source === member);
  const used = new Set<number>([...mappings.map((m) => m.externalPort), ...pins.map((p) => p.toPort)]);
  const next = new Map(pins.filter((p) => p.source === member).map((p) => [p.sourcePort, p]));
  const rebinds: Rebind[] = [];
  for (const sourcePort of [...new Set(udp.map((m) => m.sourcePort))].sort((a, b) => a - b)) {
    const before = [...new Set(udp.filter((m) => m.sourcePort === sourcePort).map((m) => m.externalPort))];
    let toPort: number;
    do toPort = 20000 + Math.floor(random() * 40000);
    while (used.has(toPort) || toPort === sourcePort);
    used.add(toPort);
    next.set(sourcePort, { source: member, sourcePort, toPort });
    rebinds.push({ sourcePort, before, after: toPort });
  }
  return { pins: [...pins.filter((p) => p.source !== member), ...next.values()], rebinds };
}
