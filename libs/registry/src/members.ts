import { NatType, parsePublicKey } from '@wgmesh/contracts';
import type { Redis } from 'ioredis';
import { registryKeys } from './keys';

/** What the registry remembers about an enrolled member (public material only). */
export interface MemberRecord {
  publicKey: string;
  /** The name it enrolled with (also its node id). */
  name: string;
  /** Its tunnel address, e.g. "10.99.0.5". */
  address: string;
  /** Unix milliseconds of the (last) enrolment. */
  enrolledAt: number;
  /** Id of the token it enrolled with (never the token). */
  tokenId?: string;
  /** Its NAT, as its nat-probe last reported it. */
  nat?: NatType;
}

/** Enrolled members of one mesh, in a Redis hash (public key → record). */
export class MemberDirectory {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    mesh: string,
  ) {
    this.key = registryKeys(mesh).members;
  }

  async put(member: MemberRecord): Promise<void> {
    await this.redis.hset(this.key, parsePublicKey(member.publicKey, 'publicKey'), JSON.stringify(member));
  }

  async get(publicKey: string): Promise<MemberRecord | null> {
    const raw = await this.redis.hget(this.key, publicKey);
    return raw === null ? null : (JSON.parse(raw) as MemberRecord);
  }

  async remove(publicKey: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, publicKey)) === 1;
  }

  async list(): Promise<MemberRecord[]> {
    return (await this.redis.hvals(this.key)).map((raw) => JSON.parse(raw) as MemberRecord);
  }

  /** The member another one is known by: public key, name or tunnel address. */
  async find(target: string): Promise<MemberRecord | null> {
    const direct = await this.get(target);
    if (direct) return direct;
    return (await this.list()).find((m) => m.name === target || m.address === target) ?? null;
  }

  async clear(): Promise<void> {
    await this.redis.del(this.key);
  }
}
