import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { OtlpReceiver, startOtlpReceiver } from '@wgmesh/testing';
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
    let receiver: OtlpReceiver;
    beforeEach(async () => {
      receiver = await startOtlpReceiver();
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    });
    afterEach(() => receiver.close());

    it.each([
      [undefined, 'test-svc', 'second-svc'],
      ['from-env', 'from-env', 'from-env'],
    ])('exports each service’s spans to /v1/traces by shutdown (OTEL_SERVICE_NAME=%p)', async (envName, serviceName, secondName) => {
      const env = { ...process.env, ...(envName ? { OTEL_SERVICE_NAME: envName } : {}) };
      const result = JSON.parse(await runFixture(env));
      expect(result).toEqual({ enabled: true, serviceName, recording: true, afterShutdown: false });
      const spans = await receiver.waitFor((s) => s.length >= 2, 5000);
      expect(spans.map((s) => [s.name, s.service]).sort()).toEqual([
        ['exported', serviceName],
        ['from-second', secondName],
      ]);
      const exported = spans.find((s) => s.name === 'exported')!;
      expect(exported).toMatchObject({ kind: 2, attributes: { 'wgmesh.test': 'yes' } });
      expect(exported.resource).toMatchObject({ 'wgmesh.mesh': 'lab', 'service.namespace': 'wgmesh' });
      expect(receiver.stats().refused).toBe(0);
    });
  });
});

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
