import { once } from 'node:events';
import { connect, Socket } from 'node:net';
import { DnsServer, startDnsServer } from './server';

// Hostile TCP clients against the bounded server: slow-loris connections holding every slot,
// half-open connections, oversize and lying length prefixes, clients that never read. The server
// must keep answering a well-behaved client, close the abusers within its deadlines, and keep
// its memory bounded. (The responder echoes; DNS content is libs/dns-sd's fuzz test.)

const IDLE_MS = 600;
const MAX_CONNECTIONS = 20;
/** Timing slack: the machine is shared and slow. */
const SLACK_MS = 1500;

const echo = (q: Buffer) => Buffer.concat([Buffer.from('R'), q.subarray(0, 64)]);
/** Responds with 32 KB to "big", for the client that never reads. */
const respond = (q: Buffer) => (q.toString() === 'big' ? Buffer.alloc(32 * 1024, 1) : echo(q));

const frame = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);

function open(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  return once(s, 'connect').then(() => s);
}

/** One query over a fresh connection; resolves with the reply, rejects on close or after `ms`. */
async function ask(port: number, body: string, ms = SLACK_MS): Promise<string> {
  const s = await open(port);
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error(`no answer to "${body}" within ${ms} ms`)), ms);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)).toString());
        }
      });
      s.once('close', () => reject(new Error(`closed before answering "${body}"`)));
      s.write(frame(Buffer.from(body)));
    });
  } finally {
    s.destroy();
  }
}

const closedWithin = (s: Socket, ms: number) =>
  new Promise<number>((resolve, reject) => {
    const started = Date.now();
    if (s.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });

describe('DNS over TCP against hostile clients', () => {
  let server: DnsServer;
  const tally: Record<string, number> = {};
  const tried = (kind: string, n = 1) => (tally[kind] = (tally[kind] ?? 0) + n);

  beforeEach(async () => {
    server = await startDnsServer({ host: '127.0.0.1', port: 0, respond, tcpIdleTimeoutMs: IDLE_MS, tcpMaxConnections: MAX_CONNECTIONS, tcpMaxPendingBytes: 128 * 1024 });
  });
  afterEach(() => server.close());
  afterAll(() => process.stdout.write(`dns-transport abuse: hostile TCP connections tried ${JSON.stringify(tally)}\n`));

  it('slow-loris: trickling clients holding every slot neither lock out a real client nor outlive the deadline', async () => {
    const loris: Socket[] = [];
    for (let i = 0; i < MAX_CONNECTIONS * 2; i++) {
      const s = await open(server.port);
      s.write(Buffer.from([0x01, 0x00])); // a 256-byte query, sent one byte at a time
      loris.push(s);
    }
    tried('slow-loris', loris.length);
    const trickle = setInterval(() => loris.forEach((s) => !s.destroyed && s.write(Buffer.from([0x61]))), 50);
    try {
      expect(server.stats().tcpOpen).toBeLessThanOrEqual(MAX_CONNECTIONS);
      // A real client still gets in and is answered, again and again, while the slots are "full".
      for (let i = 0; i < 5; i++) expect(await ask(server.port, `real ${i}`)).toBe(`Rreal ${i}`);
      // Each loris beyond the cap, and the first real client, made room by closing the stalest.
      expect(server.stats().tcpEvicted).toBeGreaterThanOrEqual(MAX_CONNECTIONS + 1);
      // Trickling does not extend the per-message deadline: every loris is gone soon after it.
      await Promise.all(loris.map((s) => closedWithin(s, IDLE_MS + SLACK_MS)));
    } finally {
      clearInterval(trickle);
      loris.forEach((s) => s.destroy());
    }
    expect(server.stats().tcpTimeouts + server.stats().tcpEvicted).toBeGreaterThanOrEqual(MAX_CONNECTIONS * 2);
  });

  it('half-open: a query then FIN is answered, then closed; silence or a partial prefix is closed at the deadline', async () => {
    const polite = await open(server.port);
    const reply = new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      polite.on('data', (d) => (buf = Buffer.concat([buf, d])));
      polite.once('end', () => resolve(buf));
    });
    polite.end(frame(Buffer.from('last words'))); // writes, then shuts the write side
    expect((await reply).subarray(2).toString()).toBe('Rlast words');
    await closedWithin(polite, SLACK_MS);

    const silent = await open(server.port);
    const partial = await open(server.port);
    partial.write(Buffer.from([0x00])); // half a length prefix, then nothing
    const finAfterPartial = await open(server.port);
    finAfterPartial.end(Buffer.from([0x00, 0x20, 0x61])); // a 32-byte query cut short, then FIN
    tried('half-open', 4);
    const [tSilent, tPartial] = await Promise.all([closedWithin(silent, IDLE_MS + SLACK_MS), closedWithin(partial, IDLE_MS + SLACK_MS), closedWithin(finAfterPartial, SLACK_MS)]);
    expect(tSilent).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(tPartial).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(await ask(server.port, 'still here')).toBe('Rstill here');
  });

  it('oversize and lying length prefixes: bounded buffering, closed at the deadline, server keeps answering', async () => {
    const rssBefore = process.memoryUsage().rss;
    const liars: Socket[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const s = await open(server.port);
      // A 65535-byte message of which only 60,000 bytes ever come.
      s.write(Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(60_000, i)]));
      liars.push(s);
    }
    tried('oversize-prefix-stalled', liars.length);
    // A full 65535-byte message is just a big query: answered.
    const full = await open(server.port);
    const answered = new Promise<Buffer>((resolve) => full.once('data', resolve));
    full.write(frame(Buffer.alloc(65535, 0x62)));
    tried('max-size-message');
    expect((await answered).subarray(2, 4).toString()).toBe('Rb');
    full.destroy();
    // Many prefixes in a row that each claim more than the connection will ever send.
    const greedy = await open(server.port);
    greedy.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]));
    tried('oversize-prefix-garbage');
    await Promise.all([...liars, greedy].map((s) => closedWithin(s, IDLE_MS + SLACK_MS)));
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(await ask(server.port, 'after')).toBe('Rafter');
  });

  it('a client that pipelines queries and never reads its answers is dropped', async () => {
    const s = await open(server.port);
    s.pause(); // never read (so it never sees the close either: the server's count tells)
    // 64 MB of answers: more than the kernel buffers, so the server sees them pile up.
    const burst = Buffer.concat(Array.from({ length: 2000 }, () => frame(Buffer.from('big'))));
    s.write(burst);
    tried('never-reads');
    const deadline = Date.now() + 5000;
    while (server.stats().tcpSlowReaders === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(server.stats()).toMatchObject({ tcpSlowReaders: 1, tcpOpen: 0 });
    s.destroy();
    expect(await ask(server.port, 'next')).toBe('Rnext');
  });
});
