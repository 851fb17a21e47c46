import { Attributes, Context, context, Exception, Span, SpanKind, SpanStatusCode, trace, Tracer } from '@opentelemetry/api';
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
  tracer?: string;
}

/**
 * Runs `fn` inside a new active span. A thrown error is recorded on the span, sets its status
 * to ERROR and is rethrown; the span always ends.
 */
export function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T | Promise<T>, options: WithSpanOptions = {}): Promise<T> {
  installPropagationDefaults();
  const parent = options.parent ?? context.active();
  return tracer(options.tracer).startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes }, parent, async (span) => {
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
