import { natsServers } from '@wgmesh/nats-transport';
import { AddressPlan, hubApplyRefusal, Membership, openRegistryState, PROOF_WINDOW_MS } from '@wgmesh/registry';
import { credsFileOptions } from '@wgmesh/nats-auth';
import { connect, type NatsConnection } from 'nats';
import type { ApplyGuard } from './apply.controller';
import type { DataplaneConfig } from './config';

/**
 * The guard of the registry's hub device (`--hub-of <mesh cidr>`): every peer a request puts on
 * it must be an enrolled member at exactly its address, as the store of record (NATS JetStream)
 * says, whoever sent the request (hubApplyRefusal). The membership is read over a NATS
 * connection of the guard's own, opened at the first request; when it cannot be read, nothing
 * is applied.
 */
export function hubGuard(config: Pick<DataplaneConfig, 'mesh' | 'nats' | 'natsCreds'> & { hubOf: string }): { guard: ApplyGuard; close(): Promise<void> } {
  const plan = new AddressPlan(config.hubOf);
  let nc: NatsConnection | null = null;
  let membership: Promise<Membership> | null = null;
  const open = async () => {
    nc = await connect({ servers: natsServers(config.nats), name: 'wgmesh-hub-guard', maxReconnectAttempts: -1, reconnectTimeWait: 250, ...(config.natsCreds ? credsFileOptions(config.natsCreds) : {}) });
    return new Membership((await openRegistryState(nc, config.mesh, { nonceTtlMs: 2 * PROOF_WINDOW_MS })).kv, plan);
  };
  const guard: ApplyGuard = async (req) => {
    try {
      membership ??= open().catch((err: Error) => {
        membership = null;
        throw err;
      });
      const m = await membership;
      return await hubApplyRefusal(req, (key) => m.byKey(key), plan);
    } catch (err) {
      return `the membership cannot be read (${(err as Error).message}): nothing is applied to the hub`;
    }
  };
  return { guard, close: async () => void (await (nc as NatsConnection | null)?.close()) };
}
