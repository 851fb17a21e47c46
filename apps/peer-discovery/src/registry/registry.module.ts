import { DynamicModule, Inject, Module, OnModuleDestroy } from '@nestjs/common';
import type { Logger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { PeerStore, redisRetryDelay } from '@wgmesh/peer-store';
import { AddressAllocator, MemberDirectory, TokenStore } from '@wgmesh/registry';
import { Redis } from 'ioredis';
import { registryAddress, type PeerDiscoveryConfig } from '../config';
import type { DataplaneDriver } from '@wgmesh/dataplane';
import { closeBus } from '@wgmesh/nats-transport';
import { BUS, CONFIG, DRIVER, LOGGER, REDIS } from '../tokens';
import { EnrollService } from './enroll.service';
import { NatFeedService } from './nat-feed.service';
import { HubWatchService } from './hub-watch.service';
import { RegistryController } from './registry.controller';
import { RegistryStores } from './registry.stores';

class RegistryLifecycle implements OnModuleDestroy {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BUS) private readonly bus: MeshBus,
  ) {}
  async onModuleDestroy(): Promise<void> {
    await closeBus(this.bus);
    this.redis.disconnect();
  }
}

/** Registry mode: hub watcher, `peers.snapshot`, `enroll`, `members.remove`. */
@Module({})
export class RegistryModule {
  static forRoot(config: PeerDiscoveryConfig, log: Logger, deps: { bus: MeshBus; driver: DataplaneDriver }): DynamicModule {
    return {
      module: RegistryModule,
      controllers: [RegistryController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: log },
        { provide: BUS, useValue: deps.bus },
        { provide: DRIVER, useValue: deps.driver },
        {
          provide: REDIS,
          useFactory: () => {
            const redis = new Redis(config.redis, { maxRetriesPerRequest: 3, retryStrategy: redisRetryDelay });
            redis.on('error', (err) => log.debug('redis connection error', { error: err.message }));
            return redis;
          },
        },
        {
          provide: RegistryStores,
          inject: [REDIS],
          useFactory: (redis: Redis) =>
            new RegistryStores(
              new PeerStore(redis, config.mesh, { onInvalid: (publicKey, err) => log.warn('skipping an invalid peer record in Redis', { publicKey, error: err.message }) }),
              new TokenStore(redis, config.mesh),
              new MemberDirectory(redis, config.mesh),
              config.meshCidr ? new AddressAllocator(redis, config.mesh, config.meshCidr, { reserved: [registryAddress(config)!] }) : null,
            ),
        },
        RegistryLifecycle,
        HubWatchService,
        EnrollService,
        NatFeedService,
      ],
    };
  }
}
