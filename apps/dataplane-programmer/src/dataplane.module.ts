import { DynamicModule, Module } from '@nestjs/common';
import type { DataplaneDriver } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { ApplyController } from './apply.controller';
import type { DataplaneConfig } from './config';
import { ProgrammerService } from './programmer.service';
import { StateService } from './state.service';
import { CONFIG, DRIVER, GUARD, LOGGER } from './tokens';
import type { ApplyGuard } from './apply.controller';

@Module({})
export class DataplaneModule {
  /** The driver is made (and the device ensured) before the module: see run.ts. */
  static forRoot(config: DataplaneConfig, log: Logger, driver: DataplaneDriver, guard: ApplyGuard | null = null): DynamicModule {
    return {
      module: DataplaneModule,
      controllers: [ApplyController],
      providers: [{ provide: CONFIG, useValue: config }, { provide: LOGGER, useValue: log }, { provide: DRIVER, useValue: driver }, { provide: GUARD, useValue: guard }, StateService, ProgrammerService],
    };
  }
}
