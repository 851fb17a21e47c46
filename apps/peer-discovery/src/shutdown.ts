import type { MeshBus } from '@wgmesh/nats-transport';

/** How long a shutdown step may take before it is cut short (NATS unreachable, say). */
export const SHUTDOWN_STEP_MS = 2000;

/** Runs `step`, giving up after `ms`; resolves true when it finished in time. */
export async function withDeadline(step: () => Promise<unknown>, ms = SHUTDOWN_STEP_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([step().then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Drains a bus (flushing what is buffered) when NATS answers in time, else just closes it. */
export async function closeBus(bus: MeshBus): Promise<void> {
  if (!(await withDeadline(() => bus.drain()))) await bus.close();
}
