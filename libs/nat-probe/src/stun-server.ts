import { createSocket, Socket } from 'node:dgram';
import type { Logger } from '@wgmesh/log';
import { canonicalIp, parseIp } from '@wgmesh/netaddr';
import type { StunAddress } from '@wgmesh/stun';
import { AnswerKind, answerDatagram, DROP_REASONS, DropReason, isWildcard, MAX_SOFTWARE_BYTES, otherAddressFor, Outcome, ServerMode, ServerTopology, SocketSlot, slotLabel, topologySlots, unmapIp } from './stun-server-handler';
import { DEFAULT_RATE_LIMIT, RateLimit, SourceRateLimiter, ThrottledLog } from './stun-server-limits';

/**
 * The STUN server (RFC 8489 Binding, RFC 5780 behaviour discovery) on UDP sockets. The decisions
 * are in stun-server-handler.ts; this file binds the sockets, sends the replies from the socket
 * the handler chose, rate-limits replies per source, counts and logs what it drops, and never lets
 * a datagram throw out of the socket loop.
 */
export interface ListenAddress {
  host: string;
  /** 0 picks a free port (for tests); the chosen port is in `addresses`. */
  port: number;
}

export interface StunServerOptions {
  /** A1:P1. Default port 3478. */
  listen: ListenAddress;
  /**
   * A2:P2. Another IP: full RFC 5780 (four sockets A1:P1, A1:P2, A2:P1, A2:P2). The same IP and
   * another port: change-port only (A1:P1, A1:P2). Absent: plain Binding on one socket.
   */
  alternate?: ListenAddress;
  log: Logger;
  /** SOFTWARE attribute of every reply; at most 16 bytes. Default "wgmesh". */
  software?: string;
  /** Replies per source IP; false turns the limit off (benchmarks). Default 50/s, bursts of 100. */
  rateLimit?: RateLimit | false;
  /** Warnings about dropped datagrams: at most one per reason per this interval. Default 10 s. */
  warnIntervalMs?: number;
}

export interface StunServerAddresses {
  mode: ServerMode;
  /** A1:P1, the address clients are given. */
  primary: StunAddress;
  /** What the server advertises as OTHER-ADDRESS to requests on A1:P1 (A2:P2, or A1:P2), if any. */
  other?: StunAddress;
  /** Every socket, as "ip:port". */
  sockets: StunAddress[];
}

export interface StunServerCounters {
  /** Datagrams received on any socket. */
  received: number;
  answered: Record<AnswerKind, number>;
  dropped: Record<DropReason, number>;
  /** Of the replies, those sent to another port of the client (RESPONSE-PORT). */
  toResponsePort: number;
  /** Replies the kernel refused to send. */
  sendErrors: number;
}

export interface StunServer {
  readonly addresses: StunServerAddresses;
  /** A snapshot of the counters. */
  readonly counters: StunServerCounters;
  close(): Promise<void>;
}

export class StunServerConfigError extends Error {
  override readonly name = 'StunServerConfigError';
}

export const DEFAULT_STUN_PORT = 3478;
export const DEFAULT_SOFTWARE = 'wgmesh';

/** Checks the options and works out the topology (ports may still be 0). */
export function planTopology(listen: ListenAddress, alternate?: ListenAddress): ServerTopology {
  const a1 = checkHost(listen.host, 'listen');
  checkPort(listen.port, 'listen');
  if (!alternate) return { mode: 'basic', ips: [a1], ports: [listen.port] };
  const a2 = checkHost(alternate.host, 'alternate');
  checkPort(alternate.port, 'alternate');
  if (parseIp(a1).family !== parseIp(a2).family) throw new StunServerConfigError(`the alternate address ${a2} must be of the same IP family as ${a1}`);
  if (isWildcard(a1) || isWildcard(a2)) {
    throw new StunServerConfigError('with an alternate address, both addresses must be specific IPs (not 0.0.0.0 or ::): RESPONSE-ORIGIN and OTHER-ADDRESS name them');
  }
  if (listen.port !== 0 && listen.port === alternate.port) {
    throw new StunServerConfigError(`the alternate port must differ from the primary port ${listen.port} (RFC 5780 needs two ports for "change port")`);
  }
  return { mode: a1 === a2 ? 'change-port' : 'rfc5780', ips: a1 === a2 ? [a1] : [a1, a2], ports: [listen.port, alternate.port] };
}

function checkHost(host: string, what: string): string {
  try {
    return canonicalIp(host);
  } catch {
    throw new StunServerConfigError(`${what} address "${host}" is not an IP address`);
  }
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new StunServerConfigError(`${what} port ${port} is not 0-65535`);
}

const slotKey = (s: SocketSlot) => `${s.ip}:${s.port}`;

export async function startStunServer(opts: StunServerOptions): Promise<StunServer> {
  const software = opts.software ?? DEFAULT_SOFTWARE;
  if (Buffer.byteLength(software) > MAX_SOFTWARE_BYTES) throw new StunServerConfigError(`software "${software}" is longer than ${MAX_SOFTWARE_BYTES} bytes`);
  const planned = planTopology(opts.listen, opts.alternate);
  const { topology, sockets } = await bindAll(planned);
  const log = opts.log;
  const throttled = new ThrottledLog(log, opts.warnIntervalMs ?? 10_000);
  const limiter = opts.rateLimit === false ? undefined : new SourceRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT);
  const counters: StunServerCounters = {
    received: 0,
    answered: { success: 0, 'unknown-attribute': 0, 'change-unavailable': 0 },
    dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    toResponsePort: 0,
    sendErrors: 0,
  };

  const bySlot = new Map(sockets.map(({ slot, socket }) => [slotKey(slot), socket]));
  for (const { slot, socket } of sockets) {
    const local = slotLabel(topology, slot);
    socket.on('message', (msg, rinfo) => {
      counters.received++;
      let client: StunAddress | undefined;
      let outcome: Outcome;
      try {
        client = { ip: unmapIp(rinfo.address), port: rinfo.port };
        // A copy: the codec slices its input, and Buffer.slice would share (and XOR) this memory.
        outcome = answerDatagram(new Uint8Array(msg), client, slot, topology, software);
      } catch (err) {
        outcome = { kind: 'drop', reason: 'internal', detail: (err as Error).message };
      }
      const from = client ? `${rinfo.address}:${rinfo.port}` : String(rinfo.address);
      if (outcome.kind === 'drop') {
        counters.dropped[outcome.reason]++;
        const fields = { reason: outcome.reason, from, on: local, bytes: msg.length, ...(outcome.detail ? { detail: outcome.detail } : {}) };
        if (outcome.reason === 'internal') throttled.error('drop:internal', 'internal error answering a datagram, dropped it', fields);
        else throttled.warn(`drop:${outcome.reason}`, 'dropped a datagram', fields);
        return;
      }
      if (limiter && client && !limiter.allow(client.ip)) {
        counters.dropped['rate-limited']++;
        throttled.warn('drop:rate-limited', 'dropped a request: source over its rate limit', { from, on: local, perSecond: limiter.limit.perSecond, burst: limiter.limit.burst });
        return;
      }
      const out = bySlot.get(slotKey(outcome.via));
      if (!out) {
        counters.dropped.internal++;
        throttled.error('drop:internal', 'internal error: no socket for the reply', { via: slotKey(outcome.via) });
        return;
      }
      counters.answered[outcome.answer]++;
      if (outcome.port !== undefined) counters.toResponsePort++;
      const failed = (err: Error) => {
        counters.sendErrors++;
        throttled.warn('send-error', 'cannot send a reply', { to: from, error: err.message });
      };
      try {
        out.send(outcome.bytes, outcome.port ?? rinfo.port, rinfo.address, (err) => err && failed(err));
      } catch (err) {
        failed(err as Error); // the socket closed meanwhile
      }
    });
    socket.on('error', (err) => throttled.warn('socket-error', 'socket error', { on: local, error: err.message }));
  }

  const primary: StunAddress = { ip: topology.ips[0], port: topology.ports[0] };
  const other = otherAddressFor(topology, { ip: 0, port: 0 });
  const addresses: StunServerAddresses = { mode: topology.mode, primary, ...(other ? { other } : {}), sockets: topologySlots(topology).map((s) => ({ ip: topology.ips[s.ip], port: topology.ports[s.port] })) };
  const fields = { mode: topology.mode, sockets: topologySlots(topology).map((s) => slotLabel(topology, s)), rateLimit: limiter ? limiter.limit : 'off' };
  if (topology.mode === 'rfc5780') log.info('stun server listening: RFC 5780 behaviour discovery (change IP and change port)', { ...fields, otherAddress: slotLabel(topology, { ip: 1, port: 1 }) });
  else if (topology.mode === 'change-port') {
    log.warn('stun server listening with one IP: RFC 5780 change-port only; change-IP requests get 420, and clients cannot tell address-dependent from endpoint-independent mapping or filtering', {
      ...fields,
      otherAddress: slotLabel(topology, { ip: 0, port: 1 }),
    });
  } else log.info('stun server listening: Binding only (no alternate address: no RFC 5780 behaviour discovery, CHANGE-REQUEST gets 420)', fields);

  let closing: Promise<void> | undefined;
  return {
    addresses,
    get counters() {
      return { ...counters, answered: { ...counters.answered }, dropped: { ...counters.dropped } };
    },
    close() {
      closing ??= Promise.all(sockets.map(({ socket }) => closeQuietly(socket))).then(() => {
        log.info('stun server closed', { received: counters.received, answered: counters.answered });
      });
      return closing;
    },
  };
}

/**
 * Binds every socket of the topology. With port 0, P1 (and P2) are taken from the first socket
 * bound with them and reused for A2; when that port is busy on A2, everything is retried.
 */
async function bindAll(planned: ServerTopology): Promise<{ topology: ServerTopology; sockets: Array<{ slot: SocketSlot; socket: Socket }> }> {
  const type = parseIp(planned.ips[0]).family === 4 ? 'udp4' : 'udp6';
  for (let attempt = 0; ; attempt++) {
    const sockets: Array<{ slot: SocketSlot; socket: Socket }> = [];
    const ports = [...planned.ports];
    try {
      for (const slot of topologySlots(planned)) {
        const socket = createSocket({ type });
        socket.on('error', () => undefined); // until the server's own listener is attached: never an unhandled 'error'
        sockets.push({ slot, socket });
        ports[slot.port] = await bind(socket, planned.ips[slot.ip], ports[slot.port]);
      }
      return { topology: { ...planned, ports }, sockets };
    } catch (err) {
      await Promise.all(sockets.map(({ socket }) => closeQuietly(socket)));
      const code = (err as NodeJS.ErrnoException).code;
      const ephemeral = planned.ports.includes(0);
      if (code === 'EADDRINUSE' && ephemeral && attempt < 20) continue;
      if (code === 'EADDRNOTAVAIL') throw new StunServerConfigError(`cannot listen on ${(err as { address?: string }).address ?? 'an address'}: it is not an address of this host`);
      if (code === 'EADDRINUSE') throw new StunServerConfigError(`cannot listen on ${(err as { address?: string }).address}:${(err as { port?: number }).port}: the port is in use`);
      throw err;
    }
  }
}

function closeQuietly(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // never bound, or already closed
    }
  });
}

function bind(socket: Socket, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket.address().port);
    });
  });
}
