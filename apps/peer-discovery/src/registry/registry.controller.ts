import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { EnrollReply, ErrorReply, MemberRemoveReply, parseEnrollRequest, parseMemberRemoveRequest, parseNatReport, parseSnapshotRequest, Patterns, PeerSnapshot } from '@wgmesh/contracts';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { EnrollService } from './enroll.service';
import { NatFeedService } from './nat-feed.service';
import { RegistryStores } from './registry.stores';

/** Default page size of `peers.snapshot`. */
export const SNAPSHOT_PAGE = 500;

/** The registry's request/reply subjects: each handler validates, then calls a service. */
@Controller()
@UseFilters(MeshExceptionFilter)
export class RegistryController {
  constructor(
    private readonly stores: RegistryStores,
    private readonly enrolment: EnrollService,
    private readonly nat: NatFeedService,
  ) {}

  @MessagePattern(Patterns.peerSnapshot)
  snapshot(@Payload() value: unknown): Promise<PeerSnapshot> {
    const req = parseSnapshotRequest(value);
    return this.stores.peers.snapshotPage(req.cursor ?? 0, req.limit ?? SNAPSHOT_PAGE);
  }

  @MessagePattern(Patterns.enroll)
  enroll(@Payload() value: unknown): Promise<EnrollReply | ErrorReply> {
    return this.enrolment.enroll(parseEnrollRequest(value));
  }

  /** Every member's NAT report; a bad one is counted and logged by the transport, and changes nothing. */
  @EventPattern(Patterns.nat, { node: '*' })
  async natReport(@Payload() value: unknown, @Ctx() ctx: NatsContext): Promise<void> {
    await this.nat.report(parseNatReport(value), ctx.getSubject());
  }

  @MessagePattern(Patterns.memberRemove)
  removeMember(@Payload() value: unknown): Promise<MemberRemoveReply | ErrorReply> {
    return this.enrolment.remove(parseMemberRemoveRequest(value));
  }
}
