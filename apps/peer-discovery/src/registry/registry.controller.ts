import { Controller, Inject, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { CredentialReply, type CredentialRequest, EnrollReply, type EnrollRequest, ErrorReply, MemberRemoveReply, type MemberRemoveRequest, type NatReport, nodeOfSubject, Patterns, PeerSnapshot, RegistriesMessage, type SnapshotRequest } from '@wgmesh/contracts';
import { MeshExceptionFilter, NO_REPLY } from '@wgmesh/nats-transport';
import { meshMetrics } from '@wgmesh/telemetry';
import type { PeerDiscoveryConfig } from '../config';
import { CONFIG } from '../tokens';
import { CredentialsService } from './credentials.service';
import { EnrollService } from './enroll.service';
import { HubWatchService } from './hub-watch.service';
import { NatFeedService } from './nat-feed.service';
import { RegistryStores } from './registry.stores';

/**
 * The queue group of requests any one registry of a mesh answers for all (the snapshot from the
 * shared Redis, a removal, a renewal): with several registries exactly one gets each request.
 * Enrolment is not among them: it is for the registry whose hub key the member proved against.
 */
export const REGISTRY_QUEUE = 'wgmesh-registry';

/** Default page size of `peers.snapshot`. */
export const SNAPSHOT_PAGE = 500;

/** The registry's request/reply subjects: each handler gets the payload its contract checked (at the transport), then calls a service. */
@Controller()
@UseFilters(MeshExceptionFilter)
export class RegistryController {
  constructor(
    private readonly stores: RegistryStores,
    private readonly enrolment: EnrollService,
    private readonly nat: NatFeedService,
    private readonly hub: HubWatchService,
    private readonly credentials: CredentialsService,
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
  ) {}

  /** The mesh's registries as the store of record lists them: a member enrolled before one was added learns it here. */
  @MessagePattern(Patterns.registriesGet, { queue: REGISTRY_QUEUE })
  registries(): RegistriesMessage | ErrorReply {
    const known = this.stores.enrolment?.known ?? [];
    if (known.length === 0) return { error: { code: 'enrollment_disabled', message: 'this registry enrols no members: it keeps no list of registries' } };
    return { registries: this.hub.registryList() };
  }

  /**
   * A page of the table. Never an older table than the one already published: if Redis lost it
   * (flushed, or restarted empty) and the watcher has not written it back yet, it does so now
   * (or the request fails and the member retries), so no member replaces its peers with nothing.
   */
  @MessagePattern(Patterns.peerSnapshot, { queue: REGISTRY_QUEUE })
  async snapshot(@Payload() req: SnapshotRequest): Promise<PeerSnapshot> {
    const page = () => this.stores.peers.snapshotPage(req.cursor ?? 0, req.limit ?? SNAPSHOT_PAGE);
    const first = await page();
    if (first.revision >= this.hub.publisher.revision) return first;
    await this.hub.poke();
    const second = await page();
    if (second.revision < this.hub.publisher.revision) throw new Error(`the peer table is being rebuilt in Redis (it has revision ${second.revision}, the registry published ${this.hub.publisher.revision}); retry`);
    return second;
  }

  @MessagePattern(Patterns.enroll)
  async enroll(@Payload() request: EnrollRequest): Promise<EnrollReply | ErrorReply | typeof NO_REPLY> {
    const reply = await this.enrolment.enroll(request);
    if (reply === NO_REPLY) return reply; // for another registry of the mesh
    meshMetrics.enrolments().inc({ result: 'error' in reply ? reply.error.code : 'enrolled' });
    return reply;
  }

  /** Every member's NAT report; a bad one is counted and logged by the transport, and changes nothing. */
  @EventPattern(Patterns.nat, { node: '*' })
  async natReport(@Payload() report: NatReport, @Ctx() ctx: NatsContext): Promise<void> {
    await this.nat.report(report, ctx.getSubject());
  }

  /** A member renews its NATS credential; the subject says which member (only it may publish there). */
  @MessagePattern(Patterns.credential, { node: '*', queue: REGISTRY_QUEUE })
  async renewCredential(@Payload() req: CredentialRequest, @Ctx() ctx: NatsContext): Promise<CredentialReply | ErrorReply> {
    const node = nodeOfSubject(ctx.getSubject(), this.config.mesh);
    if (!node) return { error: { code: 'invalid_request', message: 'not a node subject' } };
    return this.credentials.renew(node, req);
  }

  @MessagePattern(Patterns.memberRemove, { queue: REGISTRY_QUEUE })
  removeMember(@Payload() request: MemberRemoveRequest): Promise<MemberRemoveReply | ErrorReply> {
    return this.enrolment.remove(request);
  }
}
