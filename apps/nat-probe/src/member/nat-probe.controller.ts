import { Controller, Inject, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import { ContractError, nodeOfSubject, parseDataplaneState, parsePathReport, parsePathsGetRequest, parsePeerEvent, parsePunchMessage, PathReport, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { LOGGER } from '../tokens';
import { NatProbeService } from './nat-probe.service';

/**
 * nat-probe's NATS edge on a member: peer events, this node's device state, every member's
 * path reports and punch messages in (each validated; a bad one is counted, logged and changes
 * nothing); `node.<id>.paths.get` answered.
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class NatProbeController {
  rejected = 0;

  constructor(
    private readonly probe: NatProbeService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  @EventPattern(Patterns.peerEvents)
  onPeerEvent(@Payload() value: unknown): void {
    const event = this.parse('peer event', () => parsePeerEvent(value));
    if (event) this.probe.handlePeerEvent(event);
  }

  @EventPattern(Patterns.dataplaneState)
  onState(@Payload() value: unknown): void {
    const state = this.parse('dataplane state', () => parseDataplaneState(value));
    if (state) this.probe.handleState(state);
  }

  /** Every member's path reports (the subject names the sender's node: a report for another key is dropped). */
  @EventPattern(Patterns.paths, { node: '*' })
  onPaths(@Payload() value: unknown, @Ctx() ctx: NatsContext): void {
    const report = this.parse('path report', () => parsePathReport(value));
    const node = nodeOfSubject(ctx.getSubject(), this.probe.mesh);
    if (!report || !node || this.probe.handlePathReport(report, node)) return;
    this.rejected++;
    this.log.warn('rejected a path report that is not from the key enrolled under its node', { node, publicKey: report.publicKey });
  }

  /** Every member's punch messages: offers to this node and answers to its own (the subject names the sender's node). */
  @EventPattern(Patterns.punch, { node: '*' })
  async onPunch(@Payload() value: unknown, @Ctx() ctx: NatsContext): Promise<void> {
    const message = this.parse('punch message', () => parsePunchMessage(value));
    const node = nodeOfSubject(ctx.getSubject(), this.probe.mesh);
    if (message && node) await this.probe.handlePunch(message, node);
  }

  @MessagePattern(Patterns.pathsGet)
  paths(@Payload() value: unknown): PathReport {
    return this.probe.current(parsePathsGetRequest(value).peer);
  }

  private parse<T>(what: string, parse: () => T): T | null {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ContractError)) throw err;
      this.rejected++;
      this.log.warn(`rejected an invalid ${what}`, { error: err.message });
      return null;
    }
  }
}
