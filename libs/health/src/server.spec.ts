import { request } from 'node:http';
import { createServer } from 'node:net';
import { createLogger } from '@wgmesh/log';
import { meshMetrics } from '@wgmesh/telemetry';
import { FlagCheck, Readiness, serveHealth, startHealthServer } from './index';

/** One HTTP request over a fresh connection: status, headers, body. */
function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the HTTP endpoint', () => {
  const readiness = new Readiness();
  const nats = new FlagCheck('nats', 'connecting');
  readiness.add(nats, { name: 'index', check: () => ({ ok: true, detail: 'revision 1' }) });

  it('serves /health, /ready (200 or 503, with every check) and /metrics on an ephemeral port', async () => {
    const server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness });
    try {
      expect(server.port).toBeGreaterThan(0);
      const health = await get(`${server.url}/health`);
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', pid: process.pid });

      const notReady = await get(`${server.url}/ready`);
      expect(notReady.status).toBe(503);
      expect(notReady.type).toMatch(/^application\/json/);
      expect(JSON.parse(notReady.body)).toEqual({ status: 'not ready', checks: { nats: { ok: false, detail: 'connecting' }, index: { ok: true, detail: 'revision 1' } } });
      nats.up('connected');
      const ready = await get(`${server.url}/ready?verbose`);
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body).status).toBe('ready');
      expect((await get(`${server.url}/ready`, 'HEAD')).status).toBe(200);

      meshMetrics.errors().inc({ kind: 'dns_pull' });
      const metrics = await get(`${server.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(metrics.body).toContain('wgmesh_errors_total{kind="dns_pull"} 1');
      expect(metrics.body).toMatch(/^process_cpu_user_seconds_total \d/m); // process metrics are on
      expect(metrics.body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

      expect((await get(`${server.url}/nope`)).status).toBe(404);
      expect((await get(`${server.url}/ready`, 'POST')).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('closes with keep-alive connections open', async () => {
    const server = await startHealthServer({ host: '127.0.0.1', port: 0, readiness });
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve) => request(`${server.url}/health`, { agent }, (res) => res.resume().on('end', resolve)).end());
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(500);
    agent.destroy();
  });

  it('serveHealth: off does nothing; a port in use is logged and the service goes on', async () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'test', write: (l) => lines.push(l) });
    expect(await serveHealth(null, { readiness, log })).toBeNull();
    expect(lines.pop()).toContain('HTTP endpoint off');

    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      expect(await serveHealth({ host: '127.0.0.1', port }, { readiness, log })).toBeNull();
      const line = JSON.parse(lines.pop()!);
      expect(line).toMatchObject({ level: 'error', msg: 'HTTP endpoint not started; running without /metrics, /health and /ready' });
      expect(line.error).toContain(`cannot listen for HTTP on 127.0.0.1:${port}: EADDRINUSE`);
    } finally {
      blocker.close();
    }
    const ok = await serveHealth({ host: '127.0.0.1', port: 0 }, { readiness, log });
    expect(JSON.parse(lines.pop()!)).toMatchObject({ msg: 'HTTP endpoint listening', listen: `127.0.0.1:${ok!.port}` });
    await ok!.close();
  });
});
