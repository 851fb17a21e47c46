import { canonicalCidr, canonicalIp } from '@wgmesh/netaddr';
import { parseName, parseNodeId } from './names';
import { parsePeerEndpoint, parsePublicKey } from './peer';
import { ContractError, field, integer, object, string } from './validate';

/**
 * `enroll` request: a member asks to join with its public key. It proves two things and sends
 * neither secret: that it holds a pre-auth token (`proof`), and that it holds the private key of
 * `publicKey` (`possession`). Both are computed over the same canonical text of the whole request
 * (mesh, public key, name, NATS key, token id, time, nonce; libs/registry enroll-proof), so
 * changing any field on the way breaks both. The raw token is refused.
 */
export interface EnrollRequest {
  publicKey: string;
  /** The member's name; also its node id in `node.<id>.…` subjects (a valid, unreserved node id). */
  name: string;
  /**
   * Proof of holding the token without sending it: `id` is the token's SHA-256 (hex, what the
   * registry keys tokens by), `sig` an ed25519 signature (base64) by the key derived from the
   * token over the request's canonical text.
   */
  proof: { id: string; sig: string };
  /**
   * Proof of possession of the WireGuard private key of `publicKey`: `mac` is an HMAC-SHA256
   * (base64) over the request's canonical text, keyed from the X25519 shared secret of the
   * member's private key and the registry's public key (the registry recomputes it with its
   * own private key). `at` (unix ms) must be within the registry's window, `nonce` (16 random
   * bytes, base64) is accepted once.
   */
  possession: { at: number; nonce: string; mac: string };
  /**
   * The public NATS user key (nkey, "U…") the member will connect with; its seed stays on the
   * node. With it, a registry that runs NATS with authentication answers with `natsJwt`.
   */
  natsKey?: string;
  /**
   * The public key of the registry hub this request is for (the key `possession` was made
   * against). A mesh with several registries has every one of them subscribed to `enroll`: only
   * the one whose hub key this is answers, the others stay silent. Absent: any registry answers
   * (one registry, or an older member).
   */
  registry?: string;
}

/** One registry of the mesh, as members peer with it (see EnrollReply.registries). */
export interface RegistryInfo {
  /** Its node id (its hub's dataplane-programmer): "registry", "registry-b", … */
  id: string;
  publicKey: string;
  endpoint: string;
  /** Its tunnel address (NATS and DNS-SD over the tunnel). */
  address: string;
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
  /**
   * Every registry of the mesh (the one that answered among them), in the mesh's preference
   * order: a member peers with each, and routes the mesh CIDR (the relay) through the first one
   * that is alive. Absent or one entry: a mesh with one registry.
   */
  registries?: RegistryInfo[];
}

/** At most this many registries in an enrolment reply. */
export const MAX_REGISTRIES = 8;

export function parseEnrollRequest(value: unknown): EnrollRequest {
  if (typeof value === 'object' && value !== null && 'token' in value) {
    throw new ContractError('token', 'the raw token is never accepted (it would cross the network): send "proof", made from the token, and "possession"; upgrade the member');
  }
  const o = object(value, '', ['publicKey', 'proof', 'possession', 'name', 'natsKey', 'registry']);
  const p = object(o.proof, 'proof', ['id', 'sig']);
  const id = string(p.id, 'proof.id', 64);
  const sig = string(p.sig, 'proof.sig', 88);
  if (!/^[0-9a-f]{64}$/.test(id)) throw new ContractError('proof.id', 'must be 64 lowercase hex digits (SHA-256)');
  if (!/^[A-Za-z0-9+/]{86}==$/.test(sig)) throw new ContractError('proof.sig', 'must be a base64 ed25519 signature (64 bytes)');
  const k = object(o.possession, 'possession', ['at', 'nonce', 'mac']);
  const nonce = string(k.nonce, 'possession.nonce', 24);
  const mac = string(k.mac, 'possession.mac', 44);
  if (!/^[A-Za-z0-9+/]{22}==$/.test(nonce)) throw new ContractError('possession.nonce', 'must be 16 random bytes, base64');
  if (!/^[A-Za-z0-9+/]{43}=$/.test(mac)) throw new ContractError('possession.mac', 'must be a base64 HMAC-SHA256 (32 bytes)');
  const req: EnrollRequest = {
    publicKey: parsePublicKey(o.publicKey, 'publicKey'),
    name: parseNodeId(o.name, 'name'),
    proof: { id, sig },
    possession: { at: integer(k.at, 'possession.at', 0, 8.64e15), nonce, mac },
  };
  if (o.natsKey !== undefined) req.natsKey = parseNatsUserKey(o.natsKey, 'natsKey');
  if (o.registry !== undefined) req.registry = parsePublicKey(o.registry, 'registry');
  return req;
}

/** A NATS user public key: "U" and 55 base32 characters (the checksum is checked where it is used). */
export function parseNatsUserKey(value: unknown, path: string): string {
  const s = string(value, path, 56);
  if (!/^U[A-Z2-7]{55}$/.test(s)) throw new ContractError(path, 'must be a NATS user public key (U and 55 base32 characters)');
  return s;
}

export function parseEnrollReply(value: unknown): EnrollReply {
  const o = object(value, '', ['address', 'meshCidr', 'registry', 'natsJwt', 'registries']);
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
  if (o.natsJwt !== undefined) reply.natsJwt = parseJwt(o.natsJwt, 'natsJwt');
  if (o.registries !== undefined) reply.registries = parseRegistries(o.registries, 'registries');
  return reply;
}

/** A list of registries (enrolment reply, a member's enrollment.json): unique ids, keys and addresses. */
export function parseRegistries(value: unknown, path: string): RegistryInfo[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_REGISTRIES) throw new ContractError(path, `must be a list of 1-${MAX_REGISTRIES} registries`);
  const list = value.map((item, i) => parseRegistryInfo(item, `${path}[${i}]`));
  for (const k of ['id', 'publicKey', 'address'] as const) {
    if (new Set(list.map((r) => r[k])).size !== list.length) throw new ContractError(path, `two registries have the same ${k}`);
  }
  return list;
}

/** `registries.events` and the `registries.get` reply: the mesh's registries, in preference order. */
export interface RegistriesMessage {
  registries: RegistryInfo[];
}

export function parseRegistriesMessage(value: unknown): RegistriesMessage {
  const o = object(value, '', ['registries']);
  return { registries: parseRegistries(o.registries, 'registries') };
}

/** `registries.get` request: nothing to ask but the list. */
export type RegistriesRequest = Record<string, never>;

export function parseRegistriesRequest(value: unknown): RegistriesRequest {
  object(value, '', []);
  return {};
}

export function parseRegistryInfo(value: unknown, path: string): RegistryInfo {
  const r = object(value, path, ['id', 'publicKey', 'endpoint', 'address']);
  return {
    id: parseName(r.id, `${path}.id`),
    publicKey: parsePublicKey(r.publicKey, `${path}.publicKey`),
    endpoint: parsePeerEndpoint(r.endpoint, `${path}.endpoint`),
    address: field(`${path}.address`, () => canonicalIp(string(r.address, `${path}.address`, 64))),
  };
}

/**
 * `node.<id>.credential` request: a member asks for a fresh NATS credential before its own
 * expires (over the tunnel, with the credential it still has). The registry answers only on the
 * member's own subject, for the NATS key enrolled under that name.
 */
export interface CredentialRequest {
  /** The member's NATS user public key (as enrolled). */
  natsKey: string;
}

/** `node.<id>.credential` reply: the new user JWT, issued to the same key. */
export interface CredentialReply {
  natsJwt: string;
}

export function parseCredentialRequest(value: unknown): CredentialRequest {
  const o = object(value, '', ['natsKey']);
  return { natsKey: parseNatsUserKey(o.natsKey, 'natsKey') };
}

export function parseCredentialReply(value: unknown): CredentialReply {
  const o = object(value, '', ['natsJwt']);
  return { natsJwt: parseJwt(o.natsJwt, 'natsJwt') };
}

function parseJwt(value: unknown, path: string): string {
  const jwt = string(value, path, 8192);
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jwt)) throw new ContractError(path, 'must be a JWT (three base64url parts)');
  return jwt;
}
