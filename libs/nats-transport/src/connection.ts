import { credsFileOptions } from '@wgmesh/nats-auth';
import { ConnectionOptions } from 'nats';

export interface ConnectionConfig {
  /** NATS server URL(s), e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  /** Client name shown by the NATS server (`nats server report connections`). */
  name?: string;
  /**
   * NATS credentials file (user JWT and seed, `.creds`) to connect with; it also sets the inbox
   * prefix the credential's permissions allow. Without it the connection is unauthenticated.
   */
  creds?: string;
  /** Anything else nats.js accepts (auth, TLS); overrides the defaults below. */
  connection?: Partial<ConnectionOptions>;
}

/**
 * The server list of a `--nats` value: one URL, or several separated by commas (the servers of
 * a NATS cluster; the client connects to one and fails over to the others).
 */
export function natsServers(servers: string | string[]): string[] {
  return (Array.isArray(servers) ? servers : [servers]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** With several servers: how long one connection attempt may take before the next server is tried. */
export const CLUSTER_CONNECT_TIMEOUT_MS = 3000;

/** With several servers: how often the client pings its server (two unanswered: reconnect elsewhere). */
export const CLUSTER_PING_MS = 3000;

/** Reconnect delay: short, so a restarted NATS is back in use within a second. */
export const RECONNECT_WAIT_MS = 250;

/**
 * Connection options for every wgmesh service: wait for the first connection and reconnect
 * forever, so a service started before NATS (or across a NATS restart) simply catches up.
 */
export function connectionOptions(config: ConnectionConfig): ConnectionOptions {
  const servers = natsServers(config.servers);
  return {
    servers,
    name: config.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    waitOnFirstConnect: true,
    // A cluster: the servers in the order given (the nearest first), a dead one (no reply at all,
    // as a host that lost power) given up after a few seconds rather than nats.js's 20, and a
    // connection to a server that vanished without closing it (no FIN ever comes) noticed by its
    // unanswered pings within CLUSTER_PING_MS × 3 rather than nats.js's 2 minutes × 3.
    ...(servers.length > 1 ? { noRandomize: true, timeout: CLUSTER_CONNECT_TIMEOUT_MS, pingInterval: CLUSTER_PING_MS, maxPingOut: 2 } : {}),
    ...(config.creds ? credsFileOptions(config.creds) : {}),
    ...config.connection,
  };
}

/**
 * The `--nats-creds` option every NATS-using command takes (an OptionSpec of @wgmesh/config):
 * the credentials file of the service's role. Defaults differ per command and are documented there.
 */
export function natsCredsOption(description = 'NATS credentials file (user JWT and seed, as `wgmesh registry init` and enrolment write them); without it, no NATS authentication') {
  return { key: 'natsCreds', flag: 'nats-creds', env: 'WGMESH_NATS_CREDS', value: '<file>', parse: credsPath, description };
}

function credsPath(t: string): string {
  if (t === '') throw new Error('must be the path of a .creds file, e.g. /var/lib/wgmesh/nats.creds');
  return t;
}
