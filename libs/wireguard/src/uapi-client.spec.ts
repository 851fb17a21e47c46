import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NoDeviceError, UapiError, UapiProtocolError, UapiTimeoutError } from './errors';
import { UapiClient, uapiSocketPath } from './uapi-client';

// The client against a scripted unix-socket server: framing, errors and timeouts without a
// real daemon (uapi.e2e.spec.ts runs it against wireguard-go).
const PEER = 'xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=';

describe('UapiClient', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-uapi-'));
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fake device: `answer` gets the whole request (up to the empty line) and the socket. */
  async function fake(name: string, answer: (request: string, socket: Socket) => void): Promise<{ path: string; requests: string[] }> {
    const path = join(dir, `${name}.sock`);
    const requests: string[] = [];
    const server = createServer((socket) => {
      let buf = '';
      socket.on('data', (chunk) => {
        buf += chunk.toString();
        if (buf.endsWith('\n\n')) {
          requests.push(buf);
          answer(buf, socket);
        }
      });
      socket.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(path, r));
    return { path, requests };
  }

  it('sends get=1 and parses an answer that arrives a byte at a time', async () => {
    const { path } = await fake('slow', (_req, socket) => {
      const text = 'listen_port=51820\nerrno=0\n\n';
      let i = 0;
      const next = () => (i < text.length ? socket.write(text[i++], next) : undefined);
      next();
    });
    const dev = await new UapiClient('wg0', { socketPath: path }).get();
    expect(dev.listenPort).toBe(51820);
  });

  it('sends one set=1 transaction and reports the errno', async () => {
    const { path, requests } = await fake('set', (req, socket) => socket.write(req.includes('listen_port=1\n') ? 'errno=-98\n\n' : 'errno=0\n\n'));
    const client = new UapiClient('wg0', { socketPath: path });
    await client.set({ listenPort: 2, peers: [{ publicKey: PEER, endpoint: '192.0.2.1:51820' }] });
    expect(requests[0]).toMatch(/^set=1\nlisten_port=2\npublic_key=[0-9a-f]{64}\nendpoint=192\.0\.2\.1:51820\n\n$/);
    await expect(client.set({ listenPort: 1 })).rejects.toMatchObject({ name: 'UapiError', errno: -98, code: 'EADDRINUSE' });
    await expect(client.set({ listenPort: 1 })).rejects.toBeInstanceOf(UapiError);
  });

  it('names a missing device and a stale socket', async () => {
    const missing = new UapiClient('wgnone', { socketPath: join(dir, 'none.sock') });
    await expect(missing.get()).rejects.toBeInstanceOf(NoDeviceError);
    await expect(missing.get()).rejects.toThrow(`no WireGuard device wgnone (no UAPI socket at ${join(dir, 'none.sock')})`);
    const stale = join(dir, 'stale.sock');
    writeFileSync(stale, '');
    await expect(new UapiClient('wgstale', { socketPath: stale }).get()).rejects.toThrow(/refuses connections/);
  });

  it('times out when the device does not answer', async () => {
    const { path } = await fake('mute', () => undefined);
    const started = Date.now();
    await expect(new UapiClient('wg0', { socketPath: path, timeoutMs: 100 }).get()).rejects.toBeInstanceOf(UapiTimeoutError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports a connection closed half-way and an oversized answer', async () => {
    const { path } = await fake('cut', (_req, socket) => socket.end('listen_port=1\n'));
    await expect(new UapiClient('wg0', { socketPath: path }).get()).rejects.toBeInstanceOf(UapiProtocolError);
    const { path: big } = await fake('big', (_req, socket) => socket.write(`${'x=1\n'.repeat(1000)}errno=0\n\n`));
    await expect(new UapiClient('wg0', { socketPath: big, maxResponseBytes: 1000 }).get()).rejects.toThrow(/larger than 1000 bytes/);
  });

  it('puts sockets in /var/run/wireguard and refuses bad device names', () => {
    expect(uapiSocketPath('wg0')).toBe('/var/run/wireguard/wg0.sock');
    expect(() => uapiSocketPath('../etc/x')).toThrow(/not an interface name/);
    expect(() => uapiSocketPath('a-name-too-long-for-linux')).toThrow(/not an interface name/);
  });
});
