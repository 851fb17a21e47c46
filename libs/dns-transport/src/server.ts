import { createSocket, RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createServer, Server, Socket } from 'node:net';

export type DnsTransport = 'udp' | 'tcp';

/** Turns one DNS message into its response, or null to send nothing. Must not throw. */
export type Respond = (query: Buffer, transport: DnsTransport) => Buffer | null;

export interface DnsServerLog {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface DnsServerOptions {
  host: string;
  port: number;
  respond: Respond;
  log?: DnsServerLog;
  /** A TCP connection with no complete query for this long is closed. */
  tcpIdleTimeoutMs?: number;
  /**
   * Open TCP connections at most (default 1000). A connection beyond this closes the one that has
   * waited longest for its next complete query (slow or idle clients give way to new ones).
   */
  tcpMaxConnections?: number;
  /** Unsent response bytes a TCP client may leave unread before it is dropped. */
  tcpMaxPendingBytes?: number;
  /** Kernel receive buffer for the UDP socket. */
  udpReceiveBufferBytes?: number;
}

export interface DnsServerStats {
  udpQueries: number;
  tcpQueries: number;
  tcpConnections: number;
  tcpOpen: number;
  tcpTimeouts: number;
  /** Connections closed to make room for a new one (see `tcpMaxConnections`). */
  tcpEvicted: number;
  /** Connections refused by the kernel-side backstop (twice `tcpMaxConnections`). */
  tcpRefused: number;
  /** Connections closed for leaving more than `tcpMaxPendingBytes` of responses unread. */
  tcpSlowReaders: number;
  responderErrors: number;
}

/** An open TCP connection and when it started waiting for its current query (ms, monotonic). */
type OpenConnections = Map<Socket, { since: number }>;

export interface DnsServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  stats(): DnsServerStats;
  close(): Promise<void>;
}

/**
 * Serves DNS over UDP and TCP (RFC 1035 4.2, RFC 7766) on one address and port. The transport
 * only frames messages; all DNS logic is in `respond`. TCP is bounded: idle and slow connections
 * time out, the number of connections is capped, and a client that does not read its responses
 * is dropped.
 */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const stats: DnsServerStats = { udpQueries: 0, tcpQueries: 0, tcpConnections: 0, tcpOpen: 0, tcpTimeouts: 0, tcpEvicted: 0, tcpRefused: 0, tcpSlowReaders: 0, responderErrors: 0 };
  const safeRespond = (query: Buffer, transport: DnsTransport): Buffer | null => {
    try {
      return opts.respond(query, transport);
    } catch (err) {
      stats.responderErrors++;
      opts.log?.warn('DNS responder failed on a query', { transport, error: (err as Error).message, bytes: query.length });
      return null;
    }
  };

  // With port 0 the kernel picks a free UDP port, which may be taken for TCP: try another.
  let bound: { udp: UdpSocket; tcp: Server; port: number } | null = null;
  const open: OpenConnections = new Map();
  for (let attempt = 1; !bound; attempt++) {
    try {
      bound = await bindBoth(opts, open, stats, safeRespond);
    } catch (err) {
      if (opts.port !== 0 || attempt >= 5 || !(err instanceof DnsBindError) || err.code !== 'EADDRINUSE') throw err;
    }
  }
  const { udp, tcp, port } = bound;

  return {
    port,
    stats: () => ({ ...stats, tcpOpen: open.size }),
    close: () => closeAll(udp, tcp, open),
  };
}

async function bindBoth(opts: DnsServerOptions, open: OpenConnections, stats: DnsServerStats, respond: Respond): Promise<{ udp: UdpSocket; tcp: Server; port: number }> {
  const udp = createSocket({ type: isIPv6(opts.host) ? 'udp6' : 'udp4', recvBufferSize: opts.udpReceiveBufferBytes ?? 4 * 1024 * 1024 });
  udp.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    stats.udpQueries++;
    const reply = respond(msg, 'udp');
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  udp.on('error', (err) => opts.log?.warn('DNS UDP socket error', { error: err.message }));
  udp.bind({ address: opts.host, port: opts.port });
  await listening(udp, 'UDP', opts);
  const port = udp.address().port;

  const tcp = createServer({ noDelay: true }, (socket) => serveTcp(socket, open, opts, stats, respond));
  // serveTcp keeps at most tcpMaxConnections open by evicting; this only backs it up.
  tcp.maxConnections = 2 * (opts.tcpMaxConnections ?? DEFAULT_TCP_MAX_CONNECTIONS);
  tcp.on('drop', () => stats.tcpRefused++);
  tcp.on('error', (err) => opts.log?.warn('DNS TCP server error', { error: err.message }));
  tcp.listen({ host: opts.host, port });
  try {
    await listening(tcp, 'TCP', { host: opts.host, port });
  } catch (err) {
    udp.close();
    throw err;
  }
  return { udp, tcp, port };
}

function listening(emitter: UdpSocket | Server, proto: string, at: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(bindError(proto, at, err));
    emitter.once('error', onError);
    emitter.once('listening', () => {
      emitter.off('error', onError);
      resolve();
    });
  });
}

/** The server could not bind its UDP or TCP socket; `code` is the errno name (EADDRINUSE, …). */
export class DnsBindError extends Error {
  override readonly name = 'DnsBindError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

function bindError(proto: string, opts: { host: string; port: number }, err: NodeJS.ErrnoException): Error {
  const hint = err.code === 'EADDRINUSE' ? ' (address in use: is another DNS server running there?)' : err.code === 'EADDRNOTAVAIL' ? ' (no such local address)' : '';
  return new DnsBindError(`cannot listen for DNS over ${proto} on ${opts.host}:${opts.port}: ${err.code ?? err.message}${hint}`, err.code);
}

const DEFAULT_TCP_MAX_CONNECTIONS = 1000;

/** Closes the connection that has waited longest for a complete query. */
function evictStalest(open: OpenConnections, stats: DnsServerStats): void {
  let stalest: Socket | null = null;
  let oldest = Infinity;
  for (const [s, c] of open) {
    if (c.since < oldest) {
      oldest = c.since;
      stalest = s;
    }
  }
  if (!stalest) return;
  open.delete(stalest);
  stats.tcpEvicted++;
  stalest.destroy();
}

function serveTcp(socket: Socket, open: OpenConnections, opts: DnsServerOptions, stats: DnsServerStats, respond: Respond): void {
  stats.tcpConnections++;
  const max = opts.tcpMaxConnections ?? DEFAULT_TCP_MAX_CONNECTIONS;
  while (open.size >= max) evictStalest(open, stats);
  const conn = { since: performance.now() };
  open.set(socket, conn);
  socket.once('close', () => open.delete(socket));
  socket.on('error', () => socket.destroy());

  const idleMs = opts.tcpIdleTimeoutMs ?? 10_000;
  const maxPending = opts.tcpMaxPendingBytes ?? 256 * 1024;
  // A deadline per message (not per byte), so a client trickling bytes cannot hold the slot.
  let deadline: NodeJS.Timeout | null = null;
  const arm = () => {
    conn.since = performance.now();
    if (deadline) clearTimeout(deadline);
    deadline = setTimeout(() => {
      stats.tcpTimeouts++;
      socket.destroy();
    }, idleMs);
  };
  socket.once('close', () => deadline && clearTimeout(deadline));
  arm();

  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) break;
      const query = pending.subarray(2, 2 + length);
      pending = pending.subarray(2 + length);
      stats.tcpQueries++;
      arm();
      const reply = length === 0 ? null : respond(Buffer.from(query), 'tcp');
      if (!reply) {
        socket.destroy();
        return;
      }
      const framed = Buffer.allocUnsafe(2 + reply.length);
      framed.writeUInt16BE(reply.length, 0);
      reply.copy(framed, 2);
      socket.write(framed);
      if (socket.writableLength > maxPending) {
        stats.tcpSlowReaders++;
        socket.destroy();
        return;
      }
    }
  });
}

async function closeAll(udp: UdpSocket, tcp: Server, open: OpenConnections): Promise<void> {
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
  for (const s of open.keys()) s.end();
  setTimeout(() => {
    for (const s of open.keys()) s.destroy();
  }, 1000).unref();
  await closed;
}
