import { Context, context, propagation, ROOT_CONTEXT, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { Match, MsgHdrs } from 'nats';
import { installPropagationDefaults } from './defaults';

// nats.js headers: `get` returns "" for a missing key and keys are case-sensitive by default;
// the getter reads case-insensitively (other clients may canonicalise to "Traceparent").
const getter: TextMapGetter<MsgHdrs> = {
  keys: (headers) => headers.keys(),
  get: (headers, key) => {
    const values = headers.values(key, Match.IgnoreCase);
    if (values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
};

const setter: TextMapSetter<MsgHdrs> = {
  set: (headers, key, value) => headers.set(key, value),
};

/** Writes `traceparent` (and `tracestate`, `baggage`) of `ctx` into NATS message headers. */
export function injectTraceHeaders(headers: MsgHdrs, ctx: Context = context.active()): MsgHdrs {
  installPropagationDefaults();
  propagation.inject(ctx, headers, setter);
  return headers;
}

/**
 * The remote trace context of a received message, on top of `base` (the root context by
 * default: a message handler must not inherit whatever context the socket happened to carry).
 */
export function extractTraceContext(headers: MsgHdrs | undefined, base: Context = ROOT_CONTEXT): Context {
  installPropagationDefaults();
  if (!headers) return base;
  return propagation.extract(base, headers, getter);
}
