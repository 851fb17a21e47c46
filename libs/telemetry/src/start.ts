import { trace } from '@opentelemetry/api';
import { installPropagationDefaults, releasePropagationDefaults, resetPropagation } from './defaults';

export interface TelemetryOptions {
  /** service.name, unless OTEL_SERVICE_NAME is set. */
  serviceName: string;
  /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES still wins). */
  attributes?: Record<string, string>;
}

export interface Telemetry {
  /** True when spans are exported (an OTLP endpoint is configured and the SDK is not disabled). */
  readonly enabled: boolean;
  readonly serviceName: string;
  /** Flushes pending spans and returns the process to a no-op tracer. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** Tracing is on only with an OTLP endpoint and without OTEL_SDK_DISABLED=true. */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/**
 * Starts the OpenTelemetry NodeSDK with the OTLP/HTTP trace exporter, configured by the standard
 * OTEL_* variables (endpoint, headers, sampler, batch processor, resource attributes). Traces
 * only: no metrics, logs or auto-instrumentation. Without an endpoint it is a no-op, but W3C
 * propagation still works, so trace context passes through this service untouched.
 */
export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  const serviceName = process.env.OTEL_SERVICE_NAME?.trim() || opts.serviceName;
  if (!tracingEnabled()) {
    installPropagationDefaults();
    return { enabled: false, serviceName, shutdown: async () => undefined };
  }
  // Loaded only when tracing is on: the SDK pulls in every exporter it knows.
  const [{ NodeSDK }, { OTLPTraceExporter }, { defaultResource, resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const sdk = new NodeSDK({
    serviceName,
    resource: defaultResource().merge(resourceFromAttributes(opts.attributes ?? {})),
    traceExporter: new OTLPTraceExporter(),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  releasePropagationDefaults();
  sdk.start();
  installPropagationDefaults();
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    serviceName,
    shutdown: () =>
      (stopping ??= sdk.shutdown().finally(() => {
        trace.disable();
        resetPropagation();
        installPropagationDefaults();
      })),
  };
}
