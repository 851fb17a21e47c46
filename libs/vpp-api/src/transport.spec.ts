import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FRAME_HEADER_SIZE, FrameReader, VppFrameError } from './index';

const frame = (n: number, fill: number) => encodeFrame(Buffer.alloc(n, fill));

describe('encodeFrame', () => {
  it('is 8 zero bytes, the body length as u32 big-endian, 4 zero bytes, then the body', () => {
    expect(encodeFrame(Buffer.from('0017800000010000000c', 'hex')).toString('hex')).toBe('00000000000000000000000a00000000' + '0017800000010000000c');
    expect(FRAME_HEADER_SIZE).toBe(16);
  });
});

describe('FrameReader', () => {
  it('splits several frames in one chunk', () => {
    const r = new FrameReader();
    const bodies = r.push(Buffer.concat([frame(3, 1), frame(0, 0), frame(5, 2)]));
    expect(bodies.map((b) => b.toString('hex'))).toEqual(['010101', '', '0202020202']);
    expect(r.idle).toBe(true);
  });

  it('reassembles a frame split across chunks, the header included, byte by byte', () => {
    const r = new FrameReader();
    const data = Buffer.concat([frame(57_440, 7), frame(2, 9)]);
    const bodies: Buffer[] = [];
    for (let i = 0; i < 40; i++) bodies.push(...r.push(data.subarray(i, i + 1)));
    expect(r.pending).toBe(40);
    bodies.push(...r.push(data.subarray(40, 57_000)), ...r.push(data.subarray(57_000)));
    expect(bodies.map((b) => b.length)).toEqual([57_440, 2]);
    expect(bodies[0].every((x) => x === 7)).toBe(true);
    expect(r.pending).toBe(0);
  });

  it('ignores header bytes 0-7 and 12-15 (VPP puts a pointer there)', () => {
    const f = frame(2, 5);
    f.write('c0c4043001000000', 0, 'hex');
    f.writeUInt32BE(0xdeadbeef, 12);
    expect(new FrameReader().push(f)).toEqual([Buffer.from([5, 5])]);
  });

  it('refuses a frame above the bound before buffering it, and stays failed', () => {
    const r = new FrameReader(1024);
    expect(r.push(frame(1024, 1))).toHaveLength(1);
    const header = Buffer.alloc(16);
    header.writeUInt32BE(1025, 8);
    expect(() => r.push(header)).toThrow(new VppFrameError('frame body of 1025 bytes exceeds the 1024-byte bound'));
    expect(() => r.push(frame(1, 1))).toThrow(VppFrameError);
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(16 * 1024 * 1024);
  });

  it('reports a partial frame as pending (a truncated stream at EOF)', () => {
    const r = new FrameReader();
    expect(r.push(frame(10, 1).subarray(0, 20))).toEqual([]);
    expect(r.pending).toBe(20);
    expect(r.idle).toBe(false);
  });
});
