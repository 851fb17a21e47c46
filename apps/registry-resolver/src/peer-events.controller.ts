import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { ContractError, parsePeerEvent, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { PeerTableService } from './peer-table.service';
import { LOGGER } from './tokens';

/** `peers.events` from the registry watcher → the in-memory peer table. */
@Controller()
export class PeerEventsController {
  rejected = 0;

  constructor(
    private readonly table: PeerTableService,
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
    this.table.mirror.handle(event);
  }
}
