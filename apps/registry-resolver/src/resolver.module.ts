import { DynamicModule, Inject, Module, OnModuleDestroy } from '@nestjs/common';
import type { Logger } from '@wgmesh/log';
import { redisRetryDelay } from '@wgmesh/peer-store';
import { Redis } from 'ioredis';
import type { ResolverConfig } from './config';
import { DnsService } from './dns.service';
import { PeerEventsController } from './peer-events.controller';
import { PeerTableService } from './peer-table.service';
import { CONFIG, LOGGER, REDIS } from './tokens';

class RedisLifecycle implements OnModuleDestroy {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}

@Module({})
export class ResolverModule {
  static forRoot(config: ResolverConfig, log: Logger): DynamicModule {
    return {
      module: ResolverModule,
      controllers: [PeerEventsController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: log },
        {
          provide: REDIS,
          // While Redis is down a load waits for a few reconnect attempts, then fails and is retried
          // by the peer table with backoff; answers keep coming from memory meanwhile.
          useFactory: () => {
            const redis = new Redis(config.redis, { maxRetriesPerRequest: 3, retryStrategy: redisRetryDelay });
            redis.on('error', (err) => log.debug('redis connection error', { error: err.message }));
            return redis;
          },
        },
        RedisLifecycle,
        PeerTableService,
        DnsService,
      ],
    };
  }
}
