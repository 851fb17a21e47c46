import { accountClaims, createKey, decodeJwt, encodeJwt, isPublicKey, keyFromSeed, NKEY_SEED_PATTERN, operatorClaims, seedText, userClaims, verifyJwt } from './jwt';

describe('nkeys and NATS JWTs', () => {
  const operator = createKey('operator');
  const account = createKey('account');
  const user = createKey('user');

  it('makes keys of each role, with seeds that round-trip and match the seed pattern', () => {
    expect(operator.getPublicKey()).toMatch(/^O[A-Z2-7]{55}$/);
    expect(account.getPublicKey()).toMatch(/^A[A-Z2-7]{55}$/);
    expect(user.getPublicKey()).toMatch(/^U[A-Z2-7]{55}$/);
    for (const [kp, prefix] of [[operator, 'SO'], [account, 'SA'], [user, 'SU']] as const) {
      const seed = seedText(kp);
      expect(seed.startsWith(prefix)).toBe(true);
      expect(seed.match(NKEY_SEED_PATTERN)).toEqual([seed]);
      expect(keyFromSeed(seed).getPublicKey()).toBe(kp.getPublicKey());
    }
    expect(() => keyFromSeed(seedText(user), 'account')).toThrow(/not a NATS account key/);
  });

  it('checks public keys: role, length and checksum', () => {
    const u = user.getPublicKey();
    expect(isPublicKey(u, 'user')).toBe(true);
    expect(isPublicKey(u, 'account')).toBe(false);
    const flipped = u.slice(0, 10) + (u[10] === 'A' ? 'B' : 'A') + u.slice(11);
    expect(isPublicKey(flipped, 'user')).toBe(false);
    expect(isPublicKey(u.slice(0, 55), 'user')).toBe(false);
    expect(isPublicKey(42, 'user')).toBe(false);
  });

  it('encodes a user JWT as nats-server reads it: header, claims, ed25519 signature by the issuer', () => {
    const jwt = encodeJwt(
      userClaims({ user: user.getPublicKey(), name: 'member-a', issuerAccount: account.getPublicKey(), permissions: { pub: { allow: ['x.>'] }, sub: { allow: ['y'] }, resp: { max: 1, ttl: 5 } }, src: ['10.0.0.1/32'], expiresAt: 2_000_000_000 }),
      account,
      1_700_000_000_000,
    );
    const [h, p, sig] = jwt.split('.');
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ typ: 'JWT', alg: 'ed25519-nkey' });
    expect(jwt).not.toMatch(/=/);
    expect(Buffer.from(sig, 'base64url')).toHaveLength(64);
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    expect(claims).toEqual({
      jti: expect.stringMatching(/^[A-Z2-7]{52}$/),
      iat: 1_700_000_000,
      iss: account.getPublicKey(),
      exp: 2_000_000_000,
      name: 'member-a',
      sub: user.getPublicKey(),
      nats: {
        pub: { allow: ['x.>'] },
        sub: { allow: ['y'] },
        resp: { max: 1, ttl: 5 },
        src: ['10.0.0.1/32'],
        subs: -1,
        data: -1,
        payload: -1,
        issuer_account: account.getPublicKey(),
        type: 'user',
        version: 2,
      },
    });
    expect(verifyJwt(jwt).sub).toBe(user.getPublicKey());
  });

  it('refuses a JWT whose claims were changed after signing', () => {
    const jwt = encodeJwt(userClaims({ user: user.getPublicKey(), name: 'a', permissions: { pub: { allow: ['mine'] } } }), account);
    const [h, p, sig] = jwt.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.nats.pub.allow = ['>'];
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    expect(decodeJwt(forged).nats.pub).toEqual({ allow: ['>'] });
    expect(() => verifyJwt(forged)).toThrow(/does not verify/);
  });

  it('refuses to sign with a key of the wrong role (the server would refuse the chain)', () => {
    expect(() => encodeJwt(userClaims({ user: user.getPublicKey(), name: 'a' }), operator)).toThrow(/signed by a key starting with A/);
    expect(() => encodeJwt(accountClaims({ account: account.getPublicKey(), name: 'a' }), account)).toThrow(/starting with O/);
    const op = encodeJwt(operatorClaims({ operator: operator.getPublicKey(), name: 'op', systemAccount: account.getPublicKey() }), operator);
    expect(verifyJwt(op).nats).toEqual({ system_account: account.getPublicKey(), type: 'operator', version: 2 });
  });

  it('marks bearer JWTs and leaves unlimited limits explicit (0 would mean none allowed)', () => {
    const claims = userClaims({ user: user.getPublicKey(), name: 'enroll', bearer: true });
    expect(claims.nats).toMatchObject({ bearer_token: true, subs: -1, data: -1, payload: -1 });
    expect(accountClaims({ account: account.getPublicKey(), name: 'm' }).nats.limits).toMatchObject({ conn: -1, subs: -1, payload: -1, data: -1 });
  });

  it('decodeJwt refuses what is not a NATS JWT', () => {
    expect(() => decodeJwt('a.b')).toThrow(/three/);
    const h = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256' })).toString('base64url');
    expect(() => decodeJwt(`${h}.e30.x`)).toThrow(/algorithm/);
  });
});
