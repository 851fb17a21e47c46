import { parseName } from '@wgmesh/contracts';
import { type KV, type KvEntry, type NatsConnection, NatsError, StorageType } from 'nats';

/**
 * The registry's store of record: NATS JetStream key-value buckets of the mesh. Membership
 * (name, key, address, NATS identity), the address and key indices, tokens and revocations live
 * in one bucket; the nonces of enrolment requests in a second one whose entries expire.
 *
 * Why JetStream KV: NATS already runs beside the registry (and with JetStream in every
 * deployment), writes are durable on disk before they are acknowledged, a key can be created
 * only if absent and updated only at the revision it was read at (the atomic claims), and a NATS
 * cluster replicates it for a second registry. Redis stays the fast cache of the peer table.
 *
 * | bucket | key | value |
 * |---|---|---|
 * | `wgmesh-<mesh>` | `members.<name>` | `MemberRecord` (JSON) |
 * | | `keys.<public key, hex>` | `{name}`: the one name of a WireGuard key |
 * | | `addresses.<offset>` | `{name}`: the one member of a tunnel address (offset in the mesh CIDR) |
 * | | `meta.cidr` | the mesh CIDR the offsets are relative to |
 * | | `tokens.<sha256 of the token>` | `StoredToken` (never the token) |
 * | | `revoked.<NATS user key>` | `{at, name}`: a removed member's NATS credential |
 * | `wgmesh-<mesh>-nonces` | `<nonce, hex>` | the time it was seen; entries expire after twice the proof window |
 */
export class StateError extends Error {
  override readonly name = 'StateError';
}

export interface RegistryState {
  mesh: string;
  kv: KV;
  nonces: KV;
}

export interface StateOptions {
  /** JetStream replicas of the buckets (1, 3 or 5; more than 1 needs a NATS cluster). */
  replicas?: number;
  /** How long a nonce is remembered (ms). */
  nonceTtlMs: number;
}

export function stateBucket(mesh: string): string {
  return `wgmesh-${parseName(mesh, 'mesh')}`;
}

export function nonceBucket(mesh: string): string {
  return `wgmesh-${parseName(mesh, 'mesh')}-nonces`;
}

/** Opens (creating when missing) the mesh's buckets; a clear error when NATS has no JetStream for us. */
export async function openRegistryState(nc: NatsConnection, mesh: string, opts: StateOptions): Promise<RegistryState> {
  const js = nc.jetstream();
  try {
    const kv = await js.views.kv(stateBucket(mesh), { history: 1, storage: StorageType.File, replicas: opts.replicas ?? 1 });
    const nonces = await js.views.kv(nonceBucket(mesh), { history: 1, storage: StorageType.File, replicas: opts.replicas ?? 1, ttl: opts.nonceTtlMs });
    return { mesh, kv, nonces };
  } catch (err) {
    throw new StateError(
      `cannot open the registry's state in NATS JetStream (bucket ${stateBucket(mesh)}): ${(err as Error).message}. ` +
        'Run nats-server with JetStream (-js, with a store directory that survives restarts); with NATS authentication the mesh account must allow JetStream ("wgmesh registry init --nats-auth" writes such an account, and "registry up" pushes it)',
    );
  }
}

/** Deletes the mesh's buckets (`registry init --yes`, tests); true when there were any. */
export async function destroyRegistryState(nc: NatsConnection, mesh: string): Promise<boolean> {
  const jsm = await nc.jetstreamManager();
  let any = false;
  for (const bucket of [stateBucket(mesh), nonceBucket(mesh), `${stateBucket(mesh)}-lease`]) {
    try {
      any = (await jsm.streams.delete(`KV_${bucket}`)) || any;
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
    }
  }
  return any;
}

/** True for JetStream's "wrong last sequence": a create of a key that exists, an update at a stale revision. */
export function isConflict(err: unknown): boolean {
  return err instanceof NatsError && err.api_error?.err_code === 10071;
}

/** The entry of a key when it holds a value (not deleted), else null. */
export async function getLive(kv: KV, key: string): Promise<KvEntry | null> {
  const e = await kv.get(key);
  return e && e.operation === 'PUT' ? e : null;
}

/** Every live entry under `prefix.` (one ordered consumer, not a get per key). */
export async function readPrefix(kv: KV, prefix: string): Promise<Map<string, KvEntry>> {
  const out = new Map<string, KvEntry>();
  let initialised = false;
  let iter: Awaited<ReturnType<KV['watch']>> | undefined = undefined;
  iter = await kv.watch({
    key: `${prefix}.>`,
    initializedFn: () => {
      initialised = true;
      iter?.stop();
    },
  });
  if (initialised) iter.stop(); // an empty prefix is "initialised" before watch() returns
  for await (const e of iter) {
    if (e.operation === 'PUT') out.set(e.key, e);
    else out.delete(e.key);
  }
  return out;
}

/** Decodes a JSON value written by this library. */
export function json<T>(e: KvEntry): T {
  return JSON.parse(e.string()) as T;
}

export function encode(value: unknown): string {
  return JSON.stringify(value);
}

/** Deletes a key only while it still has `revision` (someone else's newer write stays). False when it moved on. */
export async function deleteAt(kv: KV, key: string, revision: number): Promise<boolean> {
  try {
    await kv.delete(key, { previousSeq: revision });
    return true;
  } catch (err) {
    if (isConflict(err)) return false;
    throw err;
  }
}
