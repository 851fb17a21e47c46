// Tests only (not exported): a unix-socket server that speaks VPP's API framing.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VppCodec, VppFields } from '../codec';
import { ApiDefinitions } from '../definitions';
import { MessageTable, MessageTableEntry } from '../message-table';
import { encodeFrame, FrameReader } from '../transport';
import { CaptureFrame } from './golden';

export interface FakeRequest {
  readonly name: string;
  readonly fields: VppFields;
  readonly body: Buffer;
}

/** What the server does with each frame a client sends. */
export type FakeHandler = (req: FakeRequest, conn: FakeConnection) => void;

export class FakeConnection {
  constructor(
    readonly socket: Socket,
    private readonly server: FakeVpp,
  ) {}

  /** Writes frames (header + body) in one write, or split in `chunk`-byte writes. */
  write(bodies: Buffer[], chunk?: number): void {
    const data = Buffer.concat(bodies.map(encodeFrame));
    if (!chunk) {
      this.socket.write(data);
      return;
    }
    for (let off = 0; off < data.length; off += chunk) this.socket.write(data.subarray(off, off + chunk));
  }

  send(name: string, fields: VppFields): void {
    this.write([this.server.encode(name, fields)]);
  }

  end(): void {
    this.socket.end();
  }
}

/**
 * A fake VPP on a unix socket in a temp dir. Frames from the client are decoded with the message
 * table given (ids as the running VPP would have them) and passed to the handler.
 */
export class FakeVpp {
  readonly path: string;
  readonly received: FakeRequest[] = [];
  readonly errors: Error[] = [];
  readonly table: MessageTable;
  private readonly codec: VppCodec;
  private readonly dir: string;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    dir: string,
    readonly definitions: ApiDefinitions,
    tableEntries: MessageTableEntry[],
  ) {
    this.dir = dir;
    this.path = join(dir, 'api.sock');
    this.codec = new VppCodec(definitions);
    this.table = new MessageTable(tableEntries, definitions);
  }

  static async start(definitions: ApiDefinitions, tableEntries: MessageTableEntry[], handler: FakeHandler): Promise<FakeVpp> {
    const dir = mkdtempSync(join(tmpdir(), 'wgmesh-fake-vpp-'));
    const server = createServer();
    const fake = new FakeVpp(server, dir, definitions, tableEntries);
    server.on('connection', (socket) => fake.accept(socket, handler));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(fake.path, resolve);
    });
    return fake;
  }

  encode(name: string, fields: VppFields): Buffer {
    const id = name === 'sockclnt_create_reply' ? 16 : this.table.id(name);
    return this.codec.encode(name, { ...fields, _vl_msg_id: id });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: Socket, handler: FakeHandler): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // the client may reset; the test checks the client side
    const conn = new FakeConnection(socket, this);
    const reader = new FrameReader();
    socket.on('data', (chunk) => {
      for (const body of reader.push(chunk)) {
        const id = body.readUInt16BE(0);
        const name = id === 15 ? 'sockclnt_create' : this.table.nameOf(id);
        if (!name) {
          this.fail(socket, new Error(`fake VPP: unknown message id ${id}`));
          return;
        }
        const req = { name, fields: this.codec.decode(name, body), body };
        this.received.push(req);
        try {
          handler(req, conn);
        } catch (err) {
          this.fail(socket, err as Error);
        }
      }
    });
  }

  private fail(socket: Socket, err: Error): void {
    this.errors.push(err);
    socket.destroy();
  }
}

/**
 * Replays a capture: each frame the client sends must be the next tx frame of the capture (same
 * message, same fields but client_index/context); the rx frames that followed it are sent back
 * with the client's context patched in, grouped by the capture's reads. A mismatch is recorded in
 * `fake.errors` and the connection is dropped.
 */
export function captureReplayer(
  frames: CaptureFrame[],
  codec: VppCodec,
  opts: { chunk?: number } = {},
): FakeHandler & { readonly position: () => number } {
  let cursor = 0;
  const handler = (req: FakeRequest, conn: FakeConnection) => {
    while (cursor < frames.length && frames[cursor].dir === 'rx') cursor++;
    const expected = frames[cursor];
    if (!expected) throw new Error(`fake VPP: ${req.name} after the end of the capture`);
    if (expected.msg !== req.name) throw new Error(`fake VPP: got ${req.name}, the capture has ${expected.msg} (frame ${expected.seq})`);
    const got = codec.decode(req.name, Buffer.from(expected.hex, 'hex').subarray(16));
    const strip = ({ client_index: _c, context: _x, ...rest }: VppFields) => JSON.stringify(rest, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
    if (strip(got) !== strip(req.fields)) {
      throw new Error(`fake VPP: ${req.name} differs from frame ${expected.seq}:\n got ${strip(req.fields)}\n cap ${strip(got)}`);
    }
    cursor++;
    const replies: { read: number | undefined; body: Buffer }[] = [];
    while (cursor < frames.length && frames[cursor].dir === 'rx') {
      const f = frames[cursor++];
      let body: Buffer = Buffer.from(f.hex, 'hex').subarray(16);
      if (f.context !== null && f.context === expected.context) {
        body = Buffer.from(body);
        body.writeUInt32BE(req.fields.context as number, codec.contextOffset(f.msg) as number);
      }
      replies.push({ read: f.read, body });
    }
    // As VPP wrote them: frames that came in one read go in one write.
    const groups = new Map<number | undefined, Buffer[]>();
    for (const r of replies) groups.set(r.read, [...(groups.get(r.read) ?? []), r.body]);
    for (const bodies of groups.values()) conn.write(bodies, opts.chunk);
    if (req.name === 'sockclnt_delete') conn.end();
  };
  return Object.assign(handler, { position: () => cursor });
}
