import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { enableProcessMetrics, metricsText } from '@wgmesh/telemetry';
import { formatHttpListen, HttpListen } from './listen';
import { CHECK_TIMEOUT_MS, Readiness } from './readiness';

export interface HealthLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * More paths on the same endpoint (the registry's mesh map): a handler serves its `prefix` and
 * every path under it, GET and HEAD only, like the rest.
 */
export interface HttpHandler {
  /** e.g. "/map": serves "/map" and "/map/…". */
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export interface HealthServerOptions {
  host: string;
  port: number;
  readiness: Readiness;
  handlers?: readonly HttpHandler[];
  /** The /metrics body; default: this process's registry (@wgmesh/telemetry). */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Per-check time limit of /ready. */
  checkTimeoutMs?: number;
  log?: HealthLog;
}

export interface HealthServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  readonly url: string;
  /** Stops listening and closes every connection, idle keep-alive ones included. */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The HTTP endpoint of a wgmesh process:
 * - `GET /metrics`: Prometheus text format;
 * - `GET /health`: liveness: 200 whenever the event loop answers, with uptime;
 * - `GET /ready`: readiness: 200 when every check passes, else 503; JSON with each check's
 *   status and detail either way.
 * - the `handlers`' paths.
 * Nothing else (404), GET and HEAD only (405).
 */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  enableProcessMetrics();
  const metrics = opts.metrics ?? metricsText;
  const started = Date.now();
  const handlers = opts.handlers ?? [];
  const paths = ['/metrics', '/health', '/ready', ...handlers.map((h) => h.prefix)].join(' ');
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: Error) => {
      opts.log?.warn('HTTP endpoint request failed', { path: req.url, error: err.message });
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${err.message}\n`, req.method === 'HEAD');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', false);
    }
    const path = (req.url ?? '/').split('?')[0];
    const handler = handlers.find((h) => path === h.prefix || path.startsWith(`${h.prefix}/`));
    if (handler) return handler.handle(req, res, path);
    switch (path) {
      case '/metrics': {
        const m = await metrics();
        return send(res, 200, m.contentType, m.body, head);
      }
      case '/health':
      case '/healthz':
      case '/livez':
        return send(res, 200, JSON_TYPE, JSON.stringify({ status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 100) / 10, pid: process.pid }) + '\n', head);
      case '/ready':
      case '/readyz': {
        const report = await opts.readiness.evaluate(opts.checkTimeoutMs ?? CHECK_TIMEOUT_MS);
        const body = JSON.stringify({ status: report.ready ? 'ready' : 'not ready', checks: report.checks }) + '\n';
        return send(res, report.ready ? 200 : 503, JSON_TYPE, body, head);
      }
      case '/':
        return send(res, 200, 'text/plain; charset=utf-8', `wgmesh: ${paths}\n`, head);
      default:
        return send(res, 404, 'text/plain; charset=utf-8', `not found: ${paths}\n`, head);
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(listenError(opts, err));
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => opts.log?.warn('HTTP endpoint error', { error: err.message }));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${formatHttpListen({ host: opts.host, port })}`;
  return { port, url, close: () => closeServer(server) };
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

function listenError(opts: { host: string; port: number }, err: NodeJS.ErrnoException): Error {
  const hint = err.code === 'EADDRINUSE' ? ' (address in use: another wgmesh service on this port? give --http-listen another port, or off)' : err.code === 'EADDRNOTAVAIL' ? ' (no such local address)' : '';
  return new Error(`cannot listen for HTTP on ${formatHttpListen(opts)}: ${err.code ?? err.message}${hint}`);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Starts the endpoint for a service command, or not (`listen` null: `--http-listen off`). A bind
 * failure is logged as an error and the service runs on without it: losing the metrics port must
 * not take DNS or the mesh down (liveness probes against it will fail, which is visible).
 */
export async function serveHealth(listen: HttpListen, opts: Omit<HealthServerOptions, 'host' | 'port'> & { log: HealthLog }): Promise<HealthServer | null> {
  if (!listen) {
    opts.log.info('HTTP endpoint off (--http-listen off)');
    return null;
  }
  try {
    const server = await startHealthServer({ ...opts, ...listen });
    opts.log.info('HTTP endpoint listening', { listen: formatHttpListen({ host: listen.host, port: server.port }), paths: ['/metrics', '/health', '/ready', ...(opts.handlers ?? []).map((h) => h.prefix)] });
    return server;
  } catch (err) {
    opts.log.error('HTTP endpoint not started; running without /metrics, /health and /ready', { error: (err as Error).message });
    return null;
  }
}
