import { DynamicModule, Inject, Module, OnModuleDestroy } from '@nestjs/common';
import type { Logger } from '@wgmesh/log';
import { BusRef, closeBus } from '@wgmesh/nats-transport';
import type { Enrollment } from '@wgmesh/peer-discovery';
import type { NatProbeMemberConfig } from '../config';
import { BUS_REF, CLASSIFY, CONFIG, ENROLLMENT, LOGGER, SAMPLE } from '../tokens';
import { NatProbeController } from './nat-probe.controller';
import { Classify, NatProbeService, SampleMapping } from './nat-probe.service';

class BusLifecycle implements OnModuleDestroy {
  constructor(@Inject(BUS_REF) private readonly bus: BusRef) {}
  async onModuleDestroy(): Promise<void> {
    if (this.bus.current) await closeBus(this.bus.current);
  }
}

/** nat-probe on a member: NAT classification and path decisions. */
@Module({})
export class NatProbeMemberModule {
  static forRoot(config: NatProbeMemberConfig, log: Logger, deps: { bus: BusRef; enrollment: Enrollment; classify: Classify; sample: SampleMapping }): DynamicModule {
    return {
      module: NatProbeMemberModule,
      controllers: [NatProbeController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: log },
        { provide: BUS_REF, useValue: deps.bus },
        { provide: ENROLLMENT, useValue: deps.enrollment },
        { provide: CLASSIFY, useValue: deps.classify },
        { provide: SAMPLE, useValue: deps.sample },
        BusLifecycle,
        NatProbeService,
      ],
    };
  }
}
