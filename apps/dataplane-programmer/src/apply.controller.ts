import { Controller, Inject, UseFilters } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { DataplaneApplyRequest, DataplaneApplyResult, ErrorReply, parseDataplaneApplyRequest, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { countError } from '@wgmesh/telemetry';
import { ProgrammerService } from './programmer.service';
import { GUARD, LOGGER } from './tokens';

/** Why a request must not be applied to this device, or null (the hub's: only members at their own address). */
export type ApplyGuard = (req: DataplaneApplyRequest) => Promise<string | null>;

/**
 * `node.<id>.dataplane.apply`: validate (an invalid request is answered with invalid_request and
 * changes nothing), check it against the device's guard when it has one (a refused request is
 * answered with apply_refused and the reason, and changes nothing), then queue it on the
 * device's programmer and reply with the result.
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class ApplyController {
  constructor(
    private readonly programmer: ProgrammerService,
    @Inject(GUARD) private readonly guard: ApplyGuard | null,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  @MessagePattern(Patterns.dataplaneApply)
  async apply(@Payload() value: unknown): Promise<DataplaneApplyResult | ErrorReply> {
    const req = parseDataplaneApplyRequest(value);
    const refusal = this.guard ? await this.guard(req) : null;
    if (refusal) {
      countError('apply_refused');
      this.log.warn('apply request refused; the device is unchanged', { reason: refusal, peers: req.peers.map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps })) });
      return { error: { code: 'apply_refused', message: refusal } };
    }
    return this.programmer.apply(req);
  }
}
