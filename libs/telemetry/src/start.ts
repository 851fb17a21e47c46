import { trace } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { installPropagationDefaults, resetPropagation } from './defaults';
import { inService, ServiceProvider, ServiceTracerRouter } from './services';

export interface TelemetryOptions {
  /** service.name, unless OTEL_SERVICE_NAME is set; also the name `run` gives the service's context. */
  serviceName: string;
  /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES still wins). */
  attributes?: Record<string, string>;
  /**
   * Where spans go instead of OTLP/HTTP (tests: an InMemorySpanExporter). With it, tracing is on
   * even without an endpoint.
   */
  exporter?: SpanExporter;
}

export interface Telemetry {
  /** True when spans are exported (an OTLP endpoint is configured and the SDK is not disabled). */
  readonly enabled: boolean;
  readonly serviceName: string;
  /**
   * Runs `fn` as this service: spans started in it, and in everything it starts asynchronously
   * (timers, NATS connections and their handlers), are exported under this service's name.
   */
  run<T>(fn: () => T): T;
  /** Exports the spans that ended so far. */
  forceFlush(): Promise<void>;
  /** Flushes pending spans and stops exporting this service's spans. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** Tracing is on only with an OTLP endpoint and without OTEL_SDK_DISABLED=true. */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/** The process's router and, per service, its provider and how many starts share it. */
const router = new ServiceTracerRouter();
const starts = new Map<string, { provider: ServiceProvider; refs: number }>();
let registered = false;

/**
 * Starts tracing for one service, configured by the standard OTEL_* variables: OTLP/HTTP export
 * (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _COMPRESSION…), the sampler
 * (OTEL_TRACES_SAMPLER[_ARG]), the batch processor (OTEL_BSP_*), the resource
 * (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). Traces only. Without an endpoint it is a no-op,
 * but W3C propagation still works, so trace context passes through this service untouched.
 *
 * Several services may start in one process: each gets its own provider and resource, and the
 * global tracer provider routes each span to the service of its context (see `run`).
 */
export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  const serviceName = process.env.OTEL_SERVICE_NAME?.trim() || opts.serviceName;
  const run = <T>(fn: () => T): T => inService(opts.serviceName, fn);
  if (!opts.exporter && !tracingEnabled()) {
    installPropagationDefaults();
    return { enabled: false, serviceName, run, forceFlush: async () => undefined, shutdown: async () => undefined };
  }
  const entry = starts.get(opts.serviceName) ?? { provider: await createProvider(opts), refs: 0 };
  entry.refs++;
  if (entry.refs === 1) {
    starts.set(opts.serviceName, entry);
    router.add(opts.serviceName, entry.provider);
  }
  installPropagationDefaults();
  if (!registered) {
    trace.disable(); // ours from now on (a provider left by someone else would take every span)
    registered = trace.setGlobalTracerProvider(router);
  }
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    serviceName,
    run,
    forceFlush: () => entry.provider.forceFlush(),
    shutdown: () => (stopping ??= release(opts.serviceName, entry)),
  };
}

async function release(service: string, entry: { provider: ServiceProvider; refs: number }): Promise<void> {
  if (--entry.refs > 0) return entry.provider.forceFlush();
  starts.delete(service);
  router.remove(service);
  if (router.size === 0 && registered) {
    trace.disable();
    registered = false;
    resetPropagation();
    installPropagationDefaults();
  }
  await entry.provider.shutdown();
}

async function createProvider(opts: TelemetryOptions): Promise<ServiceProvider> {
  // Loaded only when tracing is on. The OTLP exporter is loaded only when used: it imports
  // node:http dynamically, which jest's module sandbox refuses.
  const [{ BasicTracerProvider, BatchSpanProcessor }, { defaultResource, detectResources, envDetector, hostDetector, resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = opts.exporter ?? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  // Not the SDK's process detector: it exports the command line, where a --token may be.
  const processAttributes = { 'process.pid': process.pid, 'process.runtime.name': 'nodejs', 'process.runtime.version': process.versions.node };
  const resource = defaultResource()
    .merge(detectResources({ detectors: [hostDetector] }))
    .merge(resourceFromAttributes({ ...processAttributes, 'service.name': opts.serviceName, 'service.namespace': 'wgmesh', ...opts.attributes }))
    .merge(detectResources({ detectors: [envDetector] })); // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
  return new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
}
