import { VppFrameError } from './errors';

/**
 * VPP's API socket framing: every message is a 16-byte header and the body. Header bytes 0-7
 * are ignored (VPP puts an internal pointer there, we send zeros), 8-11 are the body length
 * (u32 big-endian, header not counted), 12-15 are ignored (zero).
 */
export const FRAME_HEADER_SIZE = 16;

/** Bodies above this are refused: the biggest seen is the 57 KB message table. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Header + body, ready for one socket write. */
export function encodeFrame(body: Uint8Array): Buffer {
  const frame = Buffer.alloc(FRAME_HEADER_SIZE + body.length);
  frame.writeUInt32BE(body.length, 8);
  frame.set(body, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * Splits a byte stream into frame bodies: one chunk can hold several frames or part of one.
 * A length above `maxBodyBytes` is a VppFrameError (the stream is then unusable: close it).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed: VppFrameError | undefined;

  constructor(readonly maxBodyBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes held that do not yet make a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  /** Adds a chunk; returns the bodies of every frame it completes, in order. */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    const bodies: Buffer[] = [];
    while (this.buffered >= FRAME_HEADER_SIZE) {
      const length = this.peekLength();
      if (length > this.maxBodyBytes) {
        this.failed = new VppFrameError(`frame body of ${length} bytes exceeds the ${this.maxBodyBytes}-byte bound`);
        throw this.failed;
      }
      if (this.buffered < FRAME_HEADER_SIZE + length) break;
      const frame = this.take(FRAME_HEADER_SIZE + length);
      bodies.push(frame.subarray(FRAME_HEADER_SIZE));
    }
    return bodies;
  }

  /** True when no partial frame is buffered (at EOF, anything else is a truncated frame). */
  get idle(): boolean {
    return this.buffered === 0;
  }

  private peekLength(): number {
    if (this.chunks[0].length < FRAME_HEADER_SIZE) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].readUInt32BE(8);
  }

  /** Removes n bytes from the front; copies only when a frame spans chunks. */
  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[0];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0];
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
