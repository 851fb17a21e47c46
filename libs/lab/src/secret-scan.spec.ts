import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKey, formatCreds, seedText } from '@wgmesh/nats-auth';
import { generatePrivateKey, keyToBase32, keyToBase64 } from '@wgmesh/wireguard';
import { describeFindings, keyEncodings, scanForSecrets, secretsInStateDir } from './secret-scan';

describe('secret scan', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'wgmesh-scan-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("finds a state tree's secrets planted anywhere, in any encoding, and names them without the value", () => {
    const wg = keyToBase64(generatePrivateKey());
    const user = seedText(createKey('user'));
    const account = seedText(createKey('account'));
    mkdirSync(join(dir, 'members', 'a'), { recursive: true });
    mkdirSync(join(dir, 'registry', 'nats'), { recursive: true });
    writeFileSync(join(dir, 'members', 'a', 'private.key'), `${wg}\n`);
    writeFileSync(join(dir, 'members', 'a', 'nats.creds'), formatCreds({ jwt: 'a.b.c', seed: user }));
    writeFileSync(join(dir, 'registry', 'nats', 'account-signing.nk'), `${account}\n`);
    writeFileSync(join(dir, 'members', 'a', 'enrollment.json'), '{"address":"10.99.0.2/32"}');
    const secrets = secretsInStateDir(dir);
    expect(secrets.filter((s) => s.label.includes('WireGuard'))).toHaveLength(5);
    expect(secrets.map((s) => s.value)).toEqual(expect.arrayContaining([wg, user, account]));

    const hex = Buffer.from(wg, 'base64').toString('hex');
    const clean = [{ source: 'nats peers.events', text: '{"type":"upsert","peer":{"publicKey":"x"}}' }];
    expect(scanForSecrets(clean, secrets)).toEqual([]);
    const leaky = [
      { source: 'log member-a.log', text: `{"msg":"set key","uapi":"private_key=${hex}"}` },
      { source: 'redis wgmesh:lab:members', text: `{"seed":"${account}"}` },
      { source: 'span dataplane apply', text: `{"attributes":{"key":"${wg}"}}` },
    ];
    const findings = scanForSecrets(leaky, secrets);
    expect(findings.map((f) => f.source)).toEqual(expect.arrayContaining(['log member-a.log', 'redis wgmesh:lab:members', 'span dataplane apply']));
    const text = describeFindings(findings);
    expect(text).toContain('WireGuard private key');
    expect(text).not.toContain(wg);
    expect(text).not.toContain(hex);
    expect(text).not.toContain(account);
  });

  it('flags any nkey seed or pre-auth token, even ones it was not told about', () => {
    const stranger = seedText(createKey('operator'));
    const findings = scanForSecrets(
      [
        { source: 'nats wgmesh.v1.lab.enroll', text: `{"token":"wgm_${'x'.repeat(43)}"}` },
        { source: 'log x', text: `seed=${stranger}` },
        { source: 'nats ok', text: '{"proof":{"id":"ab","sig":"cd"},"natsKey":"UABC"}' },
      ],
      [],
    );
    expect(findings.map((f) => [f.secret, f.source])).toEqual([
      ['a pre-auth token', 'nats wgmesh.v1.lab.enroll'],
      ['an nkey seed', 'log x'],
    ]);
  });

  it('covers every encoding of a key: base64, hex, base64url, base32 (as DNS-SD names spell keys)', () => {
    const raw = generatePrivateKey();
    const b32 = keyToBase32(raw).replace(/=+$/, '');
    expect(keyEncodings(keyToBase64(raw)).sort()).toEqual([raw.toString('base64'), raw.toString('hex'), raw.toString('base64url'), b32.toLowerCase(), b32.toUpperCase()].sort());
  });
});
