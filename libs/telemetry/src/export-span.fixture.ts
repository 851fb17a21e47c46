// Run by start.spec.ts in a plain node process (`node -r bin/register.js`): the OTLP/HTTP exporter
// loads node:http with a native dynamic import(), which jest's module sandbox refuses.
import { SpanKind, trace } from '@opentelemetry/api';
import { startTelemetry, withSpan } from './index';

async function main(): Promise<void> {
  const telemetry = await startTelemetry({ serviceName: 'test-svc', attributes: { 'wgmesh.mesh': 'lab' } });
  const recording = await withSpan('exported', { 'wgmesh.test': 'yes' }, (span) => span.isRecording(), { kind: SpanKind.SERVER });
  await telemetry.shutdown();
  const afterShutdown = trace.getTracer('x').startSpan('after').isRecording();
  process.stdout.write(JSON.stringify({ enabled: telemetry.enabled, serviceName: telemetry.serviceName, recording, afterShutdown }));
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exitCode = 1;
});
