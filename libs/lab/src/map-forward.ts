import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_HTTP_LISTEN } from '@wgmesh/health';
import type { Lab } from './lab';
import { LogFile, logMessage } from './mesh-log';
import type { LabProcess } from './process';

/**
 * The registry's mesh map on the lab's host. `wgmesh registry up` serves it on its HTTP endpoint,
 * 127.0.0.1:9470 inside the registry's namespace, which the host cannot reach. So the lab opens a
 * listening TCP socket on the host's 127.0.0.1 (a free port) and hands it to a small forwarder
 * started in the registry's namespace (`ip netns exec`): a socket keeps the namespace it was made
 * in, so the forwarder accepts host connections on it and connects each to the registry's
 * endpoint in its own namespace. No route, veth or iptables rule of the host changes. The
 * forwarder is a lab process (its PID in the state file: `lab down` ends it); its log is
 * `map-forward.log` beside the mesh's other logs.
 *
 * Run by the lab: node -r bin/register.js libs/lab/src/map-forward.ts --fd 3 --to 127.0.0.1:9470
 */
const FORWARDER = join(__dirname, 'map-forward.ts');
/** `registry up`'s own HTTP endpoint in its namespace (the lab leaves --http-listen at its default). */
const UPSTREAM = DEFAULT_HTTP_LISTEN.registry;
/** The listening socket's descriptor in the forwarder (after stdin, stdout, stderr). */
const CHILD_FD = 3;

export interface MapForward {
  /** http://127.0.0.1:<port>/map */
  url: string;
  process: LabProcess;
}

export async function startMapForward(lab: Lab, o: { logDir: string; workspace: string; timeoutMs: number }): Promise<MapForward> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const path = join(o.logDir, 'map-forward.log');
  let proc: LabProcess;
  try {
    const args = ['-r', join(o.workspace, 'bin/register.js'), FORWARDER, '--fd', String(CHILD_FD), '--to', UPSTREAM];
    // Spawned before this process's event loop turns again, so it never accepts on the socket itself.
    proc = lab.spawn('registry', 'sh', ['-c', 'exec "$@" >>"$LAB_LOG_FILE" 2>&1', 'sh', process.execPath, ...args], { LAB_LOG_FILE: path }, { cwd: o.workspace, fds: [listeningFd(server)] });
  } finally {
    server.close(); // our copy only: the forwarder has its own
  }
  await new LogFile(path, 'map-forward (registry)').waitFor(logMessage('forwarding'), { process: proc, timeoutMs: o.timeoutMs });
  return { url: `http://127.0.0.1:${port}/map`, process: proc };
}

function listeningFd(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the listening socket has no file descriptor to hand over');
  return fd;
}

// ---- the forwarder, in the registry's namespace --------------------------------------------

function line(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
}

function forward(fd: number, to: string): void {
  const [host, port] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
  const server = createServer((client) => {
    const upstream = connect({ host, port });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  server.on('error', (err) => line('forwarder error', { error: err.message }));
  server.listen({ fd }, () => line('forwarding', { to }));
  // Feed connections never end by themselves: a signal ends the process, and them with it.
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const value = (flag: string) => argv[argv.indexOf(flag) + 1];
  forward(Number(value('--fd')), value('--to'));
}
