import type { IpAddress } from '@wgmesh/netaddr';
import type { PeerEntry } from './peer-entry';

/**
 * The record model `answer()` returns and `encodeResponse()` writes. Names are lowercase
 * presentation names with a trailing dot (names.ts); TXT strings are ASCII.
 */
interface RecordBase {
  name: string;
  ttl: number;
}

export interface PtrRecord extends RecordBase {
  type: 'PTR';
  target: string;
}

export interface SrvRecord extends RecordBase {
  type: 'SRV';
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface AddressRecord extends RecordBase {
  /** A for an IPv4 address, AAAA for IPv6. */
  type: 'A' | 'AAAA';
  address: IpAddress;
}

export interface TxtRecord extends RecordBase {
  type: 'TXT';
  strings: readonly string[];
}

export interface SoaRecord extends RecordBase {
  type: 'SOA';
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export type ResourceRecord = PtrRecord | SrvRecord | AddressRecord | TxtRecord | SoaRecord;

/** What a question gets, before wire encoding. */
export interface Answer {
  rcode: number;
  /** AA: set for answers from within one of our zones. */
  authoritative: boolean;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
  /** The peer whose data the answer carries, if any: a cached copy is stale once it is retired. */
  peer: PeerEntry | null;
}
