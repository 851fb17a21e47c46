import type { KV } from 'nats';
import { deleteAt, encode, getLive, json, readPrefix } from './state';

/**
 * NATS credentials of removed members, in the store of record: `revoked.<NATS user key>` →
 * `{at, name}`. The registry signs them into the mesh account's JWT (`revocations`: every user
 * JWT of that key issued at or before `at` is refused, and connections using one are closed), so
 * they survive a registry or NATS restart. An entry older than the longest credential lifetime
 * guards nothing any more (those JWTs have expired) and is pruned.
 */
export interface Revocation {
  /** Unix seconds. */
  at: number;
  name: string;
}

const REVOKED = 'revoked';

export class Revocations {
  constructor(private readonly kv: KV) {}

  async add(natsKey: string, rev: Revocation): Promise<void> {
    await this.kv.put(`${REVOKED}.${natsKey}`, encode(rev));
  }

  /** The key is enrolled again (it holds a fresh credential): its revocation goes. True when there was one. */
  async remove(natsKey: string): Promise<boolean> {
    const e = await getLive(this.kv, `${REVOKED}.${natsKey}`);
    return e ? deleteAt(this.kv, e.key, e.revision) : false;
  }

  /** NATS user key → revocation time (unix s), without entries older than `maxAgeS` (removed from the store). */
  async current(nowS: number, maxAgeS: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [key, e] of await readPrefix(this.kv, REVOKED)) {
      const rev = json<Revocation>(e);
      if (rev.at + maxAgeS < nowS) await deleteAt(this.kv, key, e.revision);
      else out[key.slice(REVOKED.length + 1)] = rev.at;
    }
    return out;
  }
}
