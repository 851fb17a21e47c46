import { Context, context, propagation, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { Match, MsgHdrs } from 'nats';
import { installPropagationDefaults } from './defaults';
import { serviceRoot } from './services';

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
 * The remote trace context of a received message, on top of `base`: by default the root context
 * of the active service (a message handler must not inherit whatever span the socket happened to
 * carry, but its spans still belong to the service that received the message).
 */
export function extractTraceContext(headers: MsgHdrs | undefined, base: Context = serviceRoot()): Context {
  installPropagationDefaults();
  if (!headers) return base;
  return propagation.extract(base, headers, getter);
}
