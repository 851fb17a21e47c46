import { Inject, Injectable } from '@nestjs/common';
import type { DataplaneApplyRequest, DataplaneApplyResult } from '@wgmesh/contracts';
import { DataplaneDriver, DataplaneProgrammer } from '@wgmesh/dataplane';
import type { Logger } from '@wgmesh/log';
import { countError, meshMetrics } from '@wgmesh/telemetry';
import type { DataplaneConfig } from './config';
import { StateService } from './state.service';
import { CONFIG, DRIVER, LOGGER } from './tokens';

/**
 * The device's apply queue (one batch at a time, waiting requests merged; deltas diffed against
 * the programmer's model of the device, kept fresh by the state polls); a change triggers a state report.
 */
@Injectable()
export class ProgrammerService {
  private readonly programmer: DataplaneProgrammer;
  private readonly driverKind: string;

  constructor(@Inject(CONFIG) config: DataplaneConfig, @Inject(DRIVER) driver: DataplaneDriver, @Inject(LOGGER) log: Logger, private readonly state: StateService) {
    this.driverKind = driver.kind;
    this.programmer = new DataplaneProgrammer({
      driver,
      protect: config.protect,
      log,
      onChanged: () => this.state.changed(),
      attributes: { 'wgmesh.node': config.node, 'wgmesh.mesh': config.mesh },
    });
    // The state polls read the device anyway: through the programmer they keep its model fresh.
    state.readThrough(() => this.programmer.read());
  }

  /** The keys never removed from now on (see DataplaneProgrammer.setProtect). */
  setProtect(keys: readonly string[]): void {
    this.programmer.setProtect(keys);
  }

  /** The device was changed behind the programmer's back (created again): the next apply reads it. */
  deviceChanged(): void {
    this.programmer.invalidate();
  }

  /** Applies, counting the result (changed, unchanged, failed) and the time it took, queueing included. */
  async apply(req: DataplaneApplyRequest): Promise<DataplaneApplyResult> {
    const started = performance.now();
    try {
      const result = await this.programmer.apply(req);
      meshMetrics.dataplaneApplies().inc({ result: result.added + result.updated + result.removed > 0 ? 'changed' : 'unchanged' });
      if (result.punched) this.state.punched();
      return result;
    } catch (err) {
      meshMetrics.dataplaneApplies().inc({ result: 'failed' });
      countError('apply_failed');
      throw err;
    } finally {
      meshMetrics.dataplaneApplyDuration().observe({ driver: this.driverKind }, (performance.now() - started) / 1000);
    }
  }
}
