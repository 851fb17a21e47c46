import type { DataplaneState, NatType, PathDecision, PathReport, PeerRecord } from '@wgmesh/contracts';
import { MeshMap, RegistryInfo } from './mesh-map';

/**
 * Synthetic meshes for the map's tests (unit and browser): members m0…mN with keys in their
 * index order, path reports as their nat-probe would publish them.
 */
export const HUB_KEY = Buffer.alloc(32, 0xff).toString('base64');
export const REGISTRY: RegistryInfo = { publicKey: HUB_KEY, address: '10.99.0.1', endpoint: '203.0.113.1:51820', device: 'wg0', driver: 'uapi' };

/** The key of member `i`: keys sort as the indices do (so member i leads every pair with j > i). */
export function keyOf(i: number): string {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(i, 0);
  return b.toString('base64');
}

export function memberRecord(i: number, extra: Partial<PeerRecord> = {}): PeerRecord {
  return {
    publicKey: keyOf(i),
    name: `m${i}`,
    allowedIps: [`10.99.${(i + 2) >> 8}.${(i + 2) & 255}/32`],
    endpoint: `198.51.100.${(i % 250) + 1}:${20000 + i}`,
    latestHandshake: 0,
    nat: 'eim',
    ...extra,
  };
}

export function decision(peer: number, path: 'direct' | 'relayed' | 'trying', since: number, extra: Partial<PathDecision> = {}): PathDecision {
  const reason = path === 'direct' ? 'direct: both endpoint-independent' : path === 'trying' ? 'relayed while trying direct: port prediction (deadline 10s)' : 'relayed: both endpoint-dependent';
  return { peer: keyOf(peer), peerName: `m${peer}`, path: path === 'direct' ? 'direct' : 'relayed', attempt: path === 'trying', reason, retryAt: null, since, ...extra };
}

export function pathReport(i: number, decisions: PathDecision[], nat: NatType = 'eim', at = 1): PathReport {
  return { node: `m${i}`, publicKey: keyOf(i), nat, decisions, at };
}

export function hubState(handshakes: Array<[number, number]>, at = 1): DataplaneState {
  return {
    node: 'registry',
    driver: 'uapi',
    device: 'wg0',
    publicKey: HUB_KEY,
    listenPort: 51820,
    peers: handshakes.map(([i, hs]) => ({ publicKey: keyOf(i), endpoint: null, allowedIps: [], latestHandshake: hs, rxBytes: 0, txBytes: 0, persistentKeepalive: 0 })),
    at,
  };
}

/**
 * A mesh of `n` members, every pair decided by its leader: pair (i, j) is `path(i, j)` (default
 * direct). Every member shook hands with the hub at `handshake`. With `live`, changes from then
 * on are events.
 */
export function syntheticMesh(
  n: number,
  opts: { path?: (i: number, j: number) => 'direct' | 'relayed' | 'trying'; handshake?: number; now?: () => number; live?: boolean } = {},
): MeshMap {
  const map = new MeshMap({ mesh: 'synthetic', registry: REGISTRY, now: opts.now });
  map.peers({ type: 'reset', revision: n, peers: Array.from({ length: n }, (_, i) => memberRecord(i, { latestHandshake: opts.handshake ?? 0 })) });
  const path = opts.path ?? (() => 'direct');
  for (let i = 0; i < n; i++) {
    const decisions: PathDecision[] = [];
    for (let j = i + 1; j < n; j++) decisions.push(decision(j, path(i, j), 1_000_000 + i * n + j));
    map.pathReport(`m${i}`, pathReport(i, decisions));
  }
  if (opts.live) map.live();
  return map;
}
