import { Controller, Inject, UseFilters } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { DataplaneApplyRequest, DataplaneApplyResult, DataplaneState, DataplaneStateGetRequest, ErrorReply, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { countError } from '@wgmesh/telemetry';
import { ProgrammerService } from './programmer.service';
import { StateService } from './state.service';
import { GUARD, LOGGER } from './tokens';

/** Why a request must not be applied to this device, or null (the hub's: only members at their own address). */
export type ApplyGuard = (req: DataplaneApplyRequest) => Promise<string | null>;

/**
 * `node.<id>.dataplane.apply`: the request as its contract checked it at the transport (an
 * invalid one is answered there with invalid_request and changes nothing), checked against the
 * device's guard when it has one (a refused request is answered with apply_refused and the
 * reason, and changes nothing), then queued on the device's programmer; the reply is the result.
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class ApplyController {
  constructor(
    private readonly programmer: ProgrammerService,
    @Inject(GUARD) private readonly guard: ApplyGuard | null,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly stateService: StateService,
  ) {}

  @MessagePattern(Patterns.dataplaneApply)
  async apply(@Payload() req: DataplaneApplyRequest): Promise<DataplaneApplyResult | ErrorReply> {
    const refusal = this.guard ? await this.guard(req) : null;
    if (refusal) {
      countError('apply_refused');
      this.log.warn('apply request refused; the device is unchanged', { reason: refusal, peers: req.peers.map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps })) });
      return { error: { code: 'apply_refused', message: refusal } };
    }
    return this.programmer.apply(req);
  }

  /** `node.<id>.dataplane.state.get`: one page of the device's state as last read (at most a poll old). */
  @MessagePattern(Patterns.dataplaneStateGet)
  state(@Payload() req: DataplaneStateGetRequest): DataplaneState | ErrorReply {
    return this.stateService.current(req) ?? { error: { code: 'not_ready', message: 'the device has not been read yet' } };
  }
}
