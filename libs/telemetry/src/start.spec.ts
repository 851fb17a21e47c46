import { execFile } from 'node:child_process';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startTelemetry, tracingEnabled, withSpan } from './index';

const OTEL_VARS = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_SDK_DISABLED', 'OTEL_SERVICE_NAME'];

describe('startTelemetry', () => {
  const saved = Object.fromEntries(OTEL_VARS.map((k) => [k, process.env[k]]));
  beforeEach(() => OTEL_VARS.forEach((k) => delete process.env[k]));
  afterAll(() => OTEL_VARS.forEach((k) => (saved[k] === undefined ? delete process.env[k] : (process.env[k] = saved[k]))));

  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, false],
  ])('tracingEnabled(%j) is %p', (env, want) => expect(tracingEnabled(env)).toBe(want));

  it('is a no-op without an endpoint', async () => {
    const telemetry = await startTelemetry({ serviceName: 'test-svc' });
    expect(telemetry.enabled).toBe(false);
    await withSpan('nothing', {}, (span) => expect(span.isRecording()).toBe(false));
    await telemetry.shutdown();
  });

  it('is a no-op when OTEL_SDK_DISABLED is true, even with an endpoint', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9';
    process.env.OTEL_SDK_DISABLED = 'true';
    const telemetry = await startTelemetry({ serviceName: 'test-svc' });
    expect(telemetry.enabled).toBe(false);
    await telemetry.shutdown();
  });

  describe('with a local OTLP/HTTP receiver', () => {
    let server: Server;
    let posts: { url: string; body: OtlpBody }[];
    let arrived: () => void;

    beforeEach(async () => {
      posts = [];
      server = createServer(async (req, res) => {
        posts.push({ url: req.url ?? '', body: JSON.parse(await readBody(req)) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        arrived();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it.each([
      [undefined, 'test-svc'],
      ['from-env', 'from-env'],
    ])('exports spans to /v1/traces on shutdown (OTEL_SERVICE_NAME=%p)', async (envName, serviceName) => {
      const received = new Promise<void>((resolve) => (arrived = resolve));
      const env = { ...process.env, ...(envName ? { OTEL_SERVICE_NAME: envName } : {}) };
      const result = JSON.parse(await runFixture(env));
      await received;

      expect(result).toEqual({ enabled: true, serviceName, recording: true, afterShutdown: false });
      expect(posts[0].url).toBe('/v1/traces');
      const resource = posts[0].body.resourceSpans[0].resource.attributes;
      expect(attr(resource, 'service.name')).toBe(serviceName);
      expect(attr(resource, 'wgmesh.mesh')).toBe('lab');
      const spans = posts.flatMap((p) => p.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
      expect(spans.map((s) => s.name)).toEqual(['exported']);
    });
  });
});

interface KeyValue {
  key: string;
  value: { stringValue?: string };
}
interface OtlpBody {
  resourceSpans: { resource: { attributes: KeyValue[] }; scopeSpans: { spans: { name: string }[] }[] }[];
}

const attr = (attrs: KeyValue[], key: string) => attrs.find((a) => a.key === key)?.value.stringValue;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const ROOT = join(__dirname, '../../..');

/** Runs export-span.fixture.ts in a plain node process and resolves with its stdout. */
function runFixture(env: NodeJS.ProcessEnv): Promise<string> {
  const args = ['-r', join(ROOT, 'bin/register.js'), join(__dirname, 'export-span.fixture.ts')];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { env, cwd: ROOT, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`fixture failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
