import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { DnsResponder, PeerIndex } from '@wgmesh/dns-sd';
import type { Logger } from '@wgmesh/log';
import { PeerStore } from '@wgmesh/peer-store';
import { MirrorChange, PeerMirror } from '@wgmesh/peer-sync';
import { Attr, shortKey, withSpanSync } from '@wgmesh/telemetry';
import type { Redis } from 'ioredis';
import type { ResolverConfig } from './config';
import { CONFIG, LOGGER, REDIS } from './tokens';

/**
 * The resolver's in-memory view of the peer table: loaded from the Redis snapshot, kept current
 * by peer events, reloaded on a revision gap or a NATS reconnect. DNS answers come from here only.
 */
@Injectable()
export class PeerTableService implements OnModuleDestroy {
  readonly index = new PeerIndex();
  readonly responder: DnsResponder;
  readonly mirror: PeerMirror;
  private readonly store: PeerStore;

  constructor(@Inject(CONFIG) config: ResolverConfig, @Inject(REDIS) redis: Redis, @Inject(LOGGER) private readonly log: Logger) {
    const self = config.selfKey && config.selfEndpoint ? { publicKey: config.selfKey, endpoint: config.selfEndpoint, allowedIps: config.selfAllowed } : undefined;
    this.responder = new DnsResponder({
      zones: config.zone.map((origin) => ({ origin, ttl: config.ttl, self })),
      index: this.index,
      maxUdpPayload: config.udpPayload,
    });
    this.store = new PeerStore(redis, config.mesh, {
      onInvalid: (publicKey, err) => log.warn('skipping an invalid peer record in Redis', { publicKey, error: err.message }),
    });
    this.mirror = new PeerMirror({
      load: async (reason) => {
        const table = await this.store.snapshot();
        log.info('peer table loaded', { reason, revision: table.revision, peers: table.peers.length });
        return table;
      },
      apply: (change) => this.apply(change),
      log,
    });
  }

  /** One change to the index, in an `index.update` span (child of the event's receive span, or of the load). */
  private apply(change: MirrorChange): void {
    const attributes = {
      [Attr.change]: change.type,
      [Attr.revision]: change.revision,
      ...(change.type === 'reset' ? { [Attr.peers]: change.peers.length } : { [Attr.peer]: shortKey(change.type === 'upsert' ? change.peer.publicKey : change.publicKey) }),
    };
    withSpanSync('index.update', attributes, () => this.applyNow(change));
  }

  private applyNow(change: MirrorChange): void {
    if (change.type === 'reset') this.index.replaceAll(change.peers);
    else if (change.type === 'upsert') this.index.upsert(change.peer);
    else this.index.remove(change.publicKey);
    this.responder.setSerial(change.revision);
    if (change.type !== 'reset') this.log.debug('peer table changed', { type: change.type, revision: change.revision });
  }

  onModuleDestroy(): void {
    this.mirror.stop();
  }
}
