import { canonicalCidr, canonicalIp } from '@wgmesh/netaddr';
import { parseName } from './names';
import { parsePeerEndpoint, parsePublicKey } from './peer';
import { field, object, string } from './validate';

/** `enroll` request: a member asks to join with its public key and a pre-auth token. */
export interface EnrollRequest {
  publicKey: string;
  token: string;
  /** The member's name; also its node id in `node.<id>.…` subjects. */
  name: string;
}

/** `enroll` reply: the member's tunnel address and how to reach the registry. */
export interface EnrollReply {
  /** The member's tunnel address as a host prefix, e.g. "10.99.0.5/32". */
  address: string;
  meshCidr: string;
  registry: {
    publicKey: string;
    endpoint: string;
    /** The registry's own tunnel address (NATS and DNS-SD over the tunnel), e.g. "10.99.0.1". */
    address: string;
  };
}

export function parseEnrollRequest(value: unknown): EnrollRequest {
  const o = object(value, '', ['publicKey', 'token', 'name']);
  return {
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    token: string(o.token, 'token', 128),
    name: parseName(o.name, 'name'),
  };
}

export function parseEnrollReply(value: unknown): EnrollReply {
  const o = object(value, '', ['address', 'meshCidr', 'registry']);
  const r = object(o.registry, 'registry', ['publicKey', 'endpoint', 'address']);
  return {
    address: field('address', () => canonicalCidr(string(o.address, 'address', 64))),
    meshCidr: field('meshCidr', () => canonicalCidr(string(o.meshCidr, 'meshCidr', 64))),
    registry: {
      publicKey: parsePublicKey(r.publicKey, 'registry.publicKey'),
      endpoint: parsePeerEndpoint(r.endpoint, 'registry.endpoint'),
      address: field('registry.address', () => canonicalIp(string(r.address, 'registry.address', 64))),
    },
  };
}
