import { createHash } from 'node:crypto';
import { dataplaneStatePage, type DataplaneState, type DataplaneStateGetRequest, type DataplaneStateUpdate, type PeerState } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import type { DataplaneDriver, DeviceState } from './driver';
import { quietLog } from './quiet-log';

export interface StateReporterOptions {
  driver: DataplaneDriver;
  node: string;
  /** Publishes one update (`node.<id>.dataplane.state`); a failure is the caller's to log: the update is gone and consumers see a gap. */
  publish: (update: DataplaneStateUpdate) => void | Promise<void>;
  /** The updates' epoch (Date.now() at construction by default). */
  epoch?: number;
  /** Publish at least this often (ms): an update with no change when nothing changed. */
  intervalMs: number;
  /** Read the device this often to catch changes (new endpoints, handshakes); min(1000, intervalMs) by default. */
  pollMs?: number;
  /**
   * How the device is read (the driver's read() by default): dataplane-programmer reads through
   * its DataplaneProgrammer, whose model of the device the polls then keep fresh.
   */
  read?: () => Promise<DeviceState>;
  log?: Logger;
}

/**
 * Reports a device's actual state as numbered updates (`DataplaneStateUpdate`: the peers changed
 * since the previous update, the keys removed): whenever its peers change (set, endpoint,
 * handshake, allowed IPs, keepalive; byte counters do not count), after `report()`, and at least
 * every `intervalMs` (an update with no change then). The first read is the baseline: its update
 * carries no peers (it announces the epoch; consumers fetch the whole state). The whole state as
 * last read is `current()` (paged: `dataplane.state.get`), with the `seq` of the last update.
 * After `changed()` (an applied change) the device is read again soon, but not more often than
 * once a second however many changes come, nor sooner than the next poll: a read costs O(peers)
 * (~45 ms at 10,000 peers). One read at a time; a failed read is logged and retried at the next poll.
 */
export class StateReporter {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private busy: Promise<void> = Promise.resolve();
  /** Each peer's fingerprint (peerFingerprint) as of the last update, by key; null before the first read. */
  private rows: Map<string, string> | null = null;
  private iface = '';
  private seq = 0;
  readonly epoch: number;
  /** The state as last read, with the seq of the last update (which it includes). */
  private snapshot: DataplaneState | null = null;
  private sorted: PeerState[] | null = null;
  private lastPublished = 0;
  /** When the last read started (Date.now()). */
  private lastRead = 0;
  /** When the scheduled check runs (Date.now()). */
  private nextCheck = Infinity;
  /** When changed() was last called (Date.now()). */
  private changedAt = -Infinity;
  private checking = false;
  private readonly pollMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: StateReporterOptions) {
    this.pollMs = opts.pollMs ?? Math.min(1000, opts.intervalMs);
    this.log = opts.log ?? quietLog;
    this.epoch = opts.epoch ?? Date.now();
  }

  /** Peers on the device at the last read (undefined before the first). */
  get peers(): number | undefined {
    return this.snapshot?.peers.length;
  }

  /** One page of the state as last read (`dataplane.state.get`); null before the first read. */
  current(request: DataplaneStateGetRequest = {}): DataplaneState | null {
    const snap = this.snapshot;
    if (!snap) return null;
    this.sorted ??= [...snap.peers].sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0));
    return dataplaneStatePage(snap, this.sorted, request);
  }

  /** Publishes now, then polls. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.report('start');
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return this.busy;
  }

  /** Reads and publishes now, changed or not (a reconnect, a punch, a device created again). */
  report(reason: string): Promise<void> {
    return this.enqueue(() => this.check(reason, true));
  }

  /**
   * The device changed through an apply: reads it at the next poll, or sooner when the last read
   * was more than CHANGED_GAP_MS ago (publishing only what differs, as a poll does).
   */
  changed(): void {
    if (this.stopped) return;
    this.changedAt = Date.now();
    if (this.checking) return; // its end schedules the next check soon
    const delay = Math.max(0, this.lastRead + this.changedGapMs - Date.now());
    if (Date.now() + delay < this.nextCheck) this.schedule(delay);
  }

  private get changedGapMs(): number {
    return Math.min(CHANGED_GAP_MS, this.pollMs);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(task, task);
    return this.busy;
  }

  private schedule(delayMs = this.pollMs): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextCheck = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.nextCheck = Infinity;
      void this.enqueue(() => this.check('poll', false));
    }, delayMs);
    this.timer.unref?.();
  }

  private async check(reason: string, force: boolean): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer); // this check is the poll: the next one is scheduled after it
    this.timer = null;
    this.nextCheck = Infinity;
    this.checking = true;
    const readAt = Date.now();
    try {
      this.lastRead = readAt;
      const state = await (this.opts.read ? this.opts.read() : this.opts.driver.read());
      const at = Date.now();
      const rows = new Map<string, string>();
      for (const p of state.peers) rows.set(p.publicKey, peerFingerprint(p));
      const iface = `${state.publicKey ?? ''} ${state.listenPort}`;
      const changed: PeerState[] = [];
      const removed: string[] = [];
      const before = this.rows;
      if (before) {
        for (const p of state.peers) if (before.get(p.publicKey) !== rows.get(p.publicKey)) changed.push(p);
        for (const k of before.keys()) if (!rows.has(k)) removed.push(k);
      }
      const due = at - this.lastPublished >= this.opts.intervalMs;
      const isChange = changed.length > 0 || removed.length > 0 || iface !== this.iface;
      const publish = force || isChange || due || before === null;
      if (publish) this.seq++;
      this.rows = rows;
      this.iface = iface;
      this.snapshot = { ...this.head(state, at), peers: state.peers, epoch: this.epoch, seq: this.seq };
      this.sorted = null;
      if (publish) {
        this.lastPublished = at;
        await this.opts.publish({ ...this.head(state, at), epoch: this.epoch, seq: this.seq, changed, removed });
        this.log.debug('state update published', { reason: force ? reason : isChange ? 'changed' : 'interval', seq: this.seq, changed: changed.length, removed: removed.length });
      }
    } catch (err) {
      this.log.warn('state report failed', { reason, error: (err as Error).message });
    } finally {
      this.checking = false;
      // A change applied while this read ran may not be in it: read again soon.
      this.schedule(this.changedAt >= readAt ? this.changedGapMs : this.pollMs);
    }
  }

  private head(state: DeviceState, at: number) {
    const { driver, node } = this.opts;
    return { node, driver: driver.kind, device: driver.device, publicKey: state.publicKey ?? '', listenPort: state.listenPort, at };
  }
}

/** After an apply, the device is read again no sooner than this after the last read (ms; the poll interval when shorter). */
export const CHANGED_GAP_MS = 1000;

/**
 * A digest of what matters in a device's state, independent of peer order: port, key, and per
 * peer its key, endpoint, latest handshake, keepalive and allowed IPs (not the byte counters).
 */
export function stateFingerprint(state: DeviceState): string {
  const rows = state.peers.map(peerFingerprint);
  rows.sort();
  return createHash('sha256').update(`${state.publicKey} ${state.listenPort}\n`).update(rows.join('\n')).digest('base64');
}

/** What of a peer makes a change worth an update: its key, endpoint, latest handshake, keepalive and allowed IPs (not the byte counters). */
export function peerFingerprint(p: PeerState): string {
  return `${p.publicKey} ${p.endpoint} ${p.latestHandshake} ${p.persistentKeepalive} ${[...p.allowedIps].sort().join(',')}`;
}
