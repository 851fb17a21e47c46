import type { NatType } from '@wgmesh/contracts';
import { keyFromBase64 } from '@wgmesh/wireguard';
import type { KV, KvEntry } from 'nats';
import { AddressPlan } from './address-plan';
import { deleteAt, encode, getLive, isConflict, json, readPrefix } from './state';

/** What the registry keeps about an enrolled member (public material only). */
export interface MemberRecord {
  /** Its name, also its node id. */
  name: string;
  publicKey: string;
  /** Its tunnel address, e.g. "10.99.0.5". */
  address: string;
  /** Its NATS user public key, when it enrolled with one (its credentials are issued to it). */
  natsKey?: string;
  /** Unix ms of the first enrolment. */
  enrolledAt: number;
  /** Id of the token it enrolled with (never the token). */
  tokenId?: string;
  /** Its NAT, as its nat-probe last reported it. */
  nat?: NatType;
  /** The endpoint the hub last saw it at: the rebuilt hub dials it there at once. */
  endpoint?: string | null;
}

export type ClaimRefusal = 'name_taken' | 'key_taken' | 'mesh_full' | 'busy' | 'cidr_changed';

export type ClaimResult =
  | { ok: true; member: MemberRecord; created: boolean; /** The NATS key the member had before it enrolled again with another. */ replacedNatsKey?: string }
  | { ok: false; code: ClaimRefusal; message: string };

export interface ClaimRequest {
  name: string;
  publicKey: string;
  natsKey?: string;
  tokenId?: string;
}

export interface MembershipOptions {
  /** Clock (unix ms). */
  now?: () => number;
  /**
   * An index entry (key → name, address → name) whose member record is missing is left by a
   * claim that did not finish (a crash, a lost race being rolled back). Younger than this, it
   * may still be a claim in progress: the key or address counts as taken; older, it is removed.
   */
  orphanGraceMs?: number;
}

interface IndexValue {
  name: string;
}

const MEMBERS = 'members';
const KEYS = 'keys';
const ADDRESSES = 'addresses';
const META_CIDR = 'meta.cidr';
/** Retries of a claim that lost a race on one of its keys (it then sees the winner). */
const MAX_ATTEMPTS = 8;

/** The store's key prefix of member records (`members.<name>`), for a watch. */
export const MEMBERS_PREFIX = MEMBERS;

const memberKey = (name: string) => `${MEMBERS}.${name}`;
const keyIndex = (publicKey: string) => `${KEYS}.${keyFromBase64(publicKey).toString('hex')}`;
const addressIndex = (offset: number) => `${ADDRESSES}.${offset}`;

/**
 * The mesh's membership in the store of record. One claim binds a name, a WireGuard key, a
 * tunnel address and a NATS identity: the key index and the address index are created only if
 * absent, then the member record (the commit point) only if absent, so of concurrent claims of
 * one name, one key or one address exactly one wins, in this process or another registry. A name
 * keeps its key (and the key its name and address) until `remove`; the same key claiming its
 * name again gets its record back (with a new NATS key if it brings one).
 */
export class Membership {
  private readonly now: () => number;
  private readonly graceMs: number;
  /** Offsets known taken, and where the next search starts (hints: the store decides). */
  private used: Set<number> | null = null;
  private next: number;
  /** Offsets a non-member peer of the hub device uses (an operator's): not handed out while it is there. */
  private avoided = new Set<number>();
  /** Claims and removals of this process, one at a time (the store arbitrates between processes). */
  private queue: Promise<unknown> = Promise.resolve();
  /** The store's recorded CIDR is this plan's (checked once). */
  private cidrRecorded = false;

  constructor(
    private readonly kv: KV,
    readonly plan: AddressPlan,
    opts: MembershipOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.graceMs = opts.orphanGraceMs ?? 60_000;
    this.next = plan.first;
  }

  claim(req: ClaimRequest): Promise<ClaimResult> {
    return this.serialise(() => this.claimNow(req));
  }

  private async claimNow(req: ClaimRequest): Promise<ClaimResult> {
    const cidr = await this.checkCidr();
    if (cidr) return cidr;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await getLive(this.kv, memberKey(req.name));
      if (existing) {
        const m = json<MemberRecord>(existing);
        if (m.publicKey !== req.publicKey) return refuse('name_taken', `the name "${req.name}" belongs to another member (key ${m.publicKey}) until "wgmesh member remove ${req.name}"; choose another --name`);
        if (req.natsKey === undefined || req.natsKey === m.natsKey) return { ok: true, member: m, created: false };
        try {
          const again = { ...m, natsKey: req.natsKey };
          await this.kv.update(memberKey(req.name), encode(again), existing.revision);
          return m.natsKey ? { ok: true, member: again, created: false, replacedNatsKey: m.natsKey } : { ok: true, member: again, created: false };
        } catch (err) {
          if (isConflict(err)) continue;
          throw err;
        }
      }
      // The key: free, ours from an unfinished claim, or another member's.
      const held = await this.indexHolder(keyIndex(req.publicKey));
      if (held.state === 'member') {
        const m = held.member;
        return refuse('key_taken', `the key ${req.publicKey} is already a member, named "${m.name}" (${m.address}); a key has one name: enrol it as "${m.name}", or "wgmesh member remove ${m.name}" first`);
      }
      // An unfinished claim of this very key under this very name (an earlier attempt of the same
      // member cut short, e.g. by a store that timed out while a NATS cluster elected its leaders):
      // carried on from where it stopped rather than refused until it is old. Not given back on a
      // failure (another registry may be finishing it).
      const adopted = held.state === 'pending' && held.name === req.name;
      if (held.state === 'pending' && !adopted) return refuse('busy', `another enrolment of the key ${req.publicKey} is in progress; try again`);
      let keyRevision: number | null = null;
      if (!adopted) {
        try {
          keyRevision = await this.kv.create(keyIndex(req.publicKey), encode({ name: req.name } satisfies IndexValue));
        } catch (err) {
          if (isConflict(err)) continue; // someone claimed the key just now: look again
          throw err;
        }
      }
      const giveKeyBack = () => (keyRevision === null ? Promise.resolve(false) : deleteAt(this.kv, keyIndex(req.publicKey), keyRevision));
      const address = await this.claimAddress(req.name);
      if (!address) {
        await giveKeyBack();
        return refuse('mesh_full', `no free address left in the mesh CIDR ${this.plan.text}`);
      }
      const member: MemberRecord = { name: req.name, publicKey: req.publicKey, address: this.plan.addressAt(address.offset), enrolledAt: this.now() };
      if (req.natsKey !== undefined) member.natsKey = req.natsKey;
      if (req.tokenId !== undefined) member.tokenId = req.tokenId;
      try {
        await this.kv.create(memberKey(req.name), encode(member));
        return { ok: true, member, created: true };
      } catch (err) {
        await giveKeyBack();
        await this.releaseOffset(address.offset, address.revision);
        if (isConflict(err)) continue; // the name was claimed meanwhile: the next round says by whom
        throw err;
      }
    }
    return refuse('busy', `the claim of "${req.name}" kept losing races; try again`);
  }

  /** Host addresses the hub device's other peers use (an operator's own peers): never handed to a member while they are there. */
  avoid(addresses: readonly string[]): void {
    const offsets = new Set<number>();
    for (const a of addresses) {
      try {
        offsets.add(this.plan.offsetOf(a));
      } catch {
        // outside the mesh CIDR: nothing to avoid
      }
    }
    this.avoided = offsets;
  }

  /** The member of a name, or null. */
  async get(name: string): Promise<MemberRecord | null> {
    const e = await getLive(this.kv, memberKey(name));
    return e ? json<MemberRecord>(e) : null;
  }

  /** The member a WireGuard key is enrolled as, or null. */
  async byKey(publicKey: string): Promise<MemberRecord | null> {
    const held = await this.indexHolder(keyIndex(publicKey));
    return held.state === 'member' ? held.member : null;
  }

  /** Every member, by name. */
  async list(): Promise<MemberRecord[]> {
    return [...(await readPrefix(this.kv, MEMBERS)).values()].map((e) => json<MemberRecord>(e)).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The member known by `target`: name, public key or tunnel address. */
  async find(target: string): Promise<MemberRecord | null> {
    const all = await this.list();
    return all.find((m) => m.name === target || m.publicKey === target || m.address === target) ?? null;
  }

  /**
   * Changes a member's record (NAT, last endpoint): read, change, write at the revision read,
   * again on a race. Null when it is no member (any more); the change may return `null` for "no change".
   */
  async update(name: string, change: (m: MemberRecord) => MemberRecord | null): Promise<MemberRecord | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const e = await getLive(this.kv, memberKey(name));
      if (!e) return null;
      const next = change(json<MemberRecord>(e));
      if (next === null) return json<MemberRecord>(e);
      try {
        await this.kv.update(memberKey(name), encode({ ...next, name, publicKey: json<MemberRecord>(e).publicKey }), e.revision);
        return next;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    throw new Error(`the record of "${name}" kept changing while it was updated`);
  }

  /**
   * Removes a member: its record first (from then on it is no member), then its key and address
   * indices. Resolves with what it was, or null when there was no such member.
   */
  remove(name: string): Promise<MemberRecord | null> {
    return this.serialise(async () => {
      const e = await getLive(this.kv, memberKey(name));
      if (!e) return null;
      const m = json<MemberRecord>(e);
      if (!(await deleteAt(this.kv, memberKey(name), e.revision))) throw new Error(`the record of "${name}" changed while it was removed; try again`);
      const k = await getLive(this.kv, keyIndex(m.publicKey));
      if (k && json<IndexValue>(k).name === name) await deleteAt(this.kv, keyIndex(m.publicKey), k.revision);
      const offset = this.plan.offsetOf(m.address);
      const a = await getLive(this.kv, addressIndex(offset));
      if (a && json<IndexValue>(a).name === name) await this.releaseOffset(offset, a.revision);
      return m;
    });
  }

  /**
   * The CIDR the addresses are relative to: recorded on first use; a different one is refused.
   * Once it is known to be ours it is not read again (only deleting the bucket changes it).
   */
  private async checkCidr(): Promise<ClaimResult | null> {
    if (this.cidrRecorded) return null;
    const e = await getLive(this.kv, META_CIDR);
    if (e) {
      const recorded = e.string();
      this.cidrRecorded = recorded === this.plan.text;
      return this.cidrRecorded ? null : refuse('cidr_changed', `addresses of this mesh were allocated from ${recorded}, not ${this.plan.text}; run "wgmesh registry init --yes" to start over`);
    }
    try {
      await this.kv.create(META_CIDR, this.plan.text);
    } catch (err) {
      if (!isConflict(err)) throw err;
      return this.checkCidr();
    }
    this.cidrRecorded = true;
    return null;
  }

  /** Who an index entry points to: a member (whose record points back), a claim in progress, or nobody (free, or an old orphan now removed). */
  private async indexHolder(key: string): Promise<{ state: 'member'; member: MemberRecord } | { state: 'pending'; name: string } | { state: 'free' }> {
    const e = await getLive(this.kv, key);
    if (!e) return { state: 'free' };
    const owner = await this.get(json<IndexValue>(e).name);
    if (owner && (key.startsWith(`${KEYS}.`) ? keyIndex(owner.publicKey) === key : addressIndex(this.plan.offsetOf(owner.address)) === key)) return { state: 'member', member: owner };
    if (this.orphanFresh(e)) return { state: 'pending', name: json<IndexValue>(e).name };
    await deleteAt(this.kv, key, e.revision);
    return { state: 'free' };
  }

  private orphanFresh(e: KvEntry): boolean {
    return this.now() - e.created.getTime() < this.graceMs;
  }

  /**
   * Reads the address indexes taken now (the allocation hint). The registry does it at its start:
   * read lazily at the first claim instead, the read (an ordered consumer) would fall on an
   * enrolment, and while a NATS cluster that lost a node elects consumer leaders, creating one
   * can take longer than an enrolment waits (seen: the first enrolment at a second registry after
   * the first registry's host died timed out for a minute).
   */
  async prime(): Promise<Set<number>> {
    this.used = new Set([...(await readPrefix(this.kv, ADDRESSES)).keys()].map((k) => Number(k.slice(ADDRESSES.length + 1))));
    return this.used;
  }

  /** Creates the first free address index from the hint on; null when the CIDR is full. */
  private async claimAddress(name: string): Promise<{ offset: number; revision: number } | null> {
    const used = this.used ?? (await this.prime());
    const { first, count } = this.plan;
    for (let i = 0; i < count; i++) {
      const offset = first + ((this.next - first + i) % count);
      if (!this.plan.allocatable(offset) || used.has(offset) || this.avoided.has(offset)) continue;
      let revision: number;
      try {
        revision = await this.kv.create(addressIndex(offset), encode({ name } satisfies IndexValue));
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Taken by another registry, or an orphan: a stale one is cleared and the offset tried again later.
        if ((await this.indexHolder(addressIndex(offset))).state !== 'free') used.add(offset);
        continue;
      }
      used.add(offset);
      this.next = offset + 1;
      return { offset, revision };
    }
    return null;
  }

  private async releaseOffset(offset: number, revision: number): Promise<void> {
    if (await deleteAt(this.kv, addressIndex(offset), revision)) this.used?.delete(offset);
  }

  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function refuse(code: ClaimRefusal, message: string): ClaimResult {
  return { ok: false, code, message };
}
