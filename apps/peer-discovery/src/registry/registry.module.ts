import { DynamicModule, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from '@wgmesh/log';
import { closeBus, MeshBus } from '@wgmesh/nats-transport';
import { PeerStore, redisRetryDelay } from '@wgmesh/peer-store';
import { AddressPlan, DEFAULT_LEASE_TTL_MS, Membership, NonceBook, openLeaseBucket, openRegistryState, PeerTableLease, PROOF_WINDOW_MS, RegistryBook, RegistryBookError, Revocations, TokenStore } from '@wgmesh/registry';
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

/** Closes the registry's own connections last (after every service's onModuleDestroy: the hub watcher gives its lease back over the bus). */
class RegistryLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BUS) private readonly bus: MeshBus,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await closeBus(this.bus);
    this.redis.disconnect();
  }
}

/**
 * The store of record (NATS JetStream KV, over the registry's own connection), when this registry
 * enrols: this registry recorded among the mesh's registries (refused when another has its
 * address or key, or a member holds its address), every registry's address kept out of
 * allocation, and the peer-table lease.
 */
export async function openEnrolmentState(config: PeerDiscoveryConfig, bus: MeshBus, hubKey: HubKey | null): Promise<EnrolmentState | null> {
  if (!enrols(config) || !hubKey) return null;
  const replicas = Number(config.kvReplicas ?? '1');
  const state = await openRegistryState(bus.raw, config.mesh, { nonceTtlMs: 2 * PROOF_WINDOW_MS, replicas });
  const address = registryAddress(config)!;
  const registries = new RegistryBook(state.kv);
  const known = await registries.register({ id: config.registryNode, publicKey: hubKey.publicKey, endpoint: config.publicEndpoint!, address });
  const plan = new AddressPlan(config.meshCidr!, known.map((r) => r.address));
  const membership = new Membership(state.kv, plan);
  await membership.prime();
  const holder = (await membership.list()).find((m) => m.address === address);
  if (holder) {
    await registries.remove(config.registryNode);
    throw new RegistryBookError(`member "${holder.name}" has the tunnel address ${address}: give this registry another --address`);
  }
  const ttlMs = config.leaseTtl ?? DEFAULT_LEASE_TTL_MS;
  const lease = new PeerTableLease(await openLeaseBucket(bus.raw, config.mesh, { ttlMs, replicas }), config.registryNode, { ttlMs });
  return { kv: state.kv, plan, membership, tokens: new TokenStore(state.kv), nonces: new NonceBook(state.nonces), revocations: new Revocations(state.kv), registries, known, lease };
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
