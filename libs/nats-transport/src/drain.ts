import { withDeadline } from '@wgmesh/log';
import type { NatsConnection } from 'nats';

/**
 * How long a closing connection waits for the server to confirm its drain (the round trip after
 * its unsubscriptions and last messages) before it closes without: a server that does not answer
 * in that time is taken as out of reach. A live one answers in a round trip.
 */
export const DRAIN_ANSWER_MS = 1000;

/**
 * The wait for a server that left a drain of this process unanswered in the last
 * SILENT_MEMORY_MS (the same server, the same network path): the process's other connections
 * then close almost at once. An answered drain restores the full wait.
 */
export const SILENT_DRAIN_ANSWER_MS = 200;

/** How long an unanswered drain shortens the next ones' wait (each unanswered one starts it again). */
export const SILENT_MEMORY_MS = 5000;

/** Servers ("host:port") that left a drain of this process unanswered, and when. */
const silentServers = new Map<string, number>();

/**
 * Runs a connection's drain, waiting for the server's answer only so long (see DRAIN_ANSWER_MS):
 * a connection cut without a FIN (a member removed at the registry: its tunnel is gone) or a
 * frozen server never answers, and nats.js would wait for it for ever. Resolves true when the
 * drain was answered; false when the caller should close the connection without it.
 */
export async function drainWithin(nc: NatsConnection, drain: () => Promise<unknown>): Promise<boolean> {
  const server = nc.getServer();
  const silent = Date.now() - (silentServers.get(server) ?? -Infinity) < SILENT_MEMORY_MS;
  const answered = await withDeadline(drain, silent ? SILENT_DRAIN_ANSWER_MS : DRAIN_ANSWER_MS);
  if (answered) silentServers.delete(server);
  else silentServers.set(server, Date.now());
  return answered;
}
