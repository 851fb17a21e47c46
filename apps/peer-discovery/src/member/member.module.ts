import { DynamicModule, Inject, Module, OnModuleDestroy } from '@nestjs/common';
import type { Logger } from '@wgmesh/log';
import type { Enrollment } from '@wgmesh/peer-discovery';
import type { PeerDiscoveryConfig } from '../config';
import { APPLY, BUS_REF, CONFIG, ENROLLMENT, LOGGER, REGISTRIES_CHANGED } from '../tokens';
import { BusRef, closeBus } from '@wgmesh/nats-transport';
import { MemberController } from './member.controller';
import { ApplyDesired, MemberPeersService } from './member-peers.service';
import { CredentialRenewalService } from './credential-renewal.service';
import { RegistriesChanged, RegistriesFollowService } from './registries-follow.service';

class BusLifecycle implements OnModuleDestroy {
  constructor(@Inject(BUS_REF) private readonly bus: BusRef) {}
  async onModuleDestroy(): Promise<void> {
    if (this.bus.current) await closeBus(this.bus.current);
  }
}

/** Member mode: the desired peer set from the registry's table, applied to this node's device. */
@Module({})
export class MemberModule {
  static forRoot(config: PeerDiscoveryConfig, log: Logger, deps: { bus: BusRef; enrollment: Enrollment; apply: ApplyDesired; registriesChanged?: RegistriesChanged }): DynamicModule {
    return {
      module: MemberModule,
      controllers: [MemberController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: log },
        { provide: BUS_REF, useValue: deps.bus },
        { provide: ENROLLMENT, useValue: deps.enrollment },
        { provide: APPLY, useValue: deps.apply },
        { provide: REGISTRIES_CHANGED, useValue: deps.registriesChanged ?? null },
        BusLifecycle,
        MemberPeersService,
        CredentialRenewalService,
        RegistriesFollowService,
      ],
    };
  }
}
