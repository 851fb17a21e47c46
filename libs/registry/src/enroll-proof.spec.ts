import { randomBytes } from 'node:crypto';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate, SecretKey } from '@wgmesh/wireguard';
import { buildEnrollRequest, checkPossession, enrollFields, hashToken, PROOF_WINDOW_MS, tokenVerifyKey, verifyTokenProof } from './enroll-proof';

const pair = () => {
  const priv = generatePrivateKey();
  return { privateKey: new SecretKey(priv), publicKey: keyToBase64(publicKeyFromPrivate(priv)) };
};

describe('enrolment proofs: the token and the WireGuard key, neither sent', () => {
  const token = 'wgm_' + randomBytes(32).toString('base64url');
  const registry = pair();
  const member = pair();
  const now = 1_765_000_000_000;
  const input = { mesh: 'm', name: 'a', token, natsKey: 'U' + 'A'.repeat(55), registryKey: registry.publicKey, now, ...member };

  it('proves both: the token against its verification key, the key with the registry’s private key', () => {
    const req = buildEnrollRequest(input);
    const f = enrollFields('m', req);
    expect(req.proof.id).toBe(hashToken(token));
    expect(verifyTokenProof(tokenVerifyKey(token), req.proof.sig, f)).toBe(true);
    expect(checkPossession(registry.privateKey, registry.publicKey, f, req.possession.mac, now)).toEqual({ ok: true });
    const text = JSON.stringify(req);
    expect(text).not.toContain(token.slice(4));
    expect(text).not.toContain(member.privateKey.reveal().toString('base64'));
    expect(tokenVerifyKey(token)).not.toContain(token.slice(4));
  });

  it('refuses another member’s public key enrolled without its private key, saying whose key', () => {
    const victim = pair();
    const attacker = pair();
    // The attacker signs with its own private key but claims the victim's public key.
    const req = buildEnrollRequest({ ...input, privateKey: attacker.privateKey, publicKey: victim.publicKey });
    expect(checkPossession(registry.privateKey, registry.publicKey, enrollFields('m', req), req.possession.mac, now)).toEqual({
      ok: false,
      reason: 'not_holder',
      message: `the request is not signed by the holder of the private key of ${victim.publicKey}`,
    });
  });

  it('binds both proofs to every field of the request', () => {
    const req = buildEnrollRequest(input);
    const f = enrollFields('m', req);
    const changes = [{ mesh: 'n' }, { publicKey: pair().publicKey }, { name: 'b' }, { natsKey: 'U' + 'B'.repeat(55) }, { natsKey: undefined }, { at: now + 1 }, { nonce: 'B'.repeat(22) + '==' }, { tokenId: 'f'.repeat(64) }];
    for (const change of changes) {
      const g = { ...f, ...change };
      expect(verifyTokenProof(tokenVerifyKey(token), req.proof.sig, g)).toBe(false);
      expect(checkPossession(registry.privateKey, registry.publicKey, g, req.possession.mac, now).ok).toBe(false);
    }
  });

  it('refuses a request made outside the window, naming both clocks', () => {
    const req = buildEnrollRequest({ ...input, now: now - PROOF_WINDOW_MS - 1 });
    const check = checkPossession(registry.privateKey, registry.publicKey, enrollFields('m', req), req.possession.mac, now);
    expect(check).toMatchObject({ ok: false, reason: 'stale', message: expect.stringMatching(/more than 5 minutes from the registry's clock .*check the member's clock/) });
    const inWindow = buildEnrollRequest({ ...input, now: now + PROOF_WINDOW_MS });
    expect(checkPossession(registry.privateKey, registry.publicKey, enrollFields('m', inWindow), inWindow.possession.mac, now).ok).toBe(true);
  });

  it('refuses a proof for another registry, another token, a malformed MAC or signature', () => {
    const req = buildEnrollRequest({ ...input, registryKey: pair().publicKey });
    expect(checkPossession(registry.privateKey, registry.publicKey, enrollFields('m', req), req.possession.mac, now).ok).toBe(false);
    const ok = buildEnrollRequest(input);
    const f = enrollFields('m', ok);
    expect(checkPossession(registry.privateKey, registry.publicKey, f, 'AAAA', now).ok).toBe(false);
    expect(verifyTokenProof(tokenVerifyKey('wgm_' + 'B'.repeat(43)), ok.proof.sig, f)).toBe(false);
    expect(verifyTokenProof('short', ok.proof.sig, f)).toBe(false);
    expect(verifyTokenProof(tokenVerifyKey(token), 'AAAA', f)).toBe(false);
  });
});
