import { Controller, UseFilters } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { DataplaneApplyResult, parseDataplaneApplyRequest, Patterns } from '@wgmesh/contracts';
import { MeshExceptionFilter } from '@wgmesh/nats-transport';
import { ProgrammerService } from './programmer.service';

/**
 * `node.<id>.dataplane.apply`: validate (an invalid request is answered with invalid_request and
 * changes nothing), then queue it on the device's programmer and reply with the result.
 */
@Controller()
@UseFilters(MeshExceptionFilter)
export class ApplyController {
  constructor(private readonly programmer: ProgrammerService) {}

  @MessagePattern(Patterns.dataplaneApply)
  apply(@Payload() value: unknown): Promise<DataplaneApplyResult> {
    return this.programmer.apply(parseDataplaneApplyRequest(value));
  }
}
