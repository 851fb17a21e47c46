import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { createServer } from 'node:net';

/**
 * Ports for the servers a test starts are taken from here, below Linux's ephemeral range
 * (32768-60999): a port the kernel hands out to outgoing connections can be taken by another
 * test's client between the check and the server's bind (seen: a resolver's TCP listener failing
 * with EADDRINUSE on a port that was free for UDP a moment before).
 */
export const TEST_PORTS = { from: 20000, to: 32767 } as const;

export interface FreePortOptions {
  /** Every host the port must be free on (default 127.0.0.1). */
  hosts?: readonly string[];
  /** Protocols it must be free for (default both). */
  udp?: boolean;
  tcp?: boolean;
}

/** A port free on every host for every protocol asked, at the time of asking (bound, then released). */
export async function freePort(opts: FreePortOptions = {}): Promise<number> {
  const hosts = opts.hosts ?? ['127.0.0.1'];
  const udp = opts.udp ?? true;
  const tcp = opts.tcp ?? true;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = TEST_PORTS.from + Math.floor(Math.random() * (TEST_PORTS.to - TEST_PORTS.from + 1));
    const release: Array<() => Promise<void>> = [];
    try {
      for (const host of hosts) {
        if (udp) release.push(await bindUdp(host, port));
        if (tcp) release.push(await listenTcp(host, port));
      }
      return port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    } finally {
      await Promise.all(release.map((r) => r()));
    }
  }
  throw new Error(`no port in ${TEST_PORTS.from}-${TEST_PORTS.to} is free on ${hosts.join(', ')}`);
}

function bindUdp(host: string, port: number): Promise<() => Promise<void>> {
  const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind(port, host, () => resolve(() => new Promise<void>((r) => socket.close(() => r()))));
  });
}

function listenTcp(host: string, port: number): Promise<() => Promise<void>> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(() => new Promise<void>((r) => server.close(() => r()))));
  });
}
