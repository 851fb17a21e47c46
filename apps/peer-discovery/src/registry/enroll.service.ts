import { Inject, Injectable } from '@nestjs/common';
import { DataplaneApplyRequest, EnrollReply, EnrollRequest, ErrorReply, MemberRemoveReply, MemberRemoveRequest, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshBus, NO_REPLY, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { checkPossession, ClaimRefusal, enrollFields, hubPeer, MemberRecord, TokenRefusal } from '@wgmesh/registry';
import { isPublicKey } from '@wgmesh/nats-auth';
import type { SecretKey } from '@wgmesh/wireguard';
import { registryAddress, type PeerDiscoveryConfig } from '../config';
import { BUS, CONFIG, HUB_KEY, LOGGER } from '../tokens';
import { CredentialsService } from './credentials.service';
import { HubWatchService } from './hub-watch.service';
import { RegistryStores } from './registry.stores';

const TOKEN_REFUSALS: Record<TokenRefusal, string> = {
  unknown: 'the token is not known (mistyped, revoked, or for another mesh)',
  expired: 'the token has expired; create a new one with "wgmesh registry token create"',
  already_used: 'the token was single-use and has already been used by another key',
  invalid_proof: 'the proof of the token does not verify (another token, or a request changed on the way)',
};

/** Reply codes of claims the member can do nothing about by retrying, except `busy`. */
const CLAIM_CODES: Record<ClaimRefusal, string> = { name_taken: 'name_taken', key_taken: 'key_taken', mesh_full: 'mesh_full', busy: 'busy', cidr_changed: 'internal' };

/** How long the hub's dataplane-programmer may take to add a peer. */
const APPLY_TIMEOUT_MS = 5000;

/** The hub device's key pair: the public key members enrol against, the private one checks their proofs (never logged, never sent). */
export interface HubKey {
  publicKey: string;
  privateKey: SecretKey;
}

/**
 * Enrolment, in order, each step refusing with a reason and changing nothing:
 * 1. the name is a valid node id other than this registry's own (contracts refused reserved ones);
 * 2. the request proves possession of the WireGuard private key of the key it enrols, and is fresh;
 * 3. its nonce was never seen (no replay of a captured request);
 * 4. it proves the token (one use counted);
 * 5. one atomic claim in the store of record binds name, key, address and NATS key;
 * 6. the hub's dataplane-programmer adds the member (its guard checks the store again);
 * 7. the reply carries the address and a NATS credential that expires.
 * A failure after step 4 gives a single-use token back; after step 5 a new claim is released.
 */
@Injectable()
export class EnrollService {
  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(BUS) private readonly bus: MeshBus,
    private readonly stores: RegistryStores,
    private readonly hub: HubWatchService,
    private readonly credentials: CredentialsService,
    @Inject(HUB_KEY) private readonly hubKey: HubKey | null,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async enroll(req: EnrollRequest): Promise<EnrollReply | ErrorReply | typeof NO_REPLY> {
    // Addressed to another registry of the mesh (its hub key): that one answers, not this one.
    if (req.registry !== undefined && this.hubKey && req.registry !== this.hubKey.publicKey) return NO_REPLY;
    const state = this.stores.enrolment;
    if (!state || !this.config.publicEndpoint || !this.config.meshCidr || !this.hubKey) {
      return refuse('enrollment_disabled', 'this registry does not enrol members (it runs without --mesh-cidr and --public-endpoint)');
    }
    const log = this.log.child({ publicKey: req.publicKey, name: req.name });
    const refused = (code: string, message: string) => {
      log.warn('enrolment refused', { code, reason: message });
      return refuse(code, message);
    };
    if (req.name === this.config.registryNode) return refused('invalid_request', `name: "${req.name}" is reserved: it is this registry's own node id; choose another name`);
    if (req.publicKey === this.hubKey.publicKey) return refused('enrollment_refused', "that is the registry's own public key");
    if (this.credentials.enabled && !req.natsKey) return refused('enrollment_refused', "this registry's NATS needs authentication: the request must carry the member's NATS key (natsKey); upgrade the member");
    if (req.natsKey !== undefined && !isPublicKey(req.natsKey, 'user')) return refused('invalid_request', 'natsKey: not a NATS user public key (bad checksum)');

    const fields = enrollFields(this.config.mesh, req);
    const possession = checkPossession(this.hubKey.privateKey, this.hubKey.publicKey, fields, req.possession.mac);
    if (!possession.ok) return refused(possession.reason === 'stale' ? 'stale_request' : 'not_key_holder', possession.message);
    if (!(await state.nonces.first(req.possession.nonce))) return refused('replayed', 'this request was seen before (same nonce): a captured request is not accepted twice');

    const consumed = await state.tokens.consumeProof(req.proof, fields);
    if (!consumed.ok) return refused('enrollment_refused', TOKEN_REFUSALS[consumed.reason]);
    const giveBack = () => state.tokens.unconsume(req.proof.id, req.publicKey);

    const claim = await state.membership.claim({ name: req.name, publicKey: req.publicKey, natsKey: req.natsKey, tokenId: consumed.token.id });
    if (!claim.ok) {
      await giveBack();
      return refused(CLAIM_CODES[claim.code], claim.message);
    }
    const member = claim.member;
    const prefix = state.plan.hostPrefix(member.address);
    // Known to the watcher first, so no read in between publishes the new hub peer without its name.
    this.hub.setMember(member);
    const apply: DataplaneApplyRequest = { replace: false, peers: [hubPeer(member, prefix, member.endpoint ?? null, this.config.hubKeepalive)] };
    try {
      await this.bus.request(Patterns.dataplaneApply, apply, (v) => v, { node: this.config.registryNode, timeoutMs: APPLY_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
      await giveBack();
      if (claim.created) {
        this.hub.forget(member.publicKey);
        await state.membership.remove(member.name);
      }
      log.error('enrolment failed: the hub device could not be changed', { registryNode: this.config.registryNode, error: err.message });
      return refuse('dataplane_unavailable', `the registry could not add the peer to its device: ${err.message}`);
    }
    await this.credentials.readmit(req.natsKey);
    // Enrolled again with another NATS key (its seed was lost, or stolen): the old one's credential goes.
    if (claim.replacedNatsKey) await this.credentials.revoke(member.name, claim.replacedNatsKey);
    this.hub.pokeSoon(); // publish the new peer within ~50 ms rather than at the next tick (enrolments meanwhile share the read)
    log.info(claim.created ? 'member enrolled' : 'member enrolled again', { address: prefix, tokenId: consumed.token.id, natsCredential: this.credentials.enabled });
    const reply: EnrollReply = {
      address: prefix,
      meshCidr: this.config.meshCidr,
      registry: { publicKey: this.hubKey.publicKey, endpoint: this.config.publicEndpoint, address: registryAddress(this.config)! },
    };
    // Several registries: the member peers with each (this one is among them), as the store of
    // record lists them (the hub watcher keeps the list current; not read again per enrolment).
    if (state.known.length > 1) reply.registries = state.known.map(({ id, publicKey, endpoint, address }) => ({ id, publicKey, endpoint, address }));
    // The member's NATS credential: its node's subjects only, usable only from its tunnel address, expiring.
    const natsJwt = req.natsKey ? this.credentials.issue(member.name, req.natsKey, prefix) : undefined;
    if (natsJwt) reply.natsJwt = natsJwt;
    return reply;
  }

  /**
   * Removes a member: hub peer, membership (name, key, address), NATS credential (revoked). The
   * watcher publishes the removal. Without enrolment, a peer of the operator's device.
   */
  async remove(req: MemberRemoveRequest): Promise<MemberRemoveReply | ErrorReply> {
    const state = this.stores.enrolment;
    const member: MemberRecord | null = state ? await state.membership.find(req.member) : null;
    const onHub = this.hub.table().find((p) => p.publicKey === req.member || p.name === req.member || p.allowedIps.some((c) => c.replace(/\/\d+$/, '') === req.member));
    const publicKey = member?.publicKey ?? onHub?.publicKey;
    if (!publicKey) return refuse('not_found', `no member or hub peer is known as "${req.member}"`);
    // The watcher stops keeping it on the hub first: no repair may put it back after the removal.
    this.hub.forget(publicKey);
    try {
      await this.bus.request(Patterns.dataplaneApply, { replace: false, peers: [], remove: [publicKey] } satisfies DataplaneApplyRequest, (v) => v, {
        node: this.config.registryNode,
        timeoutMs: APPLY_TIMEOUT_MS,
      });
    } catch (err) {
      if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
      if (member) this.hub.setMember(member);
      return refuse('dataplane_unavailable', `the registry could not remove the peer from its device: ${err.message}`);
    }
    if (member && state) {
      await state.membership.remove(member.name);
      await this.credentials.revoke(member.name, member.natsKey);
    }
    await this.hub.poke();
    this.log.info('member removed', { publicKey, name: member?.name, address: member?.address, credentialRevoked: Boolean(member?.natsKey && this.credentials.enabled) });
    return { publicKey, name: member?.name ?? onHub?.name ?? null, address: member?.address ?? null };
  }
}

function refuse(code: string, message: string): ErrorReply {
  return { error: { code, message } };
}
