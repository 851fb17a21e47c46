import { ConnectionOptions } from 'nats';

export interface ConnectionConfig {
  /** NATS server URL(s), e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** Client name shown by the NATS server (`nats server report connections`). */
  name?: string;
  /** Anything else nats.js accepts (auth, TLS); overrides the defaults below. */
  connection?: Partial<ConnectionOptions>;
}

/** Reconnect delay: short, so a restarted NATS is back in use within a second. */
export const RECONNECT_WAIT_MS = 250;

/**
 * Connection options for every wgmesh service: wait for the first connection and reconnect
 * forever, so a service started before NATS (or across a NATS restart) simply catches up.
 */
export function connectionOptions(config: ConnectionConfig): ConnectionOptions {
  return {
    servers: config.servers,
    name: config.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    waitOnFirstConnect: true,
    ...config.connection,
  };
}
