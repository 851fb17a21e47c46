import { SerialQueue } from '@wgmesh/serial-queue';
import type { PeerEvent, PeerRecord } from '@wgmesh/contracts';
import type { Change, PeerStore } from '@wgmesh/peer-store';

/** Sends one peer event (on NATS: `peers.events`). */
export type PublishPeerEvent = (event: PeerEvent) => Promise<void> | void;

/**
 * The registry's write path for the peer table: store the change (which assigns the revision),
 * then publish it as an event carrying that revision. A change that alters nothing publishes
 * nothing. Writes are serialised so events leave in revision order.
 *
 * It also remembers the table it wrote (once `sync` has loaded it from the store), so that a
 * store that lost it (Redis flushed, or restarted without persistence) gets it back at the same
 * revision: replicas at that revision stay valid and the revision never goes back.
 */
export class PeerPublisher {
  private readonly queue = new SerialQueue();
  /** The table as last written or loaded, at `knownRevision`; trusted only while `synced`. */
  private known = new Map<string, PeerRecord>();
  private knownRevision = 0;
  private synced = false;
  private lastEvent: PeerEvent | null = null;
  /** Events published so far (metrics). */
  published = 0;

  constructor(
    private readonly store: PeerStore,
    private readonly publish: PublishPeerEvent,
  ) {}

  upsert(peer: PeerRecord): Promise<number | null> {
    return this.serialise(() =>
      this.write(() => this.store.upsert(peer), (table) => table.set(peer.publicKey, peer), (revision) => ({ type: 'upsert', revision, peer })),
    );
  }

  remove(publicKey: string): Promise<number | null> {
    return this.serialise(() =>
      this.write(() => this.store.remove(publicKey), (table) => table.delete(publicKey), (revision) => ({ type: 'remove', revision, peer: { publicKey } })),
    );
  }

  /**
   * One change: stored, remembered, published. When the store answers with a revision below the
   * known one, it lost the table just before this write: the known table, with this change, goes
   * back at the next revision (one step), and the event carries that revision.
   */
  private async write(stored: () => Promise<Change>, change: (table: Map<string, PeerRecord>) => unknown, event: (revision: number) => PeerEvent): Promise<number | null> {
    let { revision, changed } = await stored();
    if (this.synced && revision < this.knownRevision + (changed ? 1 : 0)) {
      const table = new Map(this.known);
      change(table);
      const next = this.knownRevision + 1;
      if (!(await this.store.restore([...table.values()], next)).changed) {
        this.synced = false;
        throw new Error(`the peer table changed in the store while it was being restored at revision ${next}`);
      }
      revision = next;
      changed = true;
    }
    if (!changed) return null;
    this.remember(revision, () => change(this.known));
    await this.send(event(revision));
    this.published++;
    return revision;
  }

  /** The revision of the table this publisher knows (0 before the first sync or write). */
  get revision(): number {
    return this.knownRevision;
  }

  /** The table as this publisher last wrote or loaded it. */
  table(): PeerRecord[] {
    return [...this.known.values()];
  }

  /**
   * Loads the store's table as the one this publisher knows. If the store holds an older revision
   * than the one known (it lost the table), first writes the known table back at its revision, in
   * one step. Resolves with the table and whether it had to be restored.
   */
  sync(): Promise<{ revision: number; peers: PeerRecord[]; restored: boolean }> {
    return this.serialise(async () => {
      let snapshot = await this.store.snapshot();
      let restored = false;
      if (this.synced && snapshot.revision < this.knownRevision) {
        restored = (await this.store.restore([...this.known.values()], this.knownRevision)).changed;
        snapshot = await this.store.snapshot();
      }
      this.known = new Map(snapshot.peers.map((p) => [p.publicKey, p]));
      this.knownRevision = snapshot.revision;
      this.synced = true;
      return { ...snapshot, restored };
    });
  }

  /** True when the store's revision is below the known one: it lost the table, and `sync` will restore it. */
  async lost(): Promise<boolean> {
    return this.synced && (await this.store.revision()) < this.knownRevision;
  }

  /**
   * Sends the last event again (after this publisher's NATS connection came back: what it sent
   * meanwhile may be lost). Replicas that have it ignore it; those that missed events see the
   * revision gap and reload.
   */
  republishLast(): Promise<void> {
    return this.serialise(async () => {
      if (this.lastEvent) await this.publish(this.lastEvent);
    });
  }

  /** A write made `revision`: the known table follows only if it was exactly the next one (no other writer). */
  private remember(revision: number, change: () => void): void {
    if (this.synced && revision !== this.knownRevision + 1) this.synced = false; // someone else wrote: reload before trusting it
    change();
    this.knownRevision = revision;
  }

  private async send(event: PeerEvent): Promise<void> {
    this.lastEvent = event;
    await this.publish(event);
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    return this.queue.run(work);
  }
}
