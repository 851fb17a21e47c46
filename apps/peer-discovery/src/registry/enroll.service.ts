import { Inject, Injectable } from '@nestjs/common';
import { DataplaneApplyRequest, EnrollReply, EnrollRequest, ErrorReply, MemberRemoveReply, MemberRemoveRequest, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshBus, RemoteError, RequestError } from '@wgmesh/nats-transport';
import { AllocatorError, TokenRefusal } from '@wgmesh/registry';
import { isPublicKey, Issuer, loadIssuer } from '@wgmesh/nats-auth';
import { registryAddress, type PeerDiscoveryConfig } from '../config';
import { BUS, CONFIG, LOGGER } from '../tokens';
import { HubWatchService } from './hub-watch.service';
import { RegistryStores } from './registry.stores';

const REFUSALS: Record<TokenRefusal, string> = {
  unknown: 'the token is not known (mistyped, revoked, or for another mesh)',
  expired: 'the token has expired; create a new one with "wgmesh registry token create"',
  already_used: 'the token was single-use and has already been used by another key',
  invalid_proof: 'the proof of the token does not verify (another token, or a request changed on the way)',
};

/** How long the hub's dataplane-programmer may take to add a peer. */
const APPLY_TIMEOUT_MS = 5000;

/**
 * Enrolment: token → address → hub peer → member record → reply. A refusal changes nothing; a
 * failure after the token check gives a single-use token back and frees a new address.
 */
@Injectable()
export class EnrollService {
  /** Issues members' NATS credentials when the registry runs NATS with authentication (--nats-auth). */
  private readonly issuer?: Issuer;

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(BUS) private readonly bus: MeshBus,
    private readonly stores: RegistryStores,
    private readonly hub: HubWatchService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.issuer = config.natsAuth ? loadIssuer(config.natsAuth) : undefined;
    if (this.issuer && this.issuer.mesh !== config.mesh) throw new Error(`--nats-auth ${config.natsAuth} is the authority of mesh "${this.issuer.mesh}", not "${config.mesh}"`);
  }

  async enroll(req: EnrollRequest): Promise<EnrollReply | ErrorReply> {
    const allocator = this.stores.addresses;
    const hubKey = this.hub.publicKey;
    if (!allocator || !this.config.publicEndpoint || !this.config.meshCidr) {
      return refuse('enrollment_disabled', 'this registry does not enrol members (it runs without --mesh-cidr and --public-endpoint)');
    }
    if (!hubKey) return refuse('unavailable', 'the registry has not read its hub device yet; try again');
    if (req.publicKey === hubKey) return refuse('enrollment_refused', "that is the registry's own public key");
    const log = this.log.child({ publicKey: req.publicKey, name: req.name });
    if (this.issuer && !req.natsKey) return refuse('enrollment_refused', "this registry's NATS needs authentication: the request must carry the member's NATS key (natsKey); upgrade the member");
    if (req.natsKey !== undefined && !isPublicKey(req.natsKey, 'user')) return refuse('invalid_request', 'natsKey: not a NATS user public key (bad checksum)');

    const tokens = this.stores.tokens;
    const fields = { mesh: this.config.mesh, publicKey: req.publicKey, name: req.name, natsKey: req.natsKey };
    const consumed = req.proof ? await tokens.consumeProof(req.proof, fields) : await tokens.consume(req.token ?? '', req.publicKey);
    if (!consumed.ok) {
      log.warn('enrolment refused', { reason: consumed.reason });
      return refuse('enrollment_refused', REFUSALS[consumed.reason]);
    }
    const giveBack = () => (req.proof ? tokens.unconsumeHash(req.proof.id, req.publicKey) : tokens.unconsume(req.token ?? '', req.publicKey));

    const sameName = (await this.stores.members.list()).find((m) => m.name === req.name && m.publicKey !== req.publicKey);
    if (sameName) {
      await giveBack();
      log.warn('enrolment refused: name taken', { holder: sameName.publicKey });
      return refuse('name_taken', `the name "${req.name}" belongs to another member (${sameName.publicKey}); choose another --name or remove that member`);
    }

    const existing = await allocator.lookup(req.publicKey);
    let address: string;
    try {
      address = await allocator.allocate(req.publicKey);
    } catch (err) {
      await giveBack();
      if (!(err instanceof AllocatorError)) throw err;
      log.error('enrolment failed: no address', { error: err.message });
      return refuse(err.code === 'full' ? 'mesh_full' : 'internal', err.message);
    }
    const prefix = `${address}/${address.includes(':') ? 128 : 32}`;

    const apply: DataplaneApplyRequest = { replace: false, peers: [{ publicKey: req.publicKey, endpoint: null, allowedIps: [prefix] }] };
    try {
      await this.bus.request(Patterns.dataplaneApply, apply, (v) => v, { node: this.config.registryNode, timeoutMs: APPLY_TIMEOUT_MS });
    } catch (err) {
      await giveBack();
      if (existing === null) await allocator.release(req.publicKey);
      if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
      log.error('enrolment failed: the hub device could not be changed', { registryNode: this.config.registryNode, error: err.message });
      return refuse('dataplane_unavailable', `the registry could not add the peer to its device: ${err.message}`);
    }

    await this.stores.members.put({ publicKey: req.publicKey, name: req.name, address, enrolledAt: Date.now(), tokenId: consumed.token.id });
    this.hub.setMember(req.publicKey, { name: req.name });
    void this.hub.poke(); // publish the new peer now rather than at the next tick
    log.info(existing === null ? 'member enrolled' : 'member enrolled again', { address: prefix, tokenId: consumed.token.id, natsCredential: Boolean(this.issuer) });
    const reply: EnrollReply = {
      address: prefix,
      meshCidr: this.config.meshCidr,
      registry: { publicKey: hubKey, endpoint: this.config.publicEndpoint, address: registryAddress(this.config)! },
    };
    // The member's NATS credential: its node's subjects only, usable only from its tunnel address
    // (which WireGuard gives only to its key: removing the member at the hub revokes it too).
    if (this.issuer && req.natsKey) reply.natsJwt = this.issuer.memberJwt(req.name, req.natsKey, { src: [prefix] });
    return reply;
  }

  /** Removes a member: hub peer, address, enrolment record. The watcher publishes the removal. */
  async remove(req: MemberRemoveRequest): Promise<MemberRemoveReply | ErrorReply> {
    const member = await this.stores.members.find(req.member);
    const onHub = this.hub.table().find((p) => p.publicKey === req.member || p.name === req.member);
    const publicKey = member?.publicKey ?? onHub?.publicKey;
    if (!publicKey) return refuse('not_found', `no member or hub peer is known as "${req.member}"`);
    try {
      await this.bus.request(Patterns.dataplaneApply, { replace: false, peers: [], remove: [publicKey] } satisfies DataplaneApplyRequest, (v) => v, {
        node: this.config.registryNode,
        timeoutMs: APPLY_TIMEOUT_MS,
      });
    } catch (err) {
      if (!(err instanceof RequestError || err instanceof RemoteError)) throw err;
      return refuse('dataplane_unavailable', `the registry could not remove the peer from its device: ${err.message}`);
    }
    const address = (await this.stores.addresses?.release(publicKey)) ?? member?.address ?? null;
    await this.stores.members.remove(publicKey);
    this.hub.setMember(publicKey, undefined);
    await this.hub.poke();
    this.log.info('member removed', { publicKey, name: member?.name, address });
    return { publicKey, name: member?.name ?? null, address };
  }
}

function refuse(code: string, message: string): ErrorReply {
  return { error: { code, message } };
}
