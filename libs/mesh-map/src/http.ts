import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { HttpHandler } from '@wgmesh/health';
import type { MapView } from './view';

/**
 * The map's HTTP side, on the process's existing HTTP endpoint (libs/health):
 * - `GET /map`: the page (web/index.html), `/map/map.js`, `/map/map.css`: static, no mesh data,
 *   served to anyone who reaches the endpoint;
 * - `GET /map/state`: the current view as JSON;
 * - `GET /map/feed`: server-sent events: `event: view` with the whole current view at once, then
 *   again whenever the map changed (at most every `minGapMs`, more apart when a view is costly to
 *   build: at least ten times its build time between two), and every 15 s regardless (ages and
 *   "online" move with time; it is also the keep-alive).
 * With a token, `/map/state` and `/map/feed` need `Authorization: Bearer <token>` (the page sends
 * it from the URL's `#token=…`, which browsers never send to a server); else 401.
 */
export const MAP_PREFIX = '/map';
const WEB_DIR = join(__dirname, '..', 'web');
const ASSETS: Record<string, { file: string; type: string }> = {
  [MAP_PREFIX]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${MAP_PREFIX}/`]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${MAP_PREFIX}/map.js`]: { file: 'map.js', type: 'text/javascript; charset=utf-8' },
  [`${MAP_PREFIX}/map.css`]: { file: 'map.css', type: 'text/css; charset=utf-8' },
};
/** Everything from this origin only, nothing inline, no framing: the page needs no more. */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
export const HEARTBEAT_MS = 15_000;
export const MIN_GAP_MS = 250;
/** Feed connections at once; more get 503 (each costs a view per change). */
export const MAX_VIEWERS = 32;
/** A viewer that has not read this much of what was sent is dropped (it reconnects and starts afresh). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Where the views come from: null until the map is started. */
export interface ViewSource {
  view(): MapView | null;
}

export interface MapHttpOptions {
  source: ViewSource;
  /** Bearer token for the data paths; undefined: none needed (loopback only). */
  token?: string;
  minGapMs?: number;
  heartbeatMs?: number;
}

export class MapHttp implements HttpHandler {
  readonly prefix = MAP_PREFIX;
  private readonly assets = new Map<string, { body: Buffer; type: string }>();
  private readonly viewers = new Set<ServerResponse>();
  private readonly tokenHash: Buffer | null;
  private readonly minGapMs: number;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastPush = 0;
  private gapMs: number;
  private closed = false;
  readonly counters = { views: 0, unauthorized: 0, dropped: 0 };

  constructor(private readonly opts: MapHttpOptions) {
    for (const [path, a] of Object.entries(ASSETS)) this.assets.set(path, { body: readFileSync(join(WEB_DIR, a.file)), type: a.type });
    this.tokenHash = opts.token === undefined ? null : sha256(opts.token);
    this.minGapMs = opts.minGapMs ?? MIN_GAP_MS;
    this.gapMs = this.minGapMs;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const head = req.method === 'HEAD';
    const asset = this.assets.get(path);
    if (asset) return send(res, 200, asset.type, asset.body, head);
    if (path !== `${MAP_PREFIX}/state` && path !== `${MAP_PREFIX}/feed`) return send(res, 404, 'text/plain; charset=utf-8', `not found: ${MAP_PREFIX}, ${MAP_PREFIX}/state, ${MAP_PREFIX}/feed\n`, head);
    if (!this.authorized(req)) {
      this.counters.unauthorized++;
      res.setHeader('WWW-Authenticate', 'Bearer realm="wgmesh map"');
      return send(res, 401, 'text/plain; charset=utf-8', 'this map needs its bearer token (Authorization: Bearer <token>; in a browser, open /map#token=<token>)\n', head);
    }
    const view = this.opts.source.view();
    if (path === `${MAP_PREFIX}/state`) {
      if (!view) return send(res, 503, 'application/json; charset=utf-8', `${JSON.stringify({ status: { ready: false, detail: 'starting' } })}\n`, head);
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(view), head);
    }
    if (this.viewers.size >= MAX_VIEWERS) return send(res, 503, 'text/plain; charset=utf-8', `already ${MAX_VIEWERS} viewers of this map\n`, head);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    if (head) return void res.end();
    res.write(': wgmesh mesh map\nretry: 2000\n\n');
    this.viewers.add(res);
    res.on('close', () => this.viewers.delete(res));
    if (view) this.send(res, frame(view));
    this.heartbeat ??= setInterval(() => this.push(), this.opts.heartbeatMs ?? HEARTBEAT_MS).unref();
  }

  /** The map changed: every viewer gets the new view, soon (see the class comment). */
  changed(): void {
    if (this.timer || this.closed || this.viewers.size === 0) return;
    const wait = Math.max(0, this.lastPush + this.gapMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.push();
    }, wait);
    this.timer.unref();
  }

  /** Ends every feed connection (before the HTTP server closes). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const res of this.viewers) res.end();
    this.viewers.clear();
  }

  private push(): void {
    if (this.viewers.size === 0) return;
    const started = performance.now();
    const view = this.opts.source.view();
    if (!view) return;
    const text = frame(view);
    this.gapMs = Math.max(this.minGapMs, 10 * (performance.now() - started));
    this.lastPush = Date.now();
    for (const res of this.viewers) this.send(res, text);
  }

  private send(res: ServerResponse, frame: string): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.counters.dropped++;
      this.viewers.delete(res);
      res.destroy();
      return;
    }
    res.write(frame);
    this.counters.views++;
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenHash) return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m !== null && timingSafeEqual(sha256(m[1]), this.tokenHash);
  }
}

/** One server-sent event carrying a whole view. */
function frame(view: MapView): string {
  return `event: view\ndata: ${JSON.stringify(view)}\n\n`;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, head: boolean): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}
