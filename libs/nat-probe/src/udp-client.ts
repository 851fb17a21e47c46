import { createSocket, RemoteInfo, Socket } from 'node:dgram';
import { canonicalIp, parseIp } from '@wgmesh/netaddr';
import {
  bindingRequest,
  FingerprintMismatchError,
  isStun,
  MalformedAttributeError,
  METHOD_BINDING,
  newTransactionId,
  parseMessage,
  StunAddress,
  StunMessage,
  UnknownComprehensionRequiredError,
} from '@wgmesh/stun';
import { unmapIp } from './stun-server-handler';

/**
 * A STUN client on ONE UDP socket: Binding transactions with retransmission (bounded exponential
 * backoff), and validation of every datagram that comes back. RFC 5780's tests only mean something
 * when they all leave from the same local port, so the classifier runs every test through one
 * StunUdpClient. A reply is accepted only if it is a STUN Binding success or error response, with
 * the transaction id of a request still waiting, from the address that request expects (the server
 * for a plain request, the changed address for a CHANGE-REQUEST), with a mapped address of the
 * socket's family. Anything else is counted in `ignored` and the transaction keeps waiting.
 */
export interface StunUdpClientOptions {
  family: 4 | 6;
  /** Default 0.0.0.0 or ::. */
  localAddress?: string;
  /** Default 0: a fresh random port, as RFC 5780 section 4.1 advises. */
  localPort?: number;
  /** SOFTWARE in requests; none by default. */
  software?: string;
}

export interface TransactionOptions {
  to: StunAddress;
  changeIp?: boolean;
  changePort?: boolean;
  /** Where a success must come from; default `to`. Error responses may come from `to` too. */
  expectFrom?: StunAddress;
  /** First retransmission after this long; then doubling up to maxRtoMs. */
  rtoMs: number;
  maxRtoMs: number;
  /** Give up (result "timeout") this long after the first transmission. */
  timeoutMs: number;
  /** Called once the first datagram has been handed to the system (it is on its way to the NAT). */
  onSent?: () => void;
}

export type TransactionResult =
  | {
      readonly outcome: 'mapped';
      readonly mapped: StunAddress;
      readonly from: StunAddress;
      readonly responseOrigin?: StunAddress;
      readonly otherAddress?: StunAddress;
      readonly software?: string;
      readonly rttMs: number;
      readonly transmissions: number;
    }
  | { readonly outcome: 'error'; readonly code: number; readonly reason: string; readonly from: StunAddress; readonly transmissions: number }
  | { readonly outcome: 'timeout'; readonly transmissions: number; readonly waitedMs: number };

export const IGNORE_REASONS = [
  'not-stun',
  'malformed',
  'bad-fingerprint',
  'unknown-attribute', // a response with unknown comprehension-required attributes: discarded (RFC 8489 6.3.3)
  'not-response',
  'unknown-transaction',
  'late', // a response to a transaction already finished (a retransmission's answer)
  'wrong-source',
  'no-mapped-address',
] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

interface Pending {
  options: TransactionOptions;
  sentAt: number;
  transmissions: number;
  resolve: (r: TransactionResult) => void;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sameAddress = (a: StunAddress, b: StunAddress) => a.port === b.port && canonicalIp(a.ip) === canonicalIp(b.ip);

export class StunUdpClient {
  readonly ignored: Record<IgnoreReason, number> = Object.fromEntries(IGNORE_REASONS.map((r) => [r, 0])) as Record<IgnoreReason, number>;
  private readonly pending = new Map<string, Pending>();
  private readonly finished: string[] = [];
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly family: 4 | 6,
    private readonly software?: string,
  ) {
    socket.on('message', (msg, rinfo) => {
      try {
        this.onDatagram(new Uint8Array(msg), rinfo);
      } catch {
        this.ignored.malformed++; // never let a datagram throw out of the socket loop
      }
    });
    socket.on('error', () => undefined); // ICMP errors surface as send failures; transactions time out
  }

  static async open(opts: StunUdpClientOptions): Promise<StunUdpClient> {
    const socket = createSocket({ type: opts.family === 4 ? 'udp4' : 'udp6', ipv6Only: opts.family === 6 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: opts.localAddress ?? (opts.family === 4 ? '0.0.0.0' : '::'), port: opts.localPort ?? 0, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new StunUdpClient(socket, opts.family, opts.software);
  }

  /** The socket's local address (the wildcard unless bound to one) and port. */
  get local(): StunAddress {
    const a = this.socket.address();
    return { ip: canonicalIp(a.address), port: a.port };
  }

  /** One Binding transaction; resolves (never rejects) with the answer, an error response, or a timeout. */
  transaction(options: TransactionOptions): Promise<TransactionResult> {
    if (this.closed) {
      options.onSent?.();
      return Promise.resolve({ outcome: 'timeout', transmissions: 0, waitedMs: 0 });
    }
    const txId = newTransactionId();
    const key = hex(txId);
    const request = bindingRequest(txId, { changeIp: options.changeIp, changePort: options.changePort, software: this.software, fingerprint: true });
    const startedAt = performance.now();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let rto = options.rtoMs;
      const pending: Pending = {
        options,
        sentAt: startedAt,
        transmissions: 0,
        resolve: (r) => {
          clearTimeout(timer);
          clearTimeout(deadline);
          this.pending.delete(key);
          this.finished.push(key);
          if (this.finished.length > 64) this.finished.shift();
          resolve(r);
        },
      };
      const send = () => {
        if (this.closed) return;
        const first = pending.transmissions++ === 0;
        try {
          this.socket.send(request, options.to.port, options.to.ip, () => first && options.onSent?.());
        } catch {
          // closed meanwhile: the deadline resolves the transaction
          if (first) options.onSent?.();
        }
        const next = Math.min(rto, options.maxRtoMs);
        rto = Math.min(rto * 2, options.maxRtoMs);
        if (performance.now() - startedAt + next < options.timeoutMs) timer = setTimeout(send, next);
      };
      const deadline = setTimeout(() => pending.resolve({ outcome: 'timeout', transmissions: pending.transmissions, waitedMs: Math.round(performance.now() - startedAt) }), options.timeoutMs);
      this.pending.set(key, pending);
      send();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) p.resolve({ outcome: 'timeout', transmissions: p.transmissions, waitedMs: Math.round(performance.now() - p.sentAt) });
    await new Promise<void>((r) => this.socket.close(() => r()));
  }

  private onDatagram(bytes: Uint8Array, rinfo: RemoteInfo): void {
    if (!isStun(bytes)) return void this.ignored['not-stun']++;
    let m: StunMessage;
    try {
      m = parseMessage(bytes);
    } catch (err) {
      if (err instanceof FingerprintMismatchError) this.ignored['bad-fingerprint']++;
      else if (err instanceof UnknownComprehensionRequiredError) this.ignored['unknown-attribute']++;
      else if (err instanceof MalformedAttributeError) this.ignored.malformed++;
      else this.ignored['not-stun']++;
      return;
    }
    if (m.method !== METHOD_BINDING || (m.class !== 'success' && m.class !== 'error')) return void this.ignored['not-response']++;
    const key = hex(m.transactionId);
    const p = this.pending.get(key);
    if (!p) return void this.ignored[this.finished.includes(key) ? 'late' : 'unknown-transaction']++;
    const from: StunAddress = { ip: unmapIp(rinfo.address), port: rinfo.port };
    const o = p.options;
    if (m.class === 'error') {
      if (!sameAddress(from, o.to) && !(o.expectFrom && sameAddress(from, o.expectFrom))) return void this.ignored['wrong-source']++;
      if (!m.errorCode) return void this.ignored.malformed++;
      p.resolve({ outcome: 'error', code: m.errorCode.code, reason: m.errorCode.reason, from, transmissions: p.transmissions });
      return;
    }
    if (!sameAddress(from, o.expectFrom ?? o.to)) return void this.ignored['wrong-source']++;
    const mapped = m.xorMappedAddress ?? m.mappedAddress;
    if (!mapped || parseIp(mapped.ip).family !== this.family) return void this.ignored['no-mapped-address']++;
    p.resolve({
      outcome: 'mapped',
      mapped,
      from,
      ...(m.responseOrigin ? { responseOrigin: m.responseOrigin } : {}),
      ...(m.otherAddress ? { otherAddress: m.otherAddress } : {}),
      ...(m.software !== undefined ? { software: m.software } : {}),
      rttMs: Math.round((performance.now() - p.sentAt) * 100) / 100,
      transmissions: p.transmissions,
    });
  }
}
