// Run by start.spec.ts in a plain node process (`node -r bin/register.js`): the OTLP/HTTP exporter
// loads node:http with a native dynamic import(), which jest's module sandbox refuses.
// Two services in one process, as `wgmesh registry up` runs them, each exporting under its name.
import { SpanKind, trace } from '@opentelemetry/api';
import { startTelemetry, withSpan } from './index';

async function main(): Promise<void> {
  const telemetry = await startTelemetry({ serviceName: 'test-svc', attributes: { 'wgmesh.mesh': 'lab' } });
  const second = await startTelemetry({ serviceName: 'second-svc' });
  const recording = await telemetry.run(() => withSpan('exported', { 'wgmesh.test': 'yes' }, (span) => span.isRecording(), { kind: SpanKind.SERVER }));
  await second.run(() => withSpan('from-second', {}, () => new Promise((resolve) => setTimeout(resolve, 1))));
  await telemetry.shutdown();
  await second.shutdown();
  const afterShutdown = trace.getTracer('x').startSpan('after').isRecording();
  process.stdout.write(JSON.stringify({ enabled: telemetry.enabled, serviceName: telemetry.serviceName, recording, afterShutdown }));
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exitCode = 1;
});
