import type { DesiredPeer } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { diffPeers } from './diff';
import type { DataplaneDriver, DeviceSpec } from './driver';
import { quietLog } from './quiet-log';

export interface DeviceKeeperOptions {
  driver: DataplaneDriver;
  /** How the device was created (key, port, addresses…): it is created again the same way. */
  spec: DeviceSpec;
  /** Peers put back on a device created again (a member's registry peer). */
  bootstrap?: readonly DesiredPeer[];
  /** How often the device is checked (ms). */
  intervalMs: number;
  log?: Logger;
  /** Called after the device was created again (the owner then reprograms its peers). */
  onRecreated?: () => void;
}

/**
 * Keeps a device this process created (`--create`): when it cannot be read (its wireguard-go
 * died, the interface was deleted), it is ensured again with the same spec, which creates it
 * afresh with the same key, port and addresses (`ensureDevice` leaves a device that exists as it
 * is), and the bootstrap peers go back on it. The registry's watcher then finds the hub short of
 * its members and programs them back; a member's peer-discovery re-sends its desired set.
 */
export class DeviceKeeper {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  readonly counters = { recreated: 0, failures: 0 };

  constructor(private readonly o: DeviceKeeperOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One check: read; on failure, ensure the device again. Resolves with whether it was created again. */
  async check(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    const { driver, spec, log = quietLog } = this.o;
    try {
      await driver.read();
      return false;
    } catch (readError) {
      try {
        await driver.ensureDevice(spec);
        const device = await driver.read();
        if (this.o.bootstrap?.length) {
          const { diff } = diffPeers([...this.o.bootstrap], device.peers, { replace: false });
          if (diff.upsert.length > 0) await driver.apply(diff);
        }
        this.counters.recreated++;
        log.warn('the device was gone; created it again as it was', { device: driver.device, driver: driver.kind, error: (readError as Error).message, bootstrapPeers: this.o.bootstrap?.length ?? 0 });
        this.o.onRecreated?.();
        return true;
      } catch (err) {
        if (this.counters.failures++ % 60 === 0) log.warn('the device is gone and cannot be created again; retrying', { device: driver.device, error: (err as Error).message });
        return false;
      }
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
