import { parseName } from '@wgmesh/contracts';

/**
 * The Redis keys of the registry's enrolment state for one mesh (the peer table itself is
 * peer-store's). Each key is read and written by one class of this library only.
 */
export interface RegistryKeys {
  /** Hash: SHA-256 (hex) of a pre-auth token → JSON of its `StoredToken` (TokenStore). */
  readonly tokens: string;
  /** Hash: public key → host offset in the mesh CIDR (AddressAllocator). */
  readonly addressByKey: string;
  /** Hash: host offset → public key (AddressAllocator). */
  readonly keyByAddress: string;
  /** Hash: `cidr` the offsets are relative to, `next` offset to try (AddressAllocator). */
  readonly addressMeta: string;
  /** Hash: public key → JSON of its `MemberRecord` (MemberDirectory). */
  readonly members: string;
}

export function registryKeys(mesh: string): RegistryKeys {
  const m = parseName(mesh, 'mesh');
  return {
    tokens: `wgmesh:${m}:tokens`,
    addressByKey: `wgmesh:${m}:addresses:by-key`,
    keyByAddress: `wgmesh:${m}:addresses:by-offset`,
    addressMeta: `wgmesh:${m}:addresses:meta`,
    members: `wgmesh:${m}:members`,
  };
}
