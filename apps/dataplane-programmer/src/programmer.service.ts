import { Inject, Injectable } from '@nestjs/common';
import type { DataplaneApplyRequest, DataplaneApplyResult } from '@wgmesh/contracts';
import { DataplaneDriver, DataplaneProgrammer } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import type { DataplaneConfig } from './config';
import { StateService } from './state.service';
import { CONFIG, DRIVER, LOGGER } from './tokens';

/** The device's apply queue (one batch at a time, waiting requests merged); a change triggers a state report. */
@Injectable()
export class ProgrammerService {
  private readonly programmer: DataplaneProgrammer;

  constructor(@Inject(CONFIG) config: DataplaneConfig, @Inject(DRIVER) driver: DataplaneDriver, @Inject(LOGGER) log: Logger, state: StateService) {
    this.programmer = new DataplaneProgrammer({ driver, protect: config.protect, log, onChanged: () => state.changed() });
  }

  apply(req: DataplaneApplyRequest): Promise<DataplaneApplyResult> {
    return this.programmer.apply(req);
  }
}
