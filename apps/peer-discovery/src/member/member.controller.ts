import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { ConnectReply, type ConnectRequest, ContractError, type PathUpdate, Patterns, type PeerEvent, type RegistriesMessage } from '@wgmesh/contracts';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { MemberPeersService } from './member-peers.service';
import { RegistriesFollowService } from './registries-follow.service';

/**
 * Member mode's NATS edge: peer events and this node's path decisions in, on-demand `connect`
 * requests answered. The transport hands each handler the payload its contract checked; a bad
 * message is refused and counted there (a ContractError thrown here counts the same way).
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class MemberController {
  constructor(
    private readonly peers: MemberPeersService,
    private readonly registries: RegistriesFollowService,
  ) {}

  /** The mesh's registries changed (one added after this member enrolled, or taken out). */
  @EventPattern(Patterns.registries)
  onRegistries(@Payload() message: RegistriesMessage): void {
    this.registries.learn(message.registries);
  }

  @EventPattern(Patterns.peerEvents)
  onPeerEvent(@Payload() event: PeerEvent): void {
    this.peers.handleEvent(event);
  }

  /** This node's own path decisions, from its nat-probe. */
  @EventPattern(Patterns.paths)
  onPaths(@Payload() update: PathUpdate): void {
    if (update.publicKey !== this.peers.publicKey) throw new ContractError('publicKey', `a path update for another key (${update.publicKey})`);
    this.peers.updatePaths(update);
  }

  @MessagePattern(Patterns.connect)
  connect(@Payload() request: ConnectRequest): ConnectReply {
    return this.peers.connect(request);
  }
}
