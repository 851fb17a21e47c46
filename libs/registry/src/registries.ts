import { ContractError, parseRegistryInfo, type RegistryInfo } from '@wgmesh/contracts';
import type { KV, KvEntry } from 'nats';
import { encode, getLive, json, readPrefix } from './state';

/**
 * The registries of a mesh, in the store of record (`registries.<id>` → RegistryInfo): each
 * registry writes its own entry (hub key, public endpoint, tunnel address) when it starts, and
 * reads the others'. Members are told the whole list at enrolment, in preference order: by id
 * ("registry" first, then "registry-b", …), the order every member uses to pick the registry
 * that carries its route to the mesh CIDR.
 */
export class RegistryBookError extends Error {
  override readonly name = 'RegistryBookError';
}

const PREFIX = 'registries';

export interface RegistryEntry extends RegistryInfo {
  /** Unix ms of the registry's last start. */
  startedAt: number;
}

export class RegistryBook {
  constructor(private readonly kv: KV) {}

  /**
   * Records this registry. Refused (nothing written) when another registry already has its
   * tunnel address or its hub key under another id: two hubs must never share either.
   */
  async register(self: RegistryInfo, now = Date.now()): Promise<RegistryEntry[]> {
    const others = (await this.list()).filter((r) => r.id !== self.id);
    for (const r of others) {
      if (r.address === self.address) throw new RegistryBookError(`registry "${r.id}" already has the tunnel address ${self.address}: give this registry another --address`);
      if (r.publicKey === self.publicKey) throw new RegistryBookError(`registry "${r.id}" already has the hub key ${self.publicKey}: each registry needs a key of its own (its own --state-dir)`);
    }
    const entry: RegistryEntry = { ...self, startedAt: now };
    await this.kv.put(key(self.id), encode(entry));
    return sortRegistries([...others, entry]);
  }

  /** Every registry, in preference order. An invalid entry is skipped. */
  async list(): Promise<RegistryEntry[]> {
    return sortRegistries([...(await readPrefix(this.kv, PREFIX)).values()].flatMap((e) => registryOf(e) ?? []));
  }

  async get(id: string): Promise<RegistryEntry | null> {
    const e = await getLive(this.kv, key(id));
    return e ? json<RegistryEntry>(e) : null;
  }

  /** Forgets a registry (taken out of the mesh for good). */
  async remove(id: string): Promise<void> {
    await this.kv.delete(key(id));
  }
}

/** The store's key prefix of registries (`registries.<id>`), for a watch. */
export const REGISTRIES_PREFIX = PREFIX;

/**
 * A registry's entry as stored, or null when it is invalid: not ours to repair, a bad entry is
 * left out of the list (and so out of enrolment replies).
 */
export function registryOf(e: KvEntry): RegistryEntry | null {
  try {
    const { startedAt, ...info } = json<RegistryEntry>(e);
    return { ...parseRegistryInfo(info, e.key), startedAt: Number(startedAt) || 0 };
  } catch (err) {
    if (err instanceof ContractError || err instanceof SyntaxError) return null;
    throw err;
  }
}

/** The mesh's preference order: by id ("registry" < "registry-b" < "registry-c"). */
export function sortRegistries<T extends { id: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function key(id: string): string {
  return `${PREFIX}.${id}`;
}
