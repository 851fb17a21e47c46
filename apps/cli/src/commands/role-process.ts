import { type HttpHandler, type HttpListen, Readiness, serveHealth } from '@wgmesh/health';
import { type Logger, untilSignal, withDeadline } from '@wgmesh/log';

/** How long one service may take to close before the process goes on without it. */
const CLOSE_DEADLINE_MS = 6000;

/**
 * The lifecycle of a role process (`registry up`, `member up`): one HTTP endpoint whose /ready
 * combines every service's checks and answers from the start; services registered with
 * `onClose` as they start; a signal while starting closes what has started and ends the process
 * (status 0); `untilStopped` waits for the signal once everything runs, then closes the services
 * in reverse order, each within a deadline.
 */
export class RoleProcess {
  private readonly closers: Array<() => Promise<void>> = [];
  private running = false;
  private closed: Promise<void> | null = null;

  private constructor(
    readonly readiness: Readiness,
    private readonly log: Logger,
    private readonly http: { url: string; close(): Promise<void> } | null,
    private readonly signal: Promise<unknown>,
  ) {
    void signal.then(async () => {
      if (this.running) return;
      await this.close();
      process.exit(0);
    });
  }

  /** `handlers`: more paths on the HTTP endpoint (the registry's mesh map); `metrics`: the /metrics body, if not this process's registry. */
  static async start(httpListen: HttpListen, log: Logger, handlers: HttpHandler[] = [], metrics?: () => Promise<{ contentType: string; body: string }>): Promise<RoleProcess> {
    const readiness = new Readiness();
    const http = await serveHealth(httpListen, { readiness, log, handlers, metrics });
    return new RoleProcess(readiness, log, http, untilSignal(log));
  }

  /** The HTTP endpoint's base URL (http://127.0.0.1:9470), null when it is off or did not start. */
  get url(): string | null {
    return this.http?.url ?? null;
  }

  /** Registers a started service's close. */
  onClose(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Everything is up: waits for SIGINT/SIGTERM. */
  async untilStopped(): Promise<void> {
    this.running = true;
    await this.signal;
  }

  /** Not ready any more, the services closed in reverse order, then the HTTP endpoint. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.readiness.draining();
      for (const close of this.closers.splice(0).reverse()) {
        // A service whose close fails (a removed member's NATS connections are cut) does not keep
        // the others open: each is closed, and the failure logged.
        try {
          if (!(await withDeadline(close, CLOSE_DEADLINE_MS))) this.log.warn('a service did not stop in time; exiting anyway');
        } catch (err) {
          this.log.warn('a service did not stop cleanly; closing the others', { error: (err as Error).message });
        }
      }
      await this.http?.close();
    })();
    return this.closed;
  }
}
