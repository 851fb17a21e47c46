import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '@wgmesh/executables';
import { freePort } from './ports';

// A nats-server or redis-server of a test's own, on a free loopback port, that the test may kill
// and restart at will (the machine's shared NATS on 4222 and Redis on 6379 are never touched).

/**
 * A server process the test owns, always on the same loopback port: started, killed (by its PID,
 * with any signal) and started again. `ready` is the line it prints once it accepts clients.
 */
export class OwnServer {
  private child: ChildProcess | null = null;
  private output = '';
  private frozen = false;
  /** When the last start printed its ready line (ms since the epoch). */
  readyAt = 0;
  starts = 0;

  private constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: (port: number) => string[],
    private readonly ready: RegExp,
    readonly port: number,
  ) {}

  /**
   * nats-server on 127.0.0.1:<free port>; with `jetstream`, JetStream on with its store in that
   * directory (kept across restarts, as a real server's disk), else core NATS only.
   */
  static async nats(opts: { jetstream?: string } = {}): Promise<OwnServer> {
    const bin = findExecutable('nats-server');
    if (!bin) throw new Error('nats-server is missing (apt-get install nats-server)');
    const js = opts.jetstream !== undefined ? ['-js', '-sd', opts.jetstream] : [];
    return new OwnServer('nats-server', bin, (port) => ['-a', '127.0.0.1', '-p', String(port), ...js], /Server is ready/, await freePort({ udp: false }));
  }

  /** redis-server on 127.0.0.1:<free port>, no persistence: a restart comes back empty, as the lab's. */
  static async redis(dir: string): Promise<OwnServer> {
    const bin = findExecutable('redis-server');
    if (!bin) throw new Error('redis-server is missing (apt-get install redis-server)');
    return new OwnServer(
      'redis-server',
      bin,
      (port) => ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
      /Ready to accept connections/,
      await freePort({ udp: false }),
    );
  }

  get url(): string {
    return `${this.name === 'nats-server' ? 'nats' : 'redis'}://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts it (on the same port as before) and resolves once it accepts clients. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.child) throw new Error(`${this.name} is running already`);
    this.output = '';
    const child = spawn(this.command, this.args(this.port), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} on port ${this.port} not ready after ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString('utf8');
        if (this.ready.test(this.output)) {
          clearTimeout(timer);
          this.readyAt = Date.now();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before it was ready:\n${this.output}`));
      });
    });
  }

  /**
   * Stops the process (SIGSTOP) without closing anything: its connections stay open and the
   * kernel still takes what clients send, but nothing answers them, as a server behind a tunnel
   * that was cut (no FIN ever comes). `thaw` (or `stop`) resumes it.
   */
  freeze(): void {
    if (!this.child) throw new Error(`${this.name} is not running`);
    this.child.kill('SIGSTOP');
    this.frozen = true;
  }

  /** Resumes a frozen process (SIGCONT). */
  thaw(): void {
    if (!this.child || !this.frozen) return;
    this.child.kill('SIGCONT');
    this.frozen = false;
  }

  /** Sends `signal` to the process (by its PID), resuming it if frozen, and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
    child.kill(signal);
    this.thaw(); // a stopped process acts on SIGTERM only once continued
    await exited;
    this.child = null;
  }
}

/** A temporary directory for a test's own Redis; `remove()` deletes it. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
