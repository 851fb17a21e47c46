import { createHash } from 'node:crypto';
import type { DataplaneState } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import type { DataplaneDriver, DeviceState } from './driver';
import { quietLog } from './quiet-log';

export interface StateReporterOptions {
  driver: DataplaneDriver;
  node: string;
  publish: (state: DataplaneState) => void | Promise<void>;
  /** Publish at least this often (ms). */
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
 * Reports a device's actual state: whenever its peers change (set, endpoint, handshake,
 * allowed IPs, keepalive; byte counters do not count), after `report()`, and at least every
 * `intervalMs`. After `changed()` (an applied change) the device is read again soon, but not
 * more often than once a second however many changes come, nor sooner than the next poll: a read
 * and a publication cost O(peers) (~45 ms and ~1.5 MB at 10,000 peers), so a device changed many
 * times a second is still read and published about once a second. One read at a time; a failed
 * read is logged and retried at the next poll.
 */
export class StateReporter {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private busy: Promise<void> = Promise.resolve();
  private lastFingerprint: string | null = null;
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
      const fingerprint = stateFingerprint(state);
      const due = Date.now() - this.lastPublished >= this.opts.intervalMs;
      const changed = fingerprint !== this.lastFingerprint;
      if (force || changed || due) {
        await this.opts.publish(this.toMessage(state));
        this.lastPublished = Date.now();
        this.lastFingerprint = fingerprint;
        this.log.debug('state published', { reason: force ? reason : changed ? 'changed' : 'interval', peers: state.peers.length });
      }
    } catch (err) {
      this.log.warn('state report failed', { reason, error: (err as Error).message });
    } finally {
      this.checking = false;
      // A change applied while this read ran may not be in it: read again soon.
      this.schedule(this.changedAt >= readAt ? this.changedGapMs : this.pollMs);
    }
  }

  private toMessage(state: DeviceState): DataplaneState {
    const { driver, node } = this.opts;
    return { node, driver: driver.kind, device: driver.device, publicKey: state.publicKey ?? '', listenPort: state.listenPort, peers: state.peers, at: Date.now() };
  }
}

/** After an apply, the device is read again no sooner than this after the last read (ms; the poll interval when shorter). */
export const CHANGED_GAP_MS = 1000;

/**
 * A digest of what matters in a device's state, independent of peer order: port, key, and per
 * peer its key, endpoint, latest handshake, keepalive and allowed IPs (not the byte counters).
 */
export function stateFingerprint(state: DeviceState): string {
  const rows = state.peers.map((p) => `${p.publicKey} ${p.endpoint} ${p.latestHandshake} ${p.persistentKeepalive} ${[...p.allowedIps].sort().join(',')}`);
  rows.sort();
  return createHash('sha256').update(`${state.publicKey} ${state.listenPort}\n`).update(rows.join('\n')).digest('base64');
}
