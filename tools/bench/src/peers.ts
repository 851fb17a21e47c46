import { prng } from '@wgmesh/testing';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { PeerRecord } from '@wgmesh/contracts';
import { keyToBase32, keyToBase64 } from '@wgmesh/wireguard';

/** The DNS-SD service labels under the zone (as wgsd). */
export const SERVICE = '_wireguard._udp';

/** A synthetic mesh member: what the resolver is seeded with and what the Knot zone holds. */
export interface BenchPeer {
  /** Base64 public key, as stored in the peer table and served in TXT "pub=". */
  publicKey: string;
  /** Lowercase padded base32 of the key: the DNS-SD instance label. */
  b32: string;
  endpointIp: string;
  endpointPort: number;
  allowedIp: string;
}

/**
 * `count` peers with deterministic keys (SHA-256 of the index: any 32 bytes are a valid public
 * key for DNS purposes), endpoints in the documentation ranges and /32 tunnel addresses in 10/8.
 */
export function makePeers(count: number): BenchPeer[] {
  const peers: BenchPeer[] = [];
  for (let i = 1; i <= count; i++) {
    const key = createHash('sha256').update(`wgmesh-bench-peer-${i}`).digest();
    const net = i % 2 === 0 ? '198.51.100' : '203.0.113';
    peers.push({
      publicKey: keyToBase64(key),
      b32: keyToBase32(key),
      endpointIp: `${net}.${(i % 254) + 1}`,
      endpointPort: 1024 + (i % 64000),
      allowedIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
    });
  }
  return peers;
}

/** `<b32>._wireguard._udp.<zone>` (zone with trailing dot). */
export function peerName(peer: BenchPeer, zone: string): string {
  return `${peer.b32}.${SERVICE}.${zone}`;
}

export function serviceName(zone: string): string {
  return `${SERVICE}.${zone}`;
}

export function toPeerRecord(peer: BenchPeer): PeerRecord {
  return { publicKey: peer.publicKey, allowedIps: [peer.allowedIp], endpoint: `${peer.endpointIp}:${peer.endpointPort}` };
}

/** dnsperf input lines "<name> <type>": `lines` names drawn at random (with repetition) from `names`. */
export function randomQueryLines(names: readonly string[], type: string, lines: number, seed = 1): string[] {
  if (names.length === 0) throw new Error('no names to draw queries from');
  const random = prng(seed); // deterministic: the same query file on every run
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`${names[Math.floor(random() * names.length)]} ${type}`);
  return out;
}

export async function writeLines(path: string, lines: readonly string[]): Promise<void> {
  const out = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(lines.join('\n') + '\n', () => resolve());
  });
}
