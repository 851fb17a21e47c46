import { request } from 'node:http';
import { Readiness, startHealthServer, type HealthServer } from '@wgmesh/health';
import { MapHttp } from './http';
import { MeshMap } from './mesh-map';
import { memberRecord, syntheticMesh } from './testing';
import { buildView, MapView } from './view';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** Reads a server-sent event stream until `frames` views arrived (or it ends); returns them. */
function readFeed(url: string, frames: number, headers: Record<string, string> = {}, onOpen?: () => void): Promise<{ views: MapView[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const views: MapView[] = [];
    const req = request(url, { agent: false, headers }, (res) => {
      let buffer = '';
      onOpen?.();
      res.on('data', (d) => {
        buffer += d;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame);
          if (/^event: view$/m.test(frame) && data) views.push(JSON.parse(data[1]) as MapView);
          if (views.length === frames) {
            req.destroy();
            resolve({ views, ended: false });
          }
        }
      });
      res.on('end', () => resolve({ views, ended: true }));
    });
    req.on('error', (err) => (views.length === frames ? undefined : reject(err)));
    req.end();
  });
}

describe('the map over HTTP', () => {
  let server: HealthServer;
  let map: MeshMap | null;
  let http: MapHttp;
  const start = async (token?: string) => {
    map = syntheticMesh(3, { path: (i, j) => (j - i === 2 ? 'relayed' : 'direct') });
    http = new MapHttp({ source: { view: () => (map ? buildView(map) : null) }, token, minGapMs: 10, heartbeatMs: 60_000 });
    server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness: new Readiness(), handlers: [http] });
  };
  afterEach(async () => {
    http.close();
    await server.close();
  });

  it('serves the page, its script and style with a strict content security policy, beside /metrics /health /ready', async () => {
    await start();
    const page = await get(`${server.url}/map`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<script src="/map/map.js" defer></script>');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect((await get(`${server.url}/map/map.js`)).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get(`${server.url}/map/map.css`)).body).toContain('--relayed');
    expect((await get(`${server.url}/map/nothing`)).status).toBe(404);
    expect((await get(`${server.url}/`)).body).toBe('wgmesh: /metrics /health /ready /map\n');
    expect((await get(`${server.url}/health`)).status).toBe(200);
  });

  it('answers /map/state with the current view, and 503 until there is a map', async () => {
    await start();
    const state = await get(`${server.url}/map/state`);
    expect(state.status).toBe(200);
    expect((JSON.parse(state.body) as MapView).members.map((m) => m.name)).toEqual(['m0', 'm1', 'm2']);
    map = null;
    expect((await get(`${server.url}/map/state`)).status).toBe(503);
  });

  it('feeds the whole view at once, then a new one when the map changes', async () => {
    await start();
    const feed = readFeed(`${server.url}/map/feed`, 2, {}, () =>
      setTimeout(() => {
        map!.peers({ type: 'upsert', revision: 10, peer: memberRecord(3) });
        http.changed();
      }, 20),
    );
    const { views } = await feed;
    expect(views[0].members).toHaveLength(3);
    expect(views[0].pairs.find((p) => p.path === 'relayed')).toBeDefined();
    expect(views[1].members.map((m) => m.name)).toEqual(['m0', 'm1', 'm2', 'm3']);
  });

  it('ends the feed when it closes', async () => {
    await start();
    const feed = readFeed(`${server.url}/map/feed`, 99, {}, () => setTimeout(() => http.close(), 20));
    expect(await feed).toMatchObject({ ended: true });
    expect(http.viewerCount).toBe(0);
  });

  it('with a token: the data paths need it as a bearer token, the static page does not', async () => {
    await start('a-long-enough-test-token');
    const denied = await get(`${server.url}/map/state`);
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="wgmesh map"');
    expect(denied.body).not.toContain('a-long-enough-test-token');
    expect((await get(`${server.url}/map/state`, { Authorization: 'Bearer a-long-enough-test-tokeN' })).status).toBe(401);
    expect((await get(`${server.url}/map/feed`, { Authorization: 'Basic a-long-enough-test-token' })).status).toBe(401);
    expect((await get(`${server.url}/map/state`, { Authorization: 'Bearer a-long-enough-test-token' })).status).toBe(200);
    expect((await readFeed(`${server.url}/map/feed`, 1, { Authorization: 'bearer a-long-enough-test-token' })).views).toHaveLength(1);
    expect((await get(`${server.url}/map`)).status).toBe(200);
    expect(http.counters.unauthorized).toBe(3);
  });
});
