import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import { connect, NatsConnection } from 'nats';
import { buildEnrollRequest, enrollFields, hashToken } from './enroll-proof';
import { destroyRegistryState, openRegistryState, readPrefix, RegistryState } from './state';
import { parseDuration, TokenStore } from './tokens';

// Tokens in the store of record (the tests' shared NATS JetStream; a mesh of its own per test).

const NATS = process.env.WGMESH_TEST_NATS ?? 'nats://127.0.0.1:4222';
const REGISTRY = keyToBase64(publicKeyFromPrivate(generatePrivateKey()));

/** A member key pair and its enrolment request's proof of `token` (what consumeProof checks). */
function member() {
  const priv = generatePrivateKey();
  const publicKey = keyToBase64(publicKeyFromPrivate(priv));
  return {
    publicKey,
    prove: (mesh: string, token: string) => {
      const req = buildEnrollRequest({ mesh, name: 'a', token, privateKey: new SecretKey(priv), publicKey, registryKey: REGISTRY });
      return { proof: req.proof, fields: enrollFields(mesh, req) };
    },
  };
}

describe('TokenStore (NATS JetStream KV)', () => {
  const conns: NatsConnection[] = [];
  let mesh: string;
  let state: RegistryState;
  let now: number;
  let store: TokenStore;
  const use = (s: TokenStore, m: ReturnType<typeof member>, token: string) => {
    const { proof, fields } = m.prove(mesh, token);
    return s.consumeProof(proof, fields);
  };

  beforeEach(async () => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
    now = Date.now();
    conns.push(await connect({ servers: NATS }));
    state = await openRegistryState(conns[0], mesh, { nonceTtlMs: 60_000 });
    store = new TokenStore(state.kv, { now: () => now });
  });
  afterEach(async () => {
    await destroyRegistryState(conns[0], mesh);
    await Promise.all(conns.splice(0).map((c) => c.close()));
  });

  it('stores only the hash and the verification key, never the token', async () => {
    const { token, info } = await store.create({ reusable: false, ttlSeconds: 3600, name: 'site-a' });
    expect(token).toMatch(/^wgm_[A-Za-z0-9_-]{43}$/);
    const stored = await readPrefix(state.kv, 'tokens');
    expect([...stored.keys()]).toEqual([`tokens.${hashToken(token)}`]);
    const text = [...stored.values()].map((e) => e.string()).join();
    expect(text).not.toContain(token.slice(4));
    expect(JSON.parse(text).verifyKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(info).toEqual({ id: expect.stringMatching(/^[0-9a-f]{12}$/), name: 'site-a', reusable: false, createdAt: now, expiresAt: now + 3_600_000, uses: 0 });
    expect(JSON.stringify(await store.list())).not.toContain('verifyKey');
  });

  it('lets a single-use token enrol once, the same key retry, and refuses a proof replayed for another key', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    const a = member();
    const b = member();
    const { proof } = a.prove(mesh, token);
    expect(await store.consumeProof(proof, b.prove(mesh, token).fields)).toEqual({ ok: false, reason: 'invalid_proof' });
    expect(await use(store, a, token)).toEqual({ ok: true, token: expect.objectContaining({ uses: 1 }) });
    expect(await use(store, b, token)).toEqual({ ok: false, reason: 'already_used' });
    expect(await use(store, a, token)).toEqual({ ok: true, token: expect.objectContaining({ uses: 2 }) }); // retry after a lost reply
    expect(await store.consumeProof({ id: 'f'.repeat(64), sig: proof.sig }, a.prove(mesh, token).fields)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('gives exactly one of many concurrent enrolments with a single-use token, across registries', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    const stores = await Promise.all([0, 1, 2, 3].map(async () => {
      const nc = await connect({ servers: NATS });
      conns.push(nc);
      return new TokenStore((await openRegistryState(nc, mesh, { nonceTtlMs: 60_000 })).kv, { now: () => now });
    }));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => use(stores[i % stores.length], member(), token)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'already_used')).toHaveLength(19);
  });

  it('lets a reusable token enrol many', async () => {
    const { token } = await store.create({ reusable: true, ttlSeconds: 60 });
    const results = await Promise.all(Array.from({ length: 10 }, () => use(store, member(), token)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect((await store.list())[0].uses).toBe(10);
  });

  it('refuses expired and revoked tokens by name, and forgets them after a week', async () => {
    const { token, info } = await store.create({ reusable: true, ttlSeconds: 10 });
    const a = member();
    now += 9_999;
    expect((await use(store, a, token)).ok).toBe(true);
    now += 1;
    expect(await use(store, a, token)).toEqual({ ok: false, reason: 'expired' });
    const other = await store.create({ reusable: false, ttlSeconds: 10 });
    expect(await store.revoke(other.info.id)).toBe(true);
    expect(await store.revoke(other.info.id)).toBe(false);
    expect(await use(store, a, other.token)).toEqual({ ok: false, reason: 'unknown' });
    expect((await store.list()).map((t) => t.id)).toEqual([info.id]);
    now += 8 * 24 * 3600 * 1000;
    expect(await store.list()).toEqual([]);
    expect(await use(store, a, token)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('gives a single-use token back after a failed enrolment, only to the key that used it', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    const a = member();
    const b = member();
    expect((await use(store, a, token)).ok).toBe(true);
    expect(await store.unconsume(hashToken(token), b.publicKey)).toBe(false);
    expect(await store.unconsume(hashToken(token), a.publicKey)).toBe(true);
    expect((await use(store, b, token)).ok).toBe(true);
  });

  it('checks ttl and name', async () => {
    await expect(store.create({ reusable: false, ttlSeconds: 0 })).rejects.toThrow(/ttl/);
    await expect(store.create({ reusable: false, ttlSeconds: 60, name: 'bad name' })).rejects.toThrow(/name/);
    expect([parseDuration('90'), parseDuration('15m'), parseDuration('1h'), parseDuration('7d')]).toEqual([90, 900, 3600, 604800]);
    expect(() => parseDuration('1w')).toThrow(/duration/);
  });
});
