import { LabSpecError } from './errors';
import { MAX_MEMBERS, MEMBER_NATS, MEMBER_NATS_TEXT, MemberNat, MemberSpec, parseMembers } from './plan';

/**
 * The members of `wgmesh lab up` from its options (pure): `--members N` and/or `--nat
 * eim,edm,public,…`, or the lab's own `--members a:eim,b:edm` list. The default lab is three
 * members behind endpoint-independent NATs and one public member.
 */
export const DEFAULT_MESH_MEMBERS = 4;

/** `--members`: a count ("4") or a list of name:nat ("a:eim,b:edm"). */
export function parseMemberOption(text: string): number | MemberSpec[] {
  if (/^\s*\d+\s*$/.test(text)) {
    const n = Number(text);
    if (n < 1 || n > MAX_MEMBERS) throw new LabSpecError(`--members must be from 1 to ${MAX_MEMBERS} (got ${n})`);
    return n;
  }
  return parseMembers(text);
}

/** `--nat`: "eim,edm,public" (one per member, or one for all). */
export function parseNatList(text: string): MemberNat[] {
  const list = text.split(',').map((s) => s.trim());
  for (const n of list) if (!MEMBER_NATS.includes(n as MemberNat)) throw new LabSpecError(`--nat "${n}" must be ${MEMBER_NATS_TEXT}`);
  return list as MemberNat[];
}

/**
 * Member specs from `--members` and `--nat`. A count without `--nat` gives N-1 members behind eim
 * NATs and a public one, the last (so one member is a public one); `--nat` alone gives one member per entry; a single
 * `--nat` value applies to every member. Names are a, b, c, … (then aa, ab, …).
 */
export function meshMembers(members: number | MemberSpec[] | undefined, nat: MemberNat[] | undefined): MemberSpec[] {
  if (Array.isArray(members)) {
    if (nat) throw new LabSpecError('--nat goes with --members <count>, not with a name:nat list');
    return members;
  }
  const n = members ?? nat?.length ?? DEFAULT_MESH_MEMBERS;
  let nats: MemberNat[];
  if (!nat) nats = Array.from({ length: n }, (_, i) => (i === n - 1 ? 'public' : 'eim'));
  else if (nat.length === n) nats = nat;
  else if (nat.length === 1) nats = Array.from({ length: n }, () => nat[0]);
  else throw new LabSpecError(`--nat lists ${nat.length} NAT types for ${n} members: give one per member, or one for all`);
  return nats.map((m, i) => ({ name: memberName(i), nat: m }));
}

/** 0 → a, 25 → z, 26 → aa, … */
export function memberName(index: number): string {
  let name = '';
  for (let i = index + 1; i > 0; i = Math.floor((i - 1) / 26)) name = String.fromCharCode(97 + ((i - 1) % 26)) + name;
  return name;
}
