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
  log?: Logger;
}

/**
 * Reports a device's actual state: whenever its peers change (set, endpoint, handshake,
 * allowed IPs, keepalive; byte counters do not count), after `report()` (an applied change),
 * and at least every `intervalMs`. One read at a time; a failed read is logged and retried at
 * the next poll.
 */
export class StateReporter {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private busy: Promise<void> = Promise.resolve();
  private lastFingerprint: string | null = null;
  private lastPublished = 0;
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

  /** Reads and publishes now (after an apply that changed the device). */
  report(reason: string): Promise<void> {
    return this.enqueue(() => this.check(reason, true));
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(task, task);
    return this.busy;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.enqueue(() => this.check('poll', false)), this.pollMs);
    this.timer.unref?.();
  }

  private async check(reason: string, force: boolean): Promise<void> {
    if (this.stopped) return;
    try {
      const state = await this.opts.driver.read();
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
      this.schedule();
    }
  }

  private toMessage(state: DeviceState): DataplaneState {
    const { driver, node } = this.opts;
    return { node, driver: driver.kind, device: driver.device, publicKey: state.publicKey ?? '', listenPort: state.listenPort, peers: state.peers, at: Date.now() };
  }
}

/**
 * A digest of what matters in a device's state, independent of peer order: port, key, and per
 * peer its key, endpoint, latest handshake, keepalive and allowed IPs (not the byte counters).
 */
export function stateFingerprint(state: DeviceState): string {
  const rows = state.peers.map((p) => `${p.publicKey} ${p.endpoint} ${p.latestHandshake} ${p.persistentKeepalive} ${[...p.allowedIps].sort().join(',')}`);
  rows.sort();
  return createHash('sha256').update(`${state.publicKey} ${state.listenPort}\n`).update(rows.join('\n')).digest('base64');
}
