import { createConnection, Socket } from 'node:net';
import { VppCodec, VppFields } from './codec';
import { ApiDefinitions, DEFAULT_API_DIR, loadDefinitions } from './definitions';
import { VppConnectionError, VppDecodeError, VppProtocolError, VppTimeoutError } from './errors';
import { MessageTable, MessageTableEntry } from './message-table';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameReader } from './transport';

export const DEFAULT_SOCKET_PATH = '/run/vpp/api.sock';
export const DEFAULT_CLIENT_NAME = 'wgmesh';
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** The ids that are fixed because the table is not known yet: memclnt registers first. */
export const SOCKCLNT_CREATE_ID = 15;
export const SOCKCLNT_CREATE_REPLY_ID = 16;

/** Messages the client itself uses after connecting: checked at connect. */
const CLIENT_MESSAGES = ['control_ping', 'control_ping_reply', 'sockclnt_delete', 'sockclnt_delete_reply'];

export type VppEventHandler = (fields: VppFields, name: string) => void;

export interface VppClientOptions {
  /** VPP's API socket (`socksvr { socket-name }`). Default /run/vpp/api.sock. */
  socketPath?: string;
  /** Where the .api.json files are (core/ and plugins/ below). Default /usr/share/vpp/api. */
  apiDir?: string;
  /** Already loaded definitions (then apiDir is not read). */
  definitions?: ApiDefinitions;
  /** Client name VPP shows for this connection. Default "wgmesh". */
  name?: string;
  /** Per request (and for a dump, per message of it). Default 5000 ms. Also bounds connect. */
  requestTimeoutMs?: number;
  /** Frames larger than this are refused (the connection is then closed). Default 16 MiB. */
  maxFrameBytes?: number;
  /**
   * Messages that must be usable (in VPP's table with our CRC): connect fails with
   * VppMessageUnavailableError naming the first that is not.
   */
  require?: Iterable<string>;
  /**
   * Event handlers registered before the first frame is read: after a reconnect VPP may send
   * events of an earlier subscription (subscriptions are keyed by the reused client handle).
   */
  on?: Record<string, VppEventHandler>;
}

export interface CallOptions {
  timeoutMs?: number;
}

/** What the typed calls need: a VppClient, or a fake in tests. */
export interface VppApi {
  request(name: string, fields?: VppFields, opts?: CallOptions): Promise<VppFields>;
  dump(name: string, fields?: VppFields, opts?: CallOptions): Promise<VppFields[]>;
}

/** Event subscription, as VppClient offers it. */
export interface VppEvents {
  on(name: string, handler: VppEventHandler): () => void;
}

interface Pending {
  readonly call: string;
  readonly context: number;
  readonly reply: string;
  /** For a dump: the details message; the control_ping_reply ends the list. */
  readonly details?: string;
  readonly items: VppFields[];
  readonly timeoutMs: number;
  timer: NodeJS.Timeout;
  resolve(value: VppFields | VppFields[]): void;
  reject(err: Error): void;
}

/**
 * A connection to VPP's binary API over its unix socket. Requests are pipelined and matched to
 * replies by `context`; events (messages without context) go to `on(name)` subscribers,
 * whenever they arrive. See the README for the protocol and the value representations.
 */
export class VppClient implements VppApi, VppEvents {
  readonly codec: VppCodec;
  /** Counters for diagnostics: replies that matched nothing (e.g. after a timeout), events with no subscriber. */
  readonly stats = { unmatched: 0, unhandledEvents: 0 };

  private table: MessageTable | undefined;
  private index = 0;
  private nextContext = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<VppEventHandler>>();
  private readonly errorHandlers = new Set<(err: Error) => void>();
  private readonly closeHandlers = new Set<(err?: Error) => void>();
  private readonly reader: FrameReader;
  private closedWith: Error | undefined;
  private ended = false;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private corked = false;

  private constructor(
    private readonly socket: Socket,
    readonly definitions: ApiDefinitions,
    private readonly timeoutMs: number,
    maxFrameBytes: number,
  ) {
    this.codec = new VppCodec(definitions);
    this.reader = new FrameReader(maxFrameBytes);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('end', () => this.teardown(this.closing ? undefined : new VppConnectionError('VPP closed the API connection')));
    socket.on('error', (err) => this.teardown(new VppConnectionError('API socket error', err)));
    socket.on('close', () => this.teardown(this.closing ? undefined : new VppConnectionError('the API connection closed')));
  }

  /** Connects, registers with sockclnt_create and resolves every message id by name + CRC. */
  static async connect(opts: VppClientOptions = {}): Promise<VppClient> {
    const definitions = opts.definitions ?? loadDefinitions(opts.apiDir ?? DEFAULT_API_DIR);
    const socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH;
    const timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    for (const name of Object.keys(opts.on ?? {})) definitions.message(name);
    const socket = await openSocket(socketPath, timeoutMs);
    const client = new VppClient(socket, definitions, timeoutMs, opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    for (const [name, handler] of Object.entries(opts.on ?? {})) client.on(name, handler);
    try {
      await client.register(opts.name ?? DEFAULT_CLIENT_NAME);
      (client.table as MessageTable).require([...CLIENT_MESSAGES, ...(opts.require ?? [])]);
    } catch (err) {
      client.teardown(err as Error);
      throw err;
    }
    return client;
  }

  /** The client handle from sockclnt_create_reply (`index`), sent as client_index on every request. */
  get clientIndex(): number {
    return this.index;
  }

  /** VPP's message ids, resolved by name + CRC. */
  get messages(): MessageTable {
    if (!this.table) throw new VppConnectionError('not registered with VPP yet');
    return this.table;
  }

  /** True once the connection is gone (closed, failed, or VPP hung up). */
  get closed(): boolean {
    return this.ended;
  }

  /** Sends `name` and resolves with its reply's fields (whatever the retval: see checkRetval). */
  request(name: string, fields: VppFields = {}, opts: CallOptions = {}): Promise<VppFields> {
    return this.call(name, fields, opts, false) as Promise<VppFields>;
  }

  /** Sends `X_dump` and a control_ping with the same context; resolves with every `X_details`. */
  dump(name: string, fields: VppFields = {}, opts: CallOptions = {}): Promise<VppFields[]> {
    return this.call(name, fields, opts, true) as Promise<VppFields[]>;
  }

  /** control_ping: the way to check that a socket connection is alive (VPP sends no keepalives). */
  ping(opts: CallOptions = {}): Promise<VppFields> {
    return this.request('control_ping', {}, opts);
  }

  /** Subscribes to a message without context (an event). Returns the unsubscribe function. */
  on(name: string, handler: VppEventHandler): () => void {
    this.definitions.message(name);
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(handler);
    return () => set?.delete(handler);
  }

  /**
   * Problems not tied to a call: an event that does not decode, a message id we cannot name, a
   * handler that threw. Without a handler they become process warnings.
   */
  onError(handler: (err: Error) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  /** Called once when the connection ends; `err` is undefined after close(). */
  onClose(handler: (err?: Error) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /** sockclnt_delete (VPP answers response 1, then closes the socket), then the socket is closed. */
  close(opts: CallOptions = {}): Promise<void> {
    this.closePromise ??= this.doClose(opts);
    return this.closePromise;
  }

  private async doClose(opts: CallOptions): Promise<void> {
    if (this.ended) return;
    this.closing = true;
    let failure: Error | undefined;
    try {
      const reply = await this.request('sockclnt_delete', { index: this.index }, opts);
      if (reply.response !== 1) failure = new VppConnectionError(`sockclnt_delete answered response ${String(reply.response)} (1 is success)`);
    } catch (err) {
      failure = err as Error;
    }
    if (!this.ended) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(this.timeoutMs, 1000));
        this.onClose(() => {
          clearTimeout(timer);
          resolve();
        });
        this.socket.end();
      });
    }
    this.teardown(undefined);
    if (failure) throw failure;
  }

  /** Closes the socket at once, without sockclnt_delete; pending calls fail with `err`. */
  destroy(err?: Error): void {
    this.closing = err === undefined;
    this.teardown(err);
  }

  // -------------------------------------------------------------------------------------------

  private async register(name: string): Promise<void> {
    const context = this.allocContext();
    const body = this.codec.encode('sockclnt_create', { _vl_msg_id: SOCKCLNT_CREATE_ID, context, name });
    const reply = (await this.send('sockclnt_create', context, 'sockclnt_create_reply', undefined, body, {})) as VppFields;
    if (typeof reply.response === 'number' && reply.response < 0) {
      throw new VppConnectionError(`VPP refused sockclnt_create: response ${reply.response}`);
    }
    const table = this.messages;
    table.require(['sockclnt_create', 'sockclnt_create_reply']);
    if (table.id('sockclnt_create') !== SOCKCLNT_CREATE_ID || table.id('sockclnt_create_reply') !== SOCKCLNT_CREATE_REPLY_ID) {
      throw new VppProtocolError('VPP does not have sockclnt_create at id 15 / its reply at 16');
    }
  }

  /** Installed as soon as the reply is read: events may follow it in the same chunk. */
  private installTable(reply: VppFields): void {
    if (typeof reply.response === 'number' && reply.response < 0) return;
    this.index = reply.index as number;
    this.table = new MessageTable(reply.message_table as MessageTableEntry[], this.definitions);
  }

  private call(name: string, fields: VppFields, opts: CallOptions, isDump: boolean): Promise<VppFields | VppFields[]> {
    if (this.ended) return Promise.reject(this.closedWith ?? new VppConnectionError('the VPP connection is closed'));
    try {
      const m = this.callInfo(name);
      const context = this.allocContext();
      const full: VppFields = { ...fields, _vl_msg_id: m.id, context };
      if (m.clientIndex) full.client_index = this.index;
      const body = this.codec.encode(name, full);
      if (isDump) {
        const ping = this.codec.encode('control_ping', { _vl_msg_id: this.callInfo('control_ping').id, client_index: this.index, context });
        return this.send(name, context, 'control_ping_reply', m.reply, Buffer.concat([encodeFrame(body), encodeFrame(ping)]), opts, true);
      }
      return this.send(name, context, m.reply, undefined, body, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Per message: its id on this connection, its reply, whether it carries client_index (looked up once). */
  private readonly calls = new Map<string, { id: number; reply: string; clientIndex: boolean }>();

  private callInfo(name: string): { id: number; reply: string; clientIndex: boolean } {
    let m = this.calls.get(name);
    if (!m) {
      const table = this.messages;
      const reply = this.definitions.service(name).reply;
      table.id(reply);
      m = { id: table.id(name), reply, clientIndex: this.definitions.message(name).fields.some((f) => f.name === 'client_index') };
      this.calls.set(name, m);
    }
    return m;
  }

  private send(
    call: string,
    context: number,
    reply: string,
    details: string | undefined,
    data: Buffer,
    opts: CallOptions,
    framed = false,
  ): Promise<VppFields | VppFields[]> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        call,
        context,
        reply,
        details,
        items: [],
        timeoutMs,
        timer: this.startTimer(call, context, timeoutMs),
        resolve,
        reject,
      };
      this.pending.set(context, p);
      // Frames sent in one tick go out in one write (an apply sends hundreds at once).
      if (!this.corked) {
        this.corked = true;
        this.socket.cork();
        process.nextTick(() => {
          this.corked = false;
          this.socket.uncork();
        });
      }
      this.socket.write(framed ? data : encodeFrame(data));
    });
  }

  private startTimer(call: string, context: number, timeoutMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.settle(context, new VppTimeoutError(call, context, timeoutMs)), timeoutMs);
    timer.unref();
    return timer;
  }

  private settle(context: number, result: Error | VppFields | VppFields[]): void {
    const p = this.pending.get(context);
    if (!p) return;
    this.pending.delete(context);
    clearTimeout(p.timer);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  private allocContext(): number {
    for (;;) {
      const c = this.nextContext;
      this.nextContext = c >= 0xffffffff ? 1 : c + 1;
      if (!this.pending.has(c)) return c;
    }
  }

  private onData(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      this.teardown(err as Error);
      return;
    }
    for (const body of bodies) {
      if (this.ended) return;
      this.onFrame(body);
    }
  }

  private onFrame(body: Buffer): void {
    if (body.length < 2) {
      this.report(new VppProtocolError(`a frame of ${body.length} byte(s) has no message id`));
      return;
    }
    const id = body.readUInt16BE(0);
    const name = this.table ? this.table.nameOf(id) : id === SOCKCLNT_CREATE_REPLY_ID ? 'sockclnt_create_reply' : undefined;
    if (!name) {
      const vppName = this.table?.vppNameOf(id);
      this.report(new VppProtocolError(`message id ${id}${vppName ? ` (${vppName} in VPP's table)` : ''} is not in our API definitions with VPP's CRC; dropped`));
      return;
    }
    let fields: VppFields;
    try {
      fields = this.codec.decode(name, body);
    } catch (err) {
      const off = err instanceof VppDecodeError ? this.codec.contextOffset(name) : undefined;
      const context = off !== undefined && body.length >= off + 4 ? body.readUInt32BE(off) : undefined;
      if (context !== undefined && this.pending.has(context)) this.settle(context, err as Error);
      else this.report(err as Error);
      return;
    }
    if (!this.table && name === 'sockclnt_create_reply') this.installTable(fields);
    const hasContext = 'context' in fields;
    if (!hasContext || this.definitions.isEvent(name)) {
      this.dispatch(name, fields);
      return;
    }
    const context = fields.context as number;
    const p = this.pending.get(context);
    if (!p) {
      this.stats.unmatched++;
      return;
    }
    if (p.details !== undefined && name === p.details) {
      p.items.push(fields);
      clearTimeout(p.timer);
      p.timer = this.startTimer(p.call, context, p.timeoutMs);
    } else if (name === p.reply) {
      this.settle(context, p.details !== undefined ? p.items : fields);
    } else {
      this.settle(context, new VppProtocolError(`${p.call} (context ${context}) got ${name}, expected ${p.details ?? p.reply}`));
    }
  }

  private dispatch(name: string, fields: VppFields): void {
    const set = this.handlers.get(name);
    if (!set || set.size === 0) {
      this.stats.unhandledEvents++;
      return;
    }
    for (const h of [...set]) {
      try {
        h(fields, name);
      } catch (err) {
        this.report(err as Error);
      }
    }
  }

  private report(err: Error): void {
    if (this.errorHandlers.size === 0) {
      process.emitWarning(err.message, err.name);
      return;
    }
    for (const h of [...this.errorHandlers]) h(err);
  }

  private teardown(err: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.closedWith = err ?? new VppConnectionError('the VPP connection is closed');
    if (!this.socket.destroyed) this.socket.destroy();
    const closing = err ?? new VppConnectionError('the VPP connection was closed');
    for (const context of [...this.pending.keys()]) this.settle(context, closing);
    for (const h of [...this.closeHandlers]) h(err);
  }
}

function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new VppConnectionError(`cannot connect to VPP at ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new VppConnectionError(`cannot connect to VPP at ${path} (is VPP running with socksvr?)`, err));
    });
  });
}
