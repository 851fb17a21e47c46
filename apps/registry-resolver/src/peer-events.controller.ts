import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Patterns, type PeerEvent } from '@wgmesh/contracts';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { PeerTableService } from './peer-table.service';

/**
 * `peers.events` from the registry watcher → the in-memory peer table. The transport checked the
 * event against its contract (a bad one is refused and counted there, never reaching here).
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class PeerEventsController {
  constructor(private readonly table: PeerTableService) {}

  @EventPattern(Patterns.peerEvents)
  onPeerEvent(@Payload() event: PeerEvent): void {
    this.table.mirror.handle(event);
  }
}
