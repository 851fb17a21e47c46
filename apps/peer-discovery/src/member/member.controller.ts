import { Controller, Inject, UseFilters } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { ConnectReply, ContractError, parseConnectRequest, parsePathReport, parsePeerEvent, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { LOGGER } from '../tokens';
import { MemberPeersService } from './member-peers.service';

/** Member mode's NATS edge: peer events and this node's path decisions in, on-demand `connect` requests answered. */
@Controller()
@UseFilters(MeshExceptionFilter)
export class MemberController {
  rejected = 0;

  constructor(
    private readonly peers: MemberPeersService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  @EventPattern(Patterns.peerEvents)
  onPeerEvent(@Payload() value: unknown): void {
    let event;
    try {
      event = parsePeerEvent(value);
    } catch (err) {
      if (!(err instanceof ContractError)) throw err;
      this.rejected++;
      this.log.warn('rejected an invalid peer event', { error: err.message });
      return;
    }
    this.peers.handleEvent(event);
  }

  /** This node's own path decisions, from its nat-probe. */
  @EventPattern(Patterns.paths)
  onPaths(@Payload() value: unknown): void {
    let report;
    try {
      report = parsePathReport(value);
    } catch (err) {
      if (!(err instanceof ContractError)) throw err;
      this.rejected++;
      this.log.warn('rejected an invalid path report', { error: err.message });
      return;
    }
    if (report.publicKey !== this.peers.publicKey) {
      this.rejected++;
      this.log.warn('rejected a path report for another key', { publicKey: report.publicKey });
      return;
    }
    this.peers.setPaths(report);
  }

  @MessagePattern(Patterns.connect)
  connect(@Payload() value: unknown): ConnectReply {
    return this.peers.connect(parseConnectRequest(value));
  }
}
