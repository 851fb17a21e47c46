import { codecFor, encodeFrame, FrameReader, loadDefinitions, MessageTable, MessageTableEntry, toJsonValue } from './index';
import { API_DIR, describeGolden, loadCapture, loadCaptureMeta } from './testing/golden';

// Every frame of a real VPP v26.06 session, byte for byte (README of ../shared/vpp-api).
describeGolden('golden capture (VPP v26.06 WireGuard session)', () => {
  const defs = loadDefinitions(API_DIR);
  const codec = codecFor(defs);
  const frames = loadCapture();
  const meta = loadCaptureMeta();
  const rows = frames.map((f) => [f.seq, f.dir, f.msg, f] as const);
  const tableEntries = frames[1].fields.message_table as MessageTableEntry[];

  it('has the 54 frames the README lists, and the definitions have no conflicting duplicates', () => {
    expect(frames).toHaveLength(54);
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    expect(defs.conflicts).toEqual([]);
    expect(defs.files.filter((f) => f.startsWith('core')).length).toBe(54);
    expect(defs.files.filter((f) => f.startsWith('plugins')).length).toBe(4);
  });

  it.each(rows)('frame %i (%s %s) decodes to exactly its recorded fields', (_seq, _dir, msg, f) => {
    const bytes = Buffer.from(f.hex, 'hex');
    expect(bytes.readUInt32BE(8)).toBe(bytes.length - 16);
    const fields = codec.decode(msg, bytes.subarray(16));
    expect(toJsonValue(fields)).toEqual(f.fields);
    expect(fields._vl_msg_id).toBe(f.msg_id);
    expect(fields.context ?? null).toBe(f.context);
    expect(defs.message(msg).crc).toBe(f.crc);
  });

  it.each(rows.filter((r) => r[1] === 'tx'))('tx frame %i (%s) re-encodes byte for byte, header included', (_seq, _dir, msg, f) => {
    // The capture's JSON form is accepted as is: u8 arrays as hex, addresses and prefixes as text.
    const frame = encodeFrame(codec.encode(msg, f.fields));
    expect(frame.toString('hex')).toBe(f.hex);
  });

  it.each(rows.filter((r) => r[1] === 'rx'))('rx frame %i (%s) body re-encodes byte for byte', (_seq, _dir, msg, f) => {
    // Header bytes 0-7 of rx frames are a VPP-internal pointer: compare the body and the length.
    const body = codec.encode(msg, f.fields);
    expect(body.toString('hex')).toBe(f.hex.slice(32));
  });

  it('decoded values round-trip through encode for every frame (API form: Buffers, not hex)', () => {
    for (const f of frames) {
      const body = Buffer.from(f.hex, 'hex').subarray(16);
      expect(codec.encode(f.msg, codec.decode(f.msg, body)).equals(body)).toBe(true);
    }
  });

  it('replays the rx stream with the recorded read chunking and gets the same frames at the same reads', () => {
    const rx = frames.filter((f) => f.dir === 'rx');
    const stream = Buffer.concat(rx.map((f) => Buffer.from(f.hex, 'hex')));
    expect(meta.rx_read_sizes.reduce((a, b) => a + b, 0)).toBe(stream.length);
    const reader = new FrameReader();
    const got: { read: number; body: string }[] = [];
    let off = 0;
    meta.rx_read_sizes.forEach((size, i) => {
      for (const body of reader.push(stream.subarray(off, off + size))) got.push({ read: i + 1, body: body.toString('hex') });
      off += size;
    });
    expect(reader.pending).toBe(0);
    expect(got).toEqual(rx.map((f) => ({ read: f.read, body: f.hex.slice(32) })));
  });

  it('resolves all 870 entries of the captured message table by name + CRC', () => {
    const table = new MessageTable(tableEntries, defs);
    expect(tableEntries).toHaveLength(870);
    expect(table.size).toBe(870);
    for (const f of frames) expect(table.id(f.msg)).toBe(f.msg_id);
    expect(table.id('wireguard_peer_add')).toBe(859);
    expect(table.id('wireguard_peer_add_reply')).toBe(861);
    expect(table.nameOf(860)).toBe('wireguard_peer_add_v2');
  });

  it('encodes a variable-length peer as 77 + 18·n bytes (wireguard_peer_add) and 73 + 18·n (details)', () => {
    const peer = { public_key: Buffer.alloc(32), endpoint: '10.10.0.2', allowed_ips: ['10.0.0.1/32', 'fd00::1/128', '10.0.0.0/8'] };
    expect(codec.encode('wireguard_peer_add', { peer }).length).toBe(77 + 18 * 3);
    expect(codec.encode('wireguard_peers_details', { peer }).length).toBe(73 + 18 * 3);
  });
});
