import { createSocket, Socket } from 'node:dgram';
import type { StunAddress } from '@wgmesh/stun';

/**
 * Test kit (reached as @wgmesh/nat-probe/testing; not exported from the library): a plain UDP
 * socket that sends raw datagrams and queues what comes back, with the sender, so tests can
 * check where a reply came from.
 */
export interface Received {
  bytes: Uint8Array;
  from: StunAddress;
}

export class RawUdp {
  private readonly queue: Received[] = [];
  private readonly waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('message', (msg, rinfo) => {
      this.queue.push({ bytes: new Uint8Array(msg), from: { ip: rinfo.address, port: rinfo.port } });
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static async open(address = '127.0.0.1', port = 0): Promise<RawUdp> {
    const socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
    return new RawUdp(socket);
  }

  get address(): StunAddress {
    const a = this.socket.address();
    return { ip: a.address, port: a.port };
  }

  send(bytes: Uint8Array, to: StunAddress): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, to.port, to.ip, (err) => (err ? reject(err) : resolve())));
  }

  /** The next datagram, or undefined after `timeoutMs`. */
  async next(timeoutMs = 1000): Promise<Received | undefined> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.queue.shift();
  }

  /** Everything that arrives within `ms`. */
  async drain(ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
