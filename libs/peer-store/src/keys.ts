import { parseName } from '@wgmesh/contracts';

/** The Redis keys of one mesh's peer table. Only peer-store reads or writes them. */
export interface PeerStoreKeys {
  /** Hash: publicKey → canonical JSON of the PeerRecord. */
  readonly peers: string;
  /** String: integer revision, incremented once per change, absent (0) for an empty history. */
  readonly revision: string;
}

export function peerStoreKeys(mesh: string): PeerStoreKeys {
  const name = parseName(mesh, 'mesh');
  return { peers: `wgmesh:${name}:peers`, revision: `wgmesh:${name}:revision` };
}
