import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, Socket } from 'node:net';
import { DnsServer, startDnsServer } from './server';

// A responder that answers "R" + the query, drops queries starting with 0xff and throws on 0xee.
const respond = (q: Buffer) => {
  if (q[0] === 0xff) return null;
  if (q[0] === 0xee) throw new Error('boom');
  return Buffer.concat([Buffer.from('R'), q]);
};

function frame(...msgs: Buffer[]): Buffer {
  return Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m])));
}

async function tcpClient(port: number): Promise<{ socket: Socket; read: (n: number) => Promise<Buffer[]> }> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let buf = Buffer.alloc(0);
  const msgs: Buffer[] = [];
  const waiters: Array<() => void> = [];
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      msgs.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
    waiters.splice(0).forEach((w) => w());
  });
  const read = async (n: number) => {
    while (msgs.length < n) await new Promise<void>((r) => waiters.push(r));
    return msgs.splice(0, n);
  };
  return { socket, read };
}

describe('startDnsServer', () => {
  let server: DnsServer;
  beforeEach(async () => {
    server = await startDnsServer({ host: '127.0.0.1', port: 0, respond, tcpIdleTimeoutMs: 300, tcpMaxConnections: 3 });
  });
  afterEach(() => server.close());

  it('answers over UDP and keeps going after a responder error', async () => {
    const client = createSocket('udp4');
    const replies: Buffer[] = [];
    client.on('message', (m) => replies.push(m));
    client.send(Buffer.from([0xee, 1]), server.port, '127.0.0.1');
    client.send(Buffer.from([0xff, 1]), server.port, '127.0.0.1');
    client.send(Buffer.from('abc'), server.port, '127.0.0.1');
    await once(client, 'message');
    expect(replies.map(String)).toEqual(['Rabc']);
    expect(server.stats()).toMatchObject({ udpQueries: 3, responderErrors: 1 });
    client.close();
  });

  it('frames pipelined TCP queries split across writes', async () => {
    const c = await tcpClient(server.port);
    const bytes = frame(Buffer.from('one'), Buffer.from('two'), Buffer.alloc(3000, 7));
    for (let i = 0; i < bytes.length; i += 5) c.socket.write(bytes.subarray(i, i + 5));
    const got = await c.read(3);
    expect(got.map((m) => m.length)).toEqual([4, 4, 3001]);
    expect(String(got[1])).toBe('Rtwo');
    c.socket.destroy();
  });

  it('closes a connection that trickles bytes past the per-message deadline', async () => {
    const c = await tcpClient(server.port);
    const closed = once(c.socket, 'close');
    c.socket.write(Buffer.from([0, 100])); // a 100-byte message, then one byte every 50 ms
    const timer = setInterval(() => c.socket.write(Buffer.from([0])), 50);
    await closed;
    clearInterval(timer);
    expect(server.stats().tcpTimeouts).toBe(1);
  });

  it('closes on a zero length prefix or a dropped query, and caps connections by closing the stalest', async () => {
    const a = await tcpClient(server.port);
    a.socket.write(Buffer.from([0, 0]));
    await once(a.socket, 'close');
    const b = await tcpClient(server.port);
    b.socket.write(frame(Buffer.from([0xff])));
    await once(b.socket, 'close');

    const open = await Promise.all([1, 2, 3].map(() => tcpClient(server.port)));
    const oldestClosed = once(open[0].socket, 'close');
    const extra = await tcpClient(server.port);
    await oldestClosed;
    extra.socket.write(frame(Buffer.from('new')));
    expect(String((await extra.read(1))[0])).toBe('Rnew');
    expect(server.stats()).toMatchObject({ tcpEvicted: 1, tcpOpen: 3 });
    [...open, extra].forEach((c) => c.socket.destroy());
  });

  it('reports a clear error when the port is taken', async () => {
    await expect(startDnsServer({ host: '127.0.0.1', port: server.port, respond })).rejects.toThrow(/cannot listen for DNS over UDP on 127.0.0.1:\d+: EADDRINUSE/);
  });
});
