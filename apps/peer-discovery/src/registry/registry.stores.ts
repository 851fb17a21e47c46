import { PeerStore } from '@wgmesh/peer-store';
import type { AddressPlan, Membership, NonceBook, Revocations, TokenStore } from '@wgmesh/registry';

/** The registry's store of record (NATS JetStream KV), present when it enrols members. */
export interface EnrolmentState {
  plan: AddressPlan;
  membership: Membership;
  tokens: TokenStore;
  nonces: NonceBook;
  revocations: Revocations;
}

/** The registry's state: the peer table (the Redis cache members and the resolver read) and, with enrolment, the store of record. */
export class RegistryStores {
  constructor(
    readonly peers: PeerStore,
    /** Null without enrolment (no --mesh-cidr and --public-endpoint: an operator's device, as wgsd). */
    readonly enrolment: EnrolmentState | null,
  ) {}
}
