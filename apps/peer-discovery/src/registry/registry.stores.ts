import { PeerStore } from '@wgmesh/peer-store';
import { AddressAllocator, MemberDirectory, TokenStore } from '@wgmesh/registry';

/** The registry's Redis-backed state, one instance of each per process. */
export class RegistryStores {
  constructor(
    readonly peers: PeerStore,
    readonly tokens: TokenStore,
    readonly members: MemberDirectory,
    /** Null when enrolment is off (no --mesh-cidr). */
    readonly addresses: AddressAllocator | null,
  ) {}
}
