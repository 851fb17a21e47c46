import { Attributes, Context, context, Exception, isSpanContextValid, Link, Span, SpanKind, SpanStatusCode, TimeInput, trace, Tracer } from '@opentelemetry/api';
import { installPropagationDefaults } from './defaults';

export const DEFAULT_TRACER = 'wgmesh';

/** A tracer from the current global provider (don't cache it: tests swap providers). */
export function tracer(name: string = DEFAULT_TRACER): Tracer {
  installPropagationDefaults();
  return trace.getTracer(name);
}

export interface WithSpanOptions {
  kind?: SpanKind;
  /** Parent context; the active context by default. */
  parent?: Context;
  /** Other spans that led here (e.g. the rest of a coalesced burst of triggers). */
  links?: Link[];
  /** When the work began, if before this call (e.g. a device read whose result turned out to matter). */
  startTime?: TimeInput;
  tracer?: string;
}

/**
 * Runs `fn` inside a new active span. A thrown error is recorded on the span, sets its status
 * to ERROR and is rethrown; the span always ends.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T | Promise<T>, options: WithSpanOptions = {}): Promise<T> {
  installPropagationDefaults();
  const parent = options.parent ?? context.active();
  return tracer(options.tracer).startActiveSpan(name, spanOptions(attributes, options), parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** `withSpan` for synchronous work (no promise, no await: for hot paths). */
export function withSpanSync<T>(name: string, attributes: Attributes, fn: (span: Span) => T, options: WithSpanOptions = {}): T {
  installPropagationDefaults();
  const parent = options.parent ?? context.active();
  return tracer(options.tracer).startActiveSpan(name, spanOptions(attributes, options), parent, (span) => {
    try {
      return fn(span);
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A link to the active span, if any: for work that starts a trace of its own (e.g. the registry
 * watcher's read) but was asked for by someone who has one.
 */
export function activeSpanLinks(ctx: Context = context.active()): Link[] {
  const sc = trace.getSpanContext(ctx);
  return sc && isSpanContextValid(sc) ? [{ context: sc }] : [];
}

/** Adds attributes to the active span (a no-op when there is none, or it is not recording). */
export function setSpanAttributes(attributes: Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.setAttributes(attributes);
}

function spanOptions(attributes: Attributes, options: WithSpanOptions) {
  return { kind: options.kind ?? SpanKind.INTERNAL, attributes, links: options.links, startTime: options.startTime };
}

/** Marks a span failed: the exception as an event, status ERROR with the error's message. */
export function recordError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(errorMessage(err));
  span.recordException(error as Exception);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** The message of anything thrown: an Error, an object with a string `message`, or its text. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
