import { connect, NatsConnection } from 'nats';
import { AddressPlan } from './address-plan';
import { Membership } from './membership';
import { destroyRegistryState, openRegistryState, readPrefix, RegistryState } from './state';

// The membership in the store of record, against the real NATS JetStream (the shared server of
// the tests; each test has a mesh of its own, deleted afterwards). "Registries" are Membership
// instances on connections of their own: the store, not one process, must pick one winner.

const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const key = (n: number) => {
  const k = Buffer.alloc(32, 7);
  k.writeUInt32BE(n + 1, 0);
  return k.toString('base64');
};

describe('Membership (NATS JetStream KV)', () => {
  const conns: NatsConnection[] = [];
  let mesh: string;
  let state: RegistryState;
  let now: number;
  const open = async (cidr = '10.99.0.0/24') => {
    const nc = await connect({ servers: NATS });
    conns.push(nc);
    const s = await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 });
    return new Membership(s.kv, new AddressPlan(cidr, cidr.startsWith('10.99.') ? ['10.99.0.1'] : []), { now: () => now, orphanGraceMs: 5000 });
  };

  beforeEach(async () => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
    now = Date.now();
    const nc = await connect({ servers: NATS });
    conns.push(nc);
    state = await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 });
  });
  afterEach(async () => {
    expect(await destroyRegistryState(conns[0], mesh)).toBe(true);
    await Promise.all(conns.splice(0).map((c) => c.close()));
  });

  it('binds name, key, address and NATS key; the same key gets its name and address back; a name keeps its key', async () => {
    const m = await open();
    const a = await m.claim({ name: 'a', publicKey: key(1), natsKey: 'UA', tokenId: 't1' });
    expect(a).toMatchObject({ ok: true, created: true, member: { name: 'a', publicKey: key(1), address: '10.99.0.2', natsKey: 'UA', tokenId: 't1' } });
    expect(await m.claim({ name: 'b', publicKey: key(2) })).toMatchObject({ ok: true, member: { address: '10.99.0.3' } });
    // Re-enrolment of the same key: same address, a new NATS key is taken.
    expect(await m.claim({ name: 'a', publicKey: key(1), natsKey: 'UB' })).toMatchObject({ ok: true, created: false, member: { address: '10.99.0.2', natsKey: 'UB' }, replacedNatsKey: 'UA' });
    expect(await m.claim({ name: 'a', publicKey: key(1), natsKey: 'UB' })).not.toHaveProperty('replacedNatsKey');
    expect(await m.claim({ name: 'a', publicKey: key(3) })).toMatchObject({ ok: false, code: 'name_taken', message: expect.stringContaining(`belongs to another member (key ${key(1)})`) });
    expect(await m.claim({ name: 'c', publicKey: key(1) })).toMatchObject({ ok: false, code: 'key_taken', message: expect.stringContaining('already a member, named "a"') });
    expect((await m.list()).map((x) => x.name)).toEqual(['a', 'b']);
    expect(await m.byKey(key(2))).toMatchObject({ name: 'b' });
    expect(await m.find('10.99.0.2')).toMatchObject({ name: 'a' });
  });

  it('survives the process: another instance (a restarted registry) sees the same membership', async () => {
    await (await open()).claim({ name: 'a', publicKey: key(1) });
    const again = await open();
    expect(await again.get('a')).toMatchObject({ publicKey: key(1), address: '10.99.0.2' });
    expect(await again.claim({ name: 'b', publicKey: key(2) })).toMatchObject({ ok: true, member: { address: '10.99.0.3' } });
  });

  it('concurrent claims of one name by four registries with four keys: exactly one wins, the rest are refused, nothing leaks', async () => {
    const registries = await Promise.all([0, 1, 2, 3].map(() => open()));
    const results = await Promise.all(registries.map((m, i) => m.claim({ name: 'same', publicKey: key(10 + i) })));
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((x) => !x.ok)) expect(r).toMatchObject({ code: 'name_taken' });
    expect(await registries[0].list()).toHaveLength(1);
    // The losers' key and address claims were rolled back: one key and one address are held, and a loser's key enrols under another name at once.
    expect((await readPrefix(state.kv, 'keys')).size).toBe(1);
    expect((await readPrefix(state.kv, 'addresses')).size).toBe(1);
    const loser = results.findIndex((r) => !r.ok);
    expect(await registries[0].claim({ name: 'other', publicKey: key(10 + loser) })).toMatchObject({ ok: true, created: true });
  });

  it('concurrent claims of one key under four names by four registries: exactly one name', async () => {
    const registries = await Promise.all([0, 1, 2, 3].map(() => open()));
    const results = await Promise.all(registries.map((m, i) => m.claim({ name: `n${i}`, publicKey: key(20) })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const r of results.filter((x) => !x.ok)) expect(r).toMatchObject({ code: expect.stringMatching(/^(key_taken|busy)$/) });
    expect(await registries[0].list()).toHaveLength(1);
    // Within one registry the claims are serialised: the losers are told the key's name.
    const one = await open();
    const inProcess = await Promise.all(['x', 'y', 'z'].map((n) => one.claim({ name: n, publicKey: key(21) })));
    expect(inProcess.filter((r) => r.ok)).toHaveLength(1);
    expect(inProcess.filter((r) => !r.ok).every((r) => !r.ok && r.code === 'key_taken')).toBe(true);
  });

  it('gives 30 concurrent enrolments across registries 30 distinct addresses', async () => {
    const registries = await Promise.all([0, 1, 2].map(() => open()));
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => registries[i % 3].claim({ name: `m${i}`, publicKey: key(100 + i) })));
    const addresses = results.map((r) => (r.ok ? r.member.address : r.message));
    expect(new Set(addresses).size).toBe(30);
    expect(addresses).not.toContain('10.99.0.1');
    expect(addresses).not.toContain('10.99.0.0');
  });

  it('fills a small CIDR exactly, then says so; a removed member frees its name, key and address', async () => {
    const m = await open('10.99.0.0/29');
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await m.claim({ name: `s${i}`, publicKey: key(30 + i) }));
    expect(got.map((r) => r.ok && r.member.address).sort()).toEqual(['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6']);
    expect(await m.claim({ name: 'full', publicKey: key(40) })).toMatchObject({ ok: false, code: 'mesh_full' });
    expect(await m.remove('s2')).toMatchObject({ name: 's2', address: '10.99.0.4' });
    expect(await m.remove('s2')).toBeNull();
    expect(await m.get('s2')).toBeNull();
    expect(await m.byKey(key(32))).toBeNull();
    expect(await m.claim({ name: 'full', publicKey: key(40) })).toMatchObject({ ok: true, member: { address: '10.99.0.4' } });
    expect(await m.claim({ name: 's2', publicKey: key(41) })).toMatchObject({ ok: false, code: 'mesh_full' });
  });

  it('clears what an unfinished claim left (a crash between its writes) once it is old, not while it may be running', async () => {
    const m = await open();
    // A claim that created its key index and stopped: the key is "busy" for the grace period, then free.
    await state.kv.create(`keys.${Buffer.from(key(50), 'base64').toString('hex')}`, JSON.stringify({ name: 'ghost' }));
    expect(await m.claim({ name: 'real', publicKey: key(50) })).toMatchObject({ ok: false, code: 'busy' });
    now += 6000;
    expect(await m.claim({ name: 'real', publicKey: key(50) })).toMatchObject({ ok: true, member: { name: 'real' } });
  });

  it('carries on an unfinished claim of the same key under the same name at once (an attempt cut short by a store timeout)', async () => {
    const m = await open();
    await state.kv.create(`keys.${Buffer.from(key(51), 'base64').toString('hex')}`, JSON.stringify({ name: 'retry' }));
    expect(await m.claim({ name: 'retry', publicKey: key(51) })).toMatchObject({ ok: true, created: true, member: { name: 'retry' } });
    expect(await m.byKey(key(51))).toMatchObject({ name: 'retry' });
    // another name for that key is still refused
    expect(await m.claim({ name: 'other', publicKey: key(51) })).toMatchObject({ ok: false, code: 'key_taken' });
  });

  it('updates a record at the revision it read (NAT, endpoint), and refuses a changed CIDR', async () => {
    const m = await open();
    await m.claim({ name: 'a', publicKey: key(1) });
    await Promise.all([m.update('a', (r) => ({ ...r, nat: 'eim' })), m.update('a', (r) => ({ ...r, endpoint: '198.51.100.1:51820' }))]);
    expect(await m.get('a')).toMatchObject({ nat: 'eim', endpoint: '198.51.100.1:51820', publicKey: key(1) });
    expect(await m.update('nobody', (r) => r)).toBeNull();
    const moved = await open('10.98.0.0/24');
    expect(await moved.claim({ name: 'z', publicKey: key(60) })).toMatchObject({ ok: false, code: 'cidr_changed', message: expect.stringContaining('allocated from 10.99.0.0/24') });
  });
});
