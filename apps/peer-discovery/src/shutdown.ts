import { withDeadline } from '@wgmesh/log';
import type { MeshBus } from '@wgmesh/nats-transport';

// withDeadline lives in @wgmesh/log now (every service's shutdown uses it); re-exported here.
export { SHUTDOWN_STEP_MS, withDeadline } from '@wgmesh/log';

/** Drains a bus (flushing what is buffered) when NATS answers in time, else just closes it. */
export async function closeBus(bus: MeshBus): Promise<void> {
  if (!(await withDeadline(() => bus.drain()))) await bus.close();
}
