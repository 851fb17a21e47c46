import type { PeerEvent, PeerRecord } from '@wgmesh/contracts';
import type { PeerStore } from '@wgmesh/peer-store';

/** Sends one peer event (on NATS: `peers.events`). */
export type PublishPeerEvent = (event: PeerEvent) => Promise<void> | void;

/**
 * The registry's write path for the peer table: store the change (which assigns the revision),
 * then publish it as an event carrying that revision. A change that alters nothing publishes
 * nothing. Writes are serialised so events leave in revision order.
 */
export class PeerPublisher {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: PeerStore,
    private readonly publish: PublishPeerEvent,
  ) {}

  upsert(peer: PeerRecord): Promise<number | null> {
    return this.serialise(async () => {
      const { revision, changed } = await this.store.upsert(peer);
      if (!changed) return null;
      await this.publish({ type: 'upsert', revision, peer });
      return revision;
    });
  }

  remove(publicKey: string): Promise<number | null> {
    return this.serialise(async () => {
      const { revision, changed } = await this.store.remove(publicKey);
      if (!changed) return null;
      await this.publish({ type: 'remove', revision, peer: { publicKey } });
      return revision;
    });
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
