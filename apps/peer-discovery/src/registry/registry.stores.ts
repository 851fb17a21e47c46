import { PeerStore } from '@wgmesh/peer-store';
import type { KV } from 'nats';
import type { AddressPlan, Membership, NonceBook, PeerTableLease, RegistryBook, RegistryEntry, Revocations, TokenStore } from '@wgmesh/registry';

/** The registry's store of record (NATS JetStream KV), present when it enrols members. */
export interface EnrolmentState {
  plan: AddressPlan;
  membership: Membership;
  tokens: TokenStore;
  nonces: NonceBook;
  revocations: Revocations;
  /** The mesh's registries (this one included), in the store of record. */
  registries: RegistryBook;
  /** Every registry as of this one's start (preference order); kept current by the hub watcher. */
  known: RegistryEntry[];
  /** The bucket of the store of record (members and registries are watched in it). */
  kv: KV;
  /** The one-writer lease of the peer table (only its holder publishes). */
  lease: PeerTableLease;
}

/** The registry's state: the peer table (the Redis cache members and the resolver read) and, with enrolment, the store of record. */
export class RegistryStores {
  constructor(
    readonly peers: PeerStore,
    /** Null without enrolment (no --mesh-cidr and --public-endpoint: an operator's device, as wgsd). */
    readonly enrolment: EnrolmentState | null,
  ) {}
}
