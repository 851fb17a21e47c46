import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** A DNS server under test, started by the bench. */
export interface RunningServer {
  /** Row label in the results, e.g. "wgmesh workers 2" or "knot udp-workers 2". */
  label: string;
  kind: 'wgmesh' | 'knot';
  /** Processes (or threads) answering UDP. */
  workers: number;
  host: string;
  port: number;
  /** PID of the process the bench started. */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** A port free for both UDP and TCP on `host` (bound once, then released for the server). */
export async function freePort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, host, () => resolve(udp.address().port));
    });
    const tcp = createServer();
    const tcpFree = await new Promise<boolean>((resolve, reject) => {
      tcp.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
      tcp.listen(port, host, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcpFree) {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      return port;
    }
  }
  throw new Error(`no port free for both UDP and TCP on ${host}`);
}
