import { prng } from '@wgmesh/testing';
import { FrameReader, loadDefinitions, VppCodec, VppDecodeError, VppFrameError } from './index';
import { API_DIR, describeGolden, loadCapture } from './testing/golden';

// Hostile input never crashes the decoder or the reassembler: only the named errors come out,
// and a huge count or length is refused before anything is allocated.
describeGolden('fuzz', () => {
  const defs = loadDefinitions(API_DIR);
  const codec = new VppCodec(defs);
  const frames = loadCapture();
  const seeds = frames.map((f) => ({ msg: f.msg, body: Buffer.from(f.hex, 'hex').subarray(16) }));
  const allMessages = [...defs.messages.keys()];

  function mutate(rnd: () => number, b: Buffer): Buffer {
    const int = (n: number) => Math.floor(rnd() * n);
    const out = Buffer.from(b);
    switch (int(6)) {
      case 0: // flip bits
        for (let i = 0, n = 1 + int(8); i < n && out.length; i++) out[int(out.length)] ^= 1 << int(8);
        return out;
      case 1: // truncate
        return out.subarray(0, int(out.length + 1));
      case 2: // append garbage
        return Buffer.concat([out, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))]);
      case 3: // a huge value at a random 32-bit offset (counts, string lengths)
        if (out.length >= 4) out.writeUInt32BE([0xffffffff, 0x7fffffff, 0x10000, 65535][int(4)], int(out.length - 3));
        return out;
      case 4: // 0xff runs
        out.fill(0xff, int(out.length), int(out.length + 1));
        return out;
      default: // random bytes of a similar size
        return Buffer.from(Array.from({ length: int(out.length + 8) }, () => int(256)));
    }
  }

  it('decodes 20,000 mutated capture bodies (and random message names) with VppDecodeError or a result', () => {
    const rnd = prng(0x5eed);
    const before = process.memoryUsage().heapUsed;
    let errors = 0;
    for (let i = 0; i < 20_000; i++) {
      const s = seeds[Math.floor(rnd() * seeds.length)];
      const name = rnd() < 0.2 ? allMessages[Math.floor(rnd() * allMessages.length)] : s.msg;
      const body = mutate(rnd, s.body);
      try {
        codec.decode(name, body);
      } catch (e) {
        if (!(e instanceof VppDecodeError)) throw new Error(`seed case ${i} (${name}, ${body.toString('hex')}): ${String(e)}`);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(10_000);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('refuses a 65535-entry message table in a 57 KB body without building it', () => {
    const body = Buffer.from(seeds[1].body);
    body.writeUInt16BE(65535, 18); // sockclnt_create_reply.count
    const t = Date.now();
    expect(() => codec.decode('sockclnt_create_reply', body)).toThrow(/message_table: count 65535 needs at least 4325310 bytes, only 57420 left/);
    expect(Date.now() - t).toBeLessThan(500);
  });

  it('feeds random chunkings and garbage to the reassembler: frames or VppFrameError, never more', () => {
    const rnd = prng(42);
    const stream = Buffer.concat(frames.filter((f) => f.dir === 'rx').map((f) => Buffer.from(f.hex, 'hex')));
    for (let round = 0; round < 200; round++) {
      const r = new FrameReader(64 * 1024);
      const data = round % 2 === 0 ? stream : mutate(rnd, stream);
      let total = 0;
      try {
        for (let off = 0; off < data.length; ) {
          const n = 1 + Math.floor(rnd() * 3000);
          for (const body of r.push(data.subarray(off, off + n))) total += body.length + 16;
          off += n;
        }
      } catch (e) {
        if (!(e instanceof VppFrameError)) throw e;
        continue;
      }
      expect(total + r.pending).toBe(data.length);
      if (round % 2 === 0) expect(total).toBe(stream.length);
    }
  });
});

describeGolden('fuzz: a client receiving hostile frames', () => {
  it('reports them to onError as named errors and stays usable', async () => {
    const { FakeVpp } = await import('./testing/fake-vpp');
    const { VppClient, VppProtocolError } = await import('./index');
    const defs = loadDefinitions(API_DIR);
    const codec = new VppCodec(defs);
    const frames = loadCapture();
    const register = codec.decode('sockclnt_create_reply', Buffer.from(frames[1].hex, 'hex').subarray(16));
    const rnd = prng(7);
    const rx = frames.filter((f) => f.dir === 'rx' && f.seq !== 1).map((f) => Buffer.from(f.hex, 'hex').subarray(16));
    const fake = await FakeVpp.start(defs, register.message_table as never, (req, conn) => {
      const context = req.fields.context as number;
      if (req.name === 'sockclnt_create') return conn.send('sockclnt_create_reply', { ...register, context });
      if (req.name === 'show_version') {
        const junk = Array.from({ length: 500 }, () => {
          const b = Buffer.from(rx[Math.floor(rnd() * rx.length)]);
          for (let i = 0; i < 3; i++) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8);
          return rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
        });
        conn.write(junk, 333);
      }
      if (req.name === 'control_ping') conn.send('control_ping_reply', { context, vpe_pid: 1 });
    });
    const client = await VppClient.connect({ socketPath: fake.path, definitions: defs, requestTimeoutMs: 300 });
    const errors: Error[] = [];
    client.onError((e) => errors.push(e));
    client.on('wireguard_peer_event', () => undefined);
    await client.request('show_version').catch(() => undefined); // its reply may be among the junk, or not
    await expect(client.ping()).resolves.toMatchObject({ vpe_pid: 1 });
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e instanceof VppDecodeError || e instanceof VppProtocolError).toBe(true);
    client.destroy();
    await fake.stop();
  });
});
