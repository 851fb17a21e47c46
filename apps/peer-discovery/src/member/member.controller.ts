import { Controller, Inject, UseFilters } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { ConnectReply, ContractError, parseConnectRequest, parsePeerEvent, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { LOGGER } from '../tokens';
import { MemberPeersService } from './member-peers.service';

/** Member mode's NATS edge: peer events in, on-demand `connect` requests answered. */
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

  @MessagePattern(Patterns.connect)
  connect(@Payload() value: unknown): ConnectReply {
    return this.peers.connect(parseConnectRequest(value));
  }
}
