import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { ContractError, type DataplaneStateUpdate, PathReport, type PathsGetRequest, Patterns, type PeerEvent, type PunchMessage, senderOfSubject } from '@wgmesh/contracts';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { NatProbeService } from './nat-probe.service';

/**
 * nat-probe's NATS edge on a member: peer events, this node's device state updates, the leaders'
 * decisions and the punch messages addressed to this node in; `node.<id>.paths.get` answered. The transport hands each
 * handler the payload its contract checked (a bad one is refused and counted there and changes
 * nothing); a check only a handler can make throws a ContractError, counted the same way.
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class NatProbeController {
  constructor(private readonly probe: NatProbeService) {}

  @EventPattern(Patterns.peerEvents)
  onPeerEvent(@Payload() event: PeerEvent): void {
    this.probe.handlePeerEvent(event);
  }

  @EventPattern(Patterns.dataplaneState)
  onState(@Payload() update: DataplaneStateUpdate): void {
    this.probe.handleState(update);
  }

  /** The leaders' decisions about this node (the subject's last token names the sender: a report for another key is refused). */
  @EventPattern(Patterns.pathsTo, { from: '*' })
  onLeaderDecision(@Payload() report: PathReport, @Ctx() ctx: NatsContext): void {
    const node = senderOfSubject(Patterns.pathsTo, ctx.getSubject(), this.probe.mesh);
    if (!node || this.probe.handlePathReport(report, node)) return;
    throw new ContractError('publicKey', `a path decision that is not from the key enrolled under node ${node} (${report.publicKey})`);
  }

  /** Punch messages addressed to this node: offers, and answers to its own (the subject's last token names the sender). */
  @EventPattern(Patterns.punch, { from: '*' })
  async onPunch(@Payload() message: PunchMessage, @Ctx() ctx: NatsContext): Promise<void> {
    const node = senderOfSubject(Patterns.punch, ctx.getSubject(), this.probe.mesh);
    if (node) await this.probe.handlePunch(message, node);
  }

  @MessagePattern(Patterns.pathsGet)
  paths(@Payload() request: PathsGetRequest): PathReport {
    return this.probe.current(request);
  }
}
