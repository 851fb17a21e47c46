import { base32, generatePrivateKey, isBase64Key, keyFromBase32, keyFromBase64, keyFromHex, keyToBase32, keyToBase64, keyToHex, publicKeyFromPrivate, sharedSecret } from './keys';

// Public test material from VPP capture notes (../shared/vpp-api) and wgsd's README example.
const PRIV = 'UPX9exhEPblL1tbzu7BD/Qtm4aXCe2IKmNqyhUPySGk=';
const PUB = 'oCWhcoMoW6o7rL+jpotNpZ9AoD2lS5Hd7lCfBO2h0nM=';

describe('keys', () => {
  it('derives the public key as wg pubkey does', () => {
    expect(keyToBase64(publicKeyFromPrivate(keyFromBase64(PRIV)))).toBe(PUB);
  });

  it('encodes base32 as wgsd names peers', () => {
    // From wgsd's README: xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4= is the peer named below.
    const key = keyFromBase64('xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=');
    expect(keyToBase32(key)).toBe('yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4ha====');
    expect(keyToBase32(key)).toHaveLength(56);
    expect(keyFromBase32('YUTRLED535IGKL7BDLERL6M4VJXSXM3UQQPL4NMSN27MT56AD4HA====').equals(key)).toBe(true);
  });

  it('round-trips random keys through every encoding', () => {
    for (let i = 0; i < 200; i++) {
      const priv = generatePrivateKey();
      expect(priv[0] & 7).toBe(0);
      expect(priv[31] & 0xc0).toBe(0x40);
      const pub = publicKeyFromPrivate(priv);
      expect(keyFromBase64(keyToBase64(pub)).equals(pub)).toBe(true);
      expect(keyFromBase32(keyToBase32(pub)).equals(pub)).toBe(true);
      expect(keyFromHex(keyToHex(pub)).equals(pub)).toBe(true);
    }
  });

  it.each(['', 'abc', `${PUB.slice(0, 43)}`, `${PUB.slice(0, 42)}B=`, `${PUB}=`, PUB.replace('o', '-')])('rejects base64 %p', (bad) => {
    expect(isBase64Key(bad)).toBe(false);
    expect(() => keyFromBase64(bad)).toThrow(/44 characters/);
  });

  it('rejects malformed base32 and hex', () => {
    expect(() => keyFromBase32('yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4hq')).toThrow(/base32/);
    expect(() => keyFromBase32('yutrled535igkl7bdlerl6m4vjxsxm3uqqpl4nmsn27mt56ad4hb====')).toThrow(/base32/);
    expect(() => keyFromHex('zz'.repeat(32))).toThrow(/hex/);
  });
});

describe('base32', () => {
  it.each([
    ['', ''],
    ['f', 'MY======'],
    ['fo', 'MZXQ===='],
    ['foo', 'MZXW6==='],
    ['foob', 'MZXW6YQ='],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI======'],
  ])('encodes %p as RFC 4648 says (%s)', (text, expected) => {
    const data = Buffer.from(text);
    expect(base32(data, { upper: true, pad: true })).toBe(expected);
    expect(base32(data)).toBe(expected.replace(/=+$/, '').toLowerCase());
  });
});

describe('sharedSecret (X25519)', () => {
  it('is the same from both sides, and differs for another key', () => {
    const a = generatePrivateKey();
    const b = generatePrivateKey();
    const c = generatePrivateKey();
    const ab = sharedSecret(a, publicKeyFromPrivate(b));
    expect(ab).toHaveLength(32);
    expect(sharedSecret(b, publicKeyFromPrivate(a)).equals(ab)).toBe(true);
    expect(sharedSecret(c, publicKeyFromPrivate(b)).equals(ab)).toBe(false);
  });

  it('refuses a low-order public key (all-zero secret) and wrong lengths', () => {
    expect(() => sharedSecret(generatePrivateKey(), Buffer.alloc(32))).toThrow(/low order/);
    expect(() => sharedSecret(Buffer.alloc(31), Buffer.alloc(32, 9))).toThrow(/32 bytes/);
  });
});
