import { rmSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { ApiDefinitions, DEFAULT_API_DIR, encodeFrame, FrameReader, loadDefinitions, VppCodec, VppFields } from '@wgmesh/vpp-api';
import { SimMessageIds } from './message-ids';
import { SimInterface, SimPeer, SimRoute, SimState, SimStateOptions } from './state';

// TEST DOUBLE. A protocol-level simulator of VPP's binary API socket (VPP v26.06 with the
// wireguard, tap and ping plugins) for tests and benchmarks: no packets are forwarded, no
// WireGuard handshake ever happens (simulateHandshake stands in for one). It speaks the real
// framing and encoding through @wgmesh/vpp-api's codec, and answers as the golden capture in
// ../shared/vpp-api shows VPP answering.

export interface VppSimOptions extends SimStateOptions {
  /** Unix socket path to listen on (a stale file there is replaced). */
  socketPath: string;
  /** .api.json directory (core/, plugins/); or give `definitions`. */
  apiDir?: string;
  definitions?: ApiDefinitions;
}

/** Client handles are registration pool indexes with the top bit set; 0 is the listener's, so the first client gets 0x80000001, as observed. */
const HANDLE_BIT = 0x80000000;

class SimConnection {
  handle: number | null = null;
  readonly reader = new FrameReader();
  private out: Buffer[] = [];
  private scheduled = false;
  closeAfterFlush = false;

  constructor(readonly socket: Socket) {}

  queue(frame: Buffer): void {
    this.out.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.out.length > 0 && !this.socket.destroyed) this.socket.write(this.out.length === 1 ? this.out[0] : Buffer.concat(this.out));
    this.out = [];
    if (this.closeAfterFlush) this.socket.end();
  }
}

export class VppSim {
  readonly state: SimState;
  readonly ids: SimMessageIds;
  readonly codec: VppCodec;
  /** Frames dropped: unknown message id, or a body that does not decode (VPP logs and drops them). */
  dropped = 0;

  private readonly clients = new Map<number, SimConnection>();
  private readonly connections = new Set<SimConnection>();
  private readonly freeHandles: number[] = [];
  private nextHandle = 1;

  private constructor(
    readonly socketPath: string,
    private readonly server: Server,
    definitions: ApiDefinitions,
    opts: SimStateOptions,
  ) {
    this.ids = new SimMessageIds(definitions);
    this.codec = new VppCodec(definitions);
    this.state = new SimState(opts);
    this.state.emitEvent = (handle, name, fields) => {
      const conn = this.clients.get(handle);
      if (conn) conn.queue(this.frame(name, fields));
    };
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts listening on `socketPath`. */
  static async start(opts: VppSimOptions): Promise<VppSim> {
    const definitions = opts.definitions ?? loadDefinitions(opts.apiDir ?? DEFAULT_API_DIR);
    rmSync(opts.socketPath, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new VppSim(opts.socketPath, server, definitions, opts);
  }

  /** Connected clients (registered with sockclnt_create). */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Peers sorted by index. */
  peers(): SimPeer[] {
    return [...this.state.peers.values()].sort((a, b) => a.peerIndex - b.peerIndex);
  }

  interfaces(): SimInterface[] {
    return [...this.state.interfaces.values()];
  }

  routes(): SimRoute[] {
    return [...this.state.routes.values()];
  }

  simulateHandshake(peerIndex: number): void {
    this.state.simulateHandshake(peerIndex);
  }

  simulateSessionExpiry(peerIndex: number): void {
    this.state.simulateSessionExpiry(peerIndex);
  }

  /** See SimState.fail: the next matching requests get `retval` and change nothing. */
  fail(message: string, retval: number, opts?: { times?: number; match?: (request: VppFields) => boolean }): void {
    this.state.fail(message, retval, opts);
  }

  /** Cuts every connection (as a VPP restart would, without losing state) and keeps listening. */
  dropConnections(): void {
    for (const c of this.connections) c.socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  // ---------------------------------------------------------------------------------------------

  private accept(socket: Socket): void {
    const conn = new SimConnection(socket);
    this.connections.add(conn);
    socket.on('data', (chunk) => {
      let bodies: Buffer[];
      try {
        bodies = conn.reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const body of bodies) this.onFrame(conn, body);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.connections.delete(conn);
      this.release(conn);
    });
  }

  private release(conn: SimConnection): void {
    if (conn.handle === null) return;
    // Only the registration goes: event subscriptions stay keyed by the handle, as observed.
    if (this.clients.get(conn.handle) === conn) this.clients.delete(conn.handle);
    this.freeHandles.push(conn.handle & ~HANDLE_BIT);
    conn.handle = null;
  }

  private frame(name: string, fields: VppFields): Buffer {
    return encodeFrame(this.codec.encode(name, { ...fields, _vl_msg_id: this.ids.id(name) }));
  }

  private onFrame(conn: SimConnection, body: Buffer): void {
    const name = body.length >= 2 ? this.ids.nameOf(body.readUInt16BE(0)) : undefined;
    let req: VppFields;
    try {
      if (name === undefined) throw new Error('unknown message id');
      req = this.codec.decode(name, body);
    } catch {
      this.dropped++;
      return;
    }
    if (name === 'sockclnt_create') return this.create(conn, req);
    // Replies go to the registration named by client_index: none (a wrong index) means the
    // handler still runs and its reply is dropped, as observed (frame 45).
    const target = this.clients.get(req.client_index as number);
    if (name === 'sockclnt_delete') return this.delete(target, req);
    if (name === 'memclnt_keepalive') return; // observed: a socket client's keepalive gets no reply
    const reply = this.definitions.service(name).reply;
    const out = { send: (n: string, f: VppFields) => target?.queue(this.frame(n, { ...f, context: req.context })) };
    if (!this.state.handles(name)) {
      this.state.unhandled.set(name, (this.state.unhandled.get(name) ?? 0) + 1);
      // Not simulated: say so in a way a client cannot mistake for success.
      if (this.definitions.message(reply).fields.some((f) => f.name === 'retval')) out.send(reply, { retval: -9 });
      return;
    }
    const fields = this.state.handle(name, req, out);
    if (fields !== undefined) out.send(reply, fields);
  }

  private get definitions(): ApiDefinitions {
    return this.codec.definitions;
  }

  private create(conn: SimConnection, req: VppFields): void {
    this.release(conn);
    const handle = (HANDLE_BIT | (this.freeHandles.pop() ?? this.nextHandle++)) >>> 0;
    conn.handle = handle;
    this.clients.set(handle, conn);
    const table = this.ids.table();
    conn.queue(this.frame('sockclnt_create_reply', { client_index: 0, context: req.context, response: 0, index: handle, message_table: table }));
  }

  /** Observed: response 1, then VPP closes the socket. */
  private delete(target: SimConnection | undefined, req: VppFields): void {
    if (!target) return;
    target.queue(this.frame('sockclnt_delete_reply', { context: req.context, response: 1 }));
    target.closeAfterFlush = true;
    this.release(target);
  }
}
