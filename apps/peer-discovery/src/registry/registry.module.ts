import { DynamicModule, Inject, Module, OnModuleDestroy } from '@nestjs/common';
import type { Logger } from '@wgmesh/log';
import { closeBus, MeshBus } from '@wgmesh/nats-transport';
import { PeerStore, redisRetryDelay } from '@wgmesh/peer-store';
import { AddressPlan, Membership, NonceBook, openRegistryState, PROOF_WINDOW_MS, Revocations, TokenStore } from '@wgmesh/registry';
import type { DataplaneDriver } from '@wgmesh/dataplane';
import { Redis } from 'ioredis';
import { enrols, registryAddress, type PeerDiscoveryConfig } from '../config';
import { BUS, CONFIG, DRIVER, HUB_KEY, LOGGER, REDIS } from '../tokens';
import { CredentialsService } from './credentials.service';
import { EnrollService, type HubKey } from './enroll.service';
import { NatFeedService } from './nat-feed.service';
import { HubWatchService } from './hub-watch.service';
import { RegistryController } from './registry.controller';
import { EnrolmentState, RegistryStores } from './registry.stores';

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

/** The store of record (NATS JetStream KV, over the registry's own connection), when this registry enrols. */
export async function openEnrolmentState(config: PeerDiscoveryConfig, bus: MeshBus): Promise<EnrolmentState | null> {
  if (!enrols(config)) return null;
  const state = await openRegistryState(bus.raw, config.mesh, { nonceTtlMs: 2 * PROOF_WINDOW_MS });
  const plan = new AddressPlan(config.meshCidr!, [registryAddress(config)!]);
  return { plan, membership: new Membership(state.kv, plan), tokens: new TokenStore(state.kv), nonces: new NonceBook(state.nonces), revocations: new Revocations(state.kv) };
}

/** Registry mode: hub watcher, `peers.snapshot`, `enroll`, `members.remove`, `node.*.nat`, `node.*.credential`. */
@Module({})
export class RegistryModule {
  static forRoot(config: PeerDiscoveryConfig, log: Logger, deps: { bus: MeshBus; driver: DataplaneDriver; hubKey: HubKey | null; enrolment: EnrolmentState | null }): DynamicModule {
    return {
      module: RegistryModule,
      controllers: [RegistryController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: log },
        { provide: BUS, useValue: deps.bus },
        { provide: DRIVER, useValue: deps.driver },
        { provide: HUB_KEY, useValue: deps.hubKey },
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
            new RegistryStores(new PeerStore(redis, config.mesh, { onInvalid: (publicKey, err) => log.warn('skipping an invalid peer record in Redis', { publicKey, error: err.message }) }), deps.enrolment),
        },
        RegistryLifecycle,
        HubWatchService,
        CredentialsService,
        EnrollService,
        NatFeedService,
      ],
    };
  }
}
