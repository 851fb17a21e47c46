import { Redis } from 'ioredis';
import { hashToken, parseDuration, TokenStore } from './tokens';
import { registryKeys } from './keys';

const REDIS = process.env.WGMESH_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');

describe('TokenStore (Redis)', () => {
  const redis = new Redis(REDIS);
  const clients = Array.from({ length: 4 }, () => new Redis(REDIS));
  let mesh: string;
  let now: number;
  let store: TokenStore;

  beforeEach(() => {
    mesh = `t${Math.random().toString(36).slice(2, 10)}`;
    now = 1_700_000_000_000;
    store = new TokenStore(redis, mesh, { now: () => now });
  });
  afterEach(async () => {
    await store.clear();
    expect(await redis.exists(registryKeys(mesh).tokens)).toBe(0);
  });
  afterAll(() => {
    redis.disconnect();
    clients.forEach((c) => c.disconnect());
  });

  it('stores only the hash of a token, never the token', async () => {
    const { token, info } = await store.create({ reusable: false, ttlSeconds: 3600, name: 'site-a' });
    expect(token).toMatch(/^wgm_[A-Za-z0-9_-]{43}$/);
    const stored = await redis.hgetall(registryKeys(mesh).tokens);
    expect(Object.keys(stored)).toEqual([hashToken(token)]);
    expect(JSON.stringify(stored)).not.toContain(token.slice(4));
    expect(info).toEqual({ id: expect.stringMatching(/^[0-9a-f]{12}$/), name: 'site-a', reusable: false, createdAt: now, expiresAt: now + 3_600_000, uses: 0 });
    expect(JSON.stringify(await store.list())).not.toContain(token.slice(4));
  });

  it('lets a single-use token enrol once, and the same key retry', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    expect(await store.consume(token, KEY_A)).toEqual({ ok: true, token: expect.objectContaining({ uses: 1 }) });
    expect(await store.consume(token, KEY_B)).toEqual({ ok: false, reason: 'already_used' });
    expect(await store.consume(token, KEY_A)).toEqual({ ok: true, token: expect.objectContaining({ uses: 2 }) }); // retry after a lost reply
    expect(await store.consume(token)).toEqual({ ok: false, reason: 'already_used' });
  });

  it('gives exactly one of many concurrent enrolments with a single-use token', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    const stores = clients.map((c) => new TokenStore(c, mesh, { now: () => now }));
    const keys = Array.from({ length: 20 }, (_, i) => Buffer.alloc(32, i + 10).toString('base64'));
    const results = await Promise.all(keys.map((k, i) => stores[i % stores.length].consume(token, k)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'already_used')).toHaveLength(19);
  });

  it('lets a reusable token enrol many', async () => {
    const { token } = await store.create({ reusable: true, ttlSeconds: 60 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.consume(token, Buffer.alloc(32, i + 1).toString('base64'))));
    expect(results.every((r) => r.ok)).toBe(true);
    expect((await store.list())[0].uses).toBe(10);
  });

  it('refuses expired, unknown and revoked tokens by name', async () => {
    const { token, info } = await store.create({ reusable: true, ttlSeconds: 10 });
    now += 9_999;
    expect((await store.consume(token)).ok).toBe(true);
    now += 1;
    expect(await store.consume(token)).toEqual({ ok: false, reason: 'expired' });
    expect(await store.consume('wgm_nope')).toEqual({ ok: false, reason: 'unknown' });
    expect(await store.consume('not-even-a-token')).toEqual({ ok: false, reason: 'unknown' });
    const other = await store.create({ reusable: false, ttlSeconds: 10 });
    expect(await store.revoke(other.info.id)).toBe(true);
    expect(await store.revoke(other.info.id)).toBe(false);
    expect(await store.consume(other.token)).toEqual({ ok: false, reason: 'unknown' });
    // Expired tokens are kept a week (to say "expired"), then purged.
    expect((await store.list()).map((t) => t.id)).toEqual([info.id]);
    now += 8 * 24 * 3600 * 1000;
    expect(await store.list()).toEqual([]);
    expect(await store.consume(token)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('gives a single-use token back after a failed enrolment', async () => {
    const { token } = await store.create({ reusable: false, ttlSeconds: 60 });
    expect((await store.consume(token, KEY_A)).ok).toBe(true);
    expect(await store.unconsume(token, KEY_B)).toBe(false);
    expect(await store.unconsume(token, KEY_A)).toBe(true);
    expect((await store.consume(token, KEY_B)).ok).toBe(true);
  });

  it('checks ttl and name', async () => {
    await expect(store.create({ reusable: false, ttlSeconds: 0 })).rejects.toThrow(/ttl/);
    await expect(store.create({ reusable: false, ttlSeconds: 60, name: 'bad name' })).rejects.toThrow(/name/);
    expect([parseDuration('90'), parseDuration('15m'), parseDuration('1h'), parseDuration('7d')]).toEqual([90, 900, 3600, 604800]);
    expect(() => parseDuration('1w')).toThrow(/duration/);
  });
});
