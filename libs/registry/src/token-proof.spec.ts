import { enrollProof, tokenVerifyKey, verifyEnrollProof } from './token-proof';
import { hashToken } from './tokens';

describe('enrolment proofs (the token is never sent)', () => {
  const token = 'wgm_' + 'A'.repeat(43);
  const fields = { mesh: 'm', publicKey: Buffer.alloc(32, 1).toString('base64'), name: 'a', natsKey: 'U' + 'A'.repeat(55) };

  it("verifies against the token's verification key, and the id is the token's hash", () => {
    const proof = enrollProof(token, fields);
    expect(proof.id).toBe(hashToken(token));
    expect(proof.sig).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(verifyEnrollProof(tokenVerifyKey(token), proof.sig, fields)).toBe(true);
    expect(JSON.stringify(proof)).not.toContain(token.slice(4));
    expect(tokenVerifyKey(token)).not.toContain(token.slice(4));
  });

  it('binds the proof to every field: a captured proof enrols nothing else', () => {
    const { sig } = enrollProof(token, fields);
    const key = tokenVerifyKey(token);
    for (const changed of [{ mesh: 'n' }, { publicKey: Buffer.alloc(32, 2).toString('base64') }, { name: 'b' }, { natsKey: 'U' + 'B'.repeat(55) }, { natsKey: undefined }]) {
      expect(verifyEnrollProof(key, sig, { ...fields, ...changed })).toBe(false);
    }
  });

  it('refuses a proof made with another token, and malformed keys or signatures', () => {
    const other = enrollProof('wgm_' + 'B'.repeat(43), fields);
    expect(verifyEnrollProof(tokenVerifyKey(token), other.sig, fields)).toBe(false);
    expect(verifyEnrollProof('short', enrollProof(token, fields).sig, fields)).toBe(false);
    expect(verifyEnrollProof(tokenVerifyKey(token), 'AAAA', fields)).toBe(false);
  });
});
