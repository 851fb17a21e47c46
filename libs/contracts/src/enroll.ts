import { canonicalCidr, canonicalIp } from '@wgmesh/netaddr';
import { parseName } from './names';
import { parsePeerEndpoint, parsePublicKey } from './peer';
import { ContractError, field, object, string } from './validate';

/** `enroll` request: a member asks to join with its public key and a pre-auth token. */
export interface EnrollRequest {
  publicKey: string;
  /**
   * The pre-auth token itself (legacy: it then travels over NATS). Current members send `proof`
   * instead; exactly one of the two is given.
   */
  token?: string;
  /**
   * Proof of holding the token without sending it: `id` is the token's SHA-256 (hex, what the
   * registry keys tokens by), `sig` an ed25519 signature (base64) by the key derived from the
   * token over this request's mesh, public key, name and NATS key (see libs/registry
   * token-proof). A captured proof enrols nothing but this very request.
   */
  proof?: { id: string; sig: string };
  /** The member's name; also its node id in `node.<id>.…` subjects. */
  name: string;
  /**
   * The public NATS user key (nkey, "U…") the member will connect with; its seed stays on the
   * node. With it, a registry that runs NATS with authentication answers with `natsJwt`.
   */
  natsKey?: string;
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
  /**
   * The member's NATS user JWT, issued to `natsKey` with the member's permissions (its own
   * `node.<id>` subjects, peer events, the snapshot). Not a secret: it is useless without the seed.
   */
  natsJwt?: string;
}

export function parseEnrollRequest(value: unknown): EnrollRequest {
  const o = object(value, '', ['publicKey', 'token', 'proof', 'name', 'natsKey']);
  const req: EnrollRequest = {
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    name: parseName(o.name, 'name'),
  };
  if ((o.token === undefined) === (o.proof === undefined)) throw new ContractError('token', 'give exactly one of token and proof');
  if (o.token !== undefined) req.token = string(o.token, 'token', 128);
  if (o.proof !== undefined) {
    const p = object(o.proof, 'proof', ['id', 'sig']);
    const id = string(p.id, 'proof.id', 64);
    const sig = string(p.sig, 'proof.sig', 88);
    if (!/^[0-9a-f]{64}$/.test(id)) throw new ContractError('proof.id', 'must be 64 lowercase hex digits (SHA-256)');
    if (!/^[A-Za-z0-9+/]{86}==$/.test(sig)) throw new ContractError('proof.sig', 'must be a base64 ed25519 signature (64 bytes)');
    req.proof = { id, sig };
  }
  if (o.natsKey !== undefined) req.natsKey = parseNatsUserKey(o.natsKey, 'natsKey');
  return req;
}

/** A NATS user public key: "U" and 55 base32 characters (the checksum is checked where it is used). */
export function parseNatsUserKey(value: unknown, path: string): string {
  const s = string(value, path, 56);
  if (!/^U[A-Z2-7]{55}$/.test(s)) throw new ContractError(path, 'must be a NATS user public key (U and 55 base32 characters)');
  return s;
}

export function parseEnrollReply(value: unknown): EnrollReply {
  const o = object(value, '', ['address', 'meshCidr', 'registry', 'natsJwt']);
  const r = object(o.registry, 'registry', ['publicKey', 'endpoint', 'address']);
  const reply: EnrollReply = {
    address: field('address', () => canonicalCidr(string(o.address, 'address', 64))),
    meshCidr: field('meshCidr', () => canonicalCidr(string(o.meshCidr, 'meshCidr', 64))),
    registry: {
      publicKey: parsePublicKey(r.publicKey, 'registry.publicKey'),
      endpoint: parsePeerEndpoint(r.endpoint, 'registry.endpoint'),
      address: field('registry.address', () => canonicalIp(string(r.address, 'registry.address', 64))),
    },
  };
  if (o.natsJwt !== undefined) {
    const jwt = string(o.natsJwt, 'natsJwt', 8192);
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jwt)) throw new ContractError('natsJwt', 'must be a JWT (three base64url parts)');
    reply.natsJwt = jwt;
  }
  return reply;
}
