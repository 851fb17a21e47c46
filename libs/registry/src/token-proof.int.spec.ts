import { Redis } from 'ioredis';
import { registryKeys } from './keys';
import { enrollProof } from './token-proof';
import { hashToken, TokenStore } from './tokens';

const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const key = (n: number) => Buffer.alloc(32, n).toString('base64');

describe('TokenStore with enrolment proofs (Redis)', () => {
  const redis = new Redis(REDIS);
  let mesh: string;
  let now: number;
  let store: TokenStore;
  const fields = (n: number) => ({ mesh, publicKey: key(n), name: `n${n}` });

  beforeEach(() => {
    mesh = `p${Math.random().toString(36).slice(2, 10)}`;
    now = 1_700_000_000_000;
    store = new TokenStore(redis, mesh, { now: () => now });
  });
  afterEach(() => store.clear());
  afterAll(() => redis.disconnect());

  it('keeps only the hash and the verification key: neither is the token nor makes a proof', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    const raw = await redis.hgetall(registryKeys(mesh).tokens);
    expect(Object.keys(raw)).toEqual([hashToken(token)]);
    const stored = JSON.parse(raw[hashToken(token)]) as { verifyKey: string };
    expect(stored.verifyKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(JSON.stringify(raw)).not.toContain(token.slice(4));
    expect(JSON.stringify(await store.list())).not.toContain('verifyKey');
  });

  it('enrols with a proof once (single use), the same key may retry, and refuses a tampered or foreign proof', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    const proof = enrollProof(token, fields(1));
    expect(await store.consumeProof(proof, fields(2))).toEqual({ ok: false, reason: 'invalid_proof' }); // replayed for another key
    expect((await store.consumeProof(proof, fields(1))).ok).toBe(true);
    expect((await store.consumeProof(proof, fields(1))).ok).toBe(true); // a lost reply, retried
    expect(await store.consumeProof(enrollProof(token, fields(3)), fields(3))).toEqual({ ok: false, reason: 'already_used' });
    expect(await store.consumeProof({ id: 'f'.repeat(64), sig: proof.sig }, fields(1))).toEqual({ ok: false, reason: 'unknown' });
    // An enrolment that failed after the check gives the use back (twice here: the retry counted too).
    expect(await store.unconsumeHash(proof.id, key(1))).toBe(true);
    expect(await store.unconsumeHash(proof.id, key(1))).toBe(true);
    expect((await store.consumeProof(enrollProof(token, fields(3)), fields(3))).ok).toBe(true);
  });

  it('refuses a proof of an expired token', async () => {
    const { token } = await store.create({ reusable: true, ttlSeconds: 10 });
    now += 10_000;
    expect(await store.consumeProof(enrollProof(token, fields(1)), fields(1))).toEqual({ ok: false, reason: 'expired' });
  });
});
