import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreatePrivateKey } from './key-file';
import { keyFromBase64 } from './keys';

describe('loadOrCreatePrivateKey', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a key file with mode 0600 once, then reads the same key', () => {
    const path = join(dir, 'sub', 'private.key');
    const first = loadOrCreatePrivateKey(path);
    expect(first.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first.key.equals(keyFromBase64(readFileSync(path, 'utf8').trim()))).toBe(true);
    const again = loadOrCreatePrivateKey(path);
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
    expect(again.readableByOthers).toBe(false);
  });

  it('reads a key written by wg genkey and flags loose permissions', () => {
    const path = join(dir, 'genkey.key');
    writeFileSync(path, 'UPX9exhEPblL1tbzu7BD/Qtm4aXCe2IKmNqyhUPySGk=\n');
    chmodSync(path, 0o644);
    const file = loadOrCreatePrivateKey(path);
    expect(file.key.equals(keyFromBase64('UPX9exhEPblL1tbzu7BD/Qtm4aXCe2IKmNqyhUPySGk='))).toBe(true);
    expect(file.readableByOthers).toBe(true);
  });

  it('refuses a file that is not a key, without echoing it', () => {
    const path = join(dir, 'bad.key');
    writeFileSync(path, 'secret-but-not-a-key\n', { mode: 0o600 });
    expect(() => loadOrCreatePrivateKey(path)).toThrow(/does not hold a base64 WireGuard key/);
    expect(() => loadOrCreatePrivateKey(path)).not.toThrow(/secret-but-not-a-key/);
  });
});
