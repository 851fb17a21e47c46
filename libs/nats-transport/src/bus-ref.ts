import type { MeshBus } from './bus';

/** The member's NATS client, which may still be connecting (the tunnel to the registry may be down). */
export class BusRef {
  current: MeshBus | null = null;
  readonly ready: Promise<MeshBus>;

  constructor(connecting: Promise<MeshBus>) {
    this.ready = connecting.then((bus) => (this.current = bus));
  }
}

/** Drains a bus (flushing what is buffered) when NATS answers in time, else just closes it (see MeshBus.drain). */
export async function closeBus(bus: MeshBus): Promise<void> {
  await bus.drain();
}
