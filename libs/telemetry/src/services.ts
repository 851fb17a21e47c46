import { Context, context, createContextKey, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, Span, SpanOptions, trace, Tracer, TracerOptions, TracerProvider } from '@opentelemetry/api';
import { installPropagationDefaults } from './defaults';

// Several wgmesh services can share one process (`wgmesh registry up` runs peer-discovery,
// registry-resolver and the hub's dataplane-programmer; `wgmesh member up` runs two), yet each must
// export its spans under its own service.name. The global tracer provider is therefore a router:
// each started service has its own SDK provider (its own resource), and a span goes to the provider
// of the service named in its parent context, which `inService` sets around everything a service
// starts (its timers, NATS connections and handlers inherit it through the async context).

const SERVICE = createContextKey('wgmesh.telemetry.service');

/** Runs `fn` (and everything it starts asynchronously) as part of `service`. */
export function inService<T>(service: string, fn: () => T): T {
  installPropagationDefaults();
  return context.with(context.active().setValue(SERVICE, service), fn);
}

/** The service a context belongs to (set by `inService`), if any. */
export function activeService(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(SERVICE) as string | undefined;
}

/**
 * The root context, still belonging to the service of `ctx`: the base for a received message's
 * context, which must not inherit the span that happened to be active but must keep its service.
 */
export function serviceRoot(ctx: Context = context.active()): Context {
  const service = activeService(ctx);
  return service === undefined ? ROOT_CONTEXT : ROOT_CONTEXT.setValue(SERVICE, service);
}

/** What the router needs of an SDK tracer provider. */
export interface ServiceProvider extends TracerProvider {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * The process-wide tracer provider: picks the provider of the span's service (from the parent
 * context, else the active one), or of the first service registered when none is named.
 */
export class ServiceTracerRouter implements TracerProvider {
  private readonly providers = new Map<string, ServiceProvider>();

  add(service: string, provider: ServiceProvider): void {
    this.providers.set(service, provider);
  }

  remove(service: string): void {
    this.providers.delete(service);
  }

  get size(): number {
    return this.providers.size;
  }

  services(): string[] {
    return [...this.providers.keys()];
  }

  provider(service: string): ServiceProvider | undefined {
    return this.providers.get(service);
  }

  /** The provider for a span started with parent context `ctx`. */
  pick(ctx: Context): ServiceProvider | undefined {
    const service = activeService(ctx) ?? activeService(context.active());
    const named = service === undefined ? undefined : this.providers.get(service);
    return named ?? this.providers.values().next().value;
  }

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return new RoutedTracer(this, name, version, options);
  }
}

class RoutedTracer implements Tracer {
  constructor(
    private readonly router: ServiceTracerRouter,
    private readonly name: string,
    private readonly version?: string,
    private readonly options?: TracerOptions,
  ) {}

  startSpan(name: string, options?: SpanOptions, ctx: Context = context.active()): Span {
    const provider = this.router.pick(ctx);
    // No provider left (every service shut down): a non-recording span that keeps the parent's
    // context, as the API's no-op tracer does.
    if (!provider) return trace.wrapSpanContext(options?.root ? INVALID_SPAN_CONTEXT : (trace.getSpanContext(ctx) ?? INVALID_SPAN_CONTEXT));
    return provider.getTracer(this.name, this.version, this.options).startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, a?: SpanOptions | F, b?: Context | F, c?: F): ReturnType<F> {
    let options: SpanOptions | undefined;
    let ctx: Context | undefined;
    let fn: F;
    if (typeof a === 'function') fn = a;
    else if (typeof b === 'function') [options, fn] = [a, b];
    else [options, ctx, fn] = [a, b, c as F];
    const parent = ctx ?? context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), fn as (span: Span) => ReturnType<F>, undefined, span);
  }
}
