import { SpanKind } from '@opentelemetry/api';
import { recordError, tracer } from './spans';
import { serviceRoot } from './services';

/**
 * DNS queries are counted (metrics-dns.ts), not traced: a span per query would cost more than the
 * answer. Only an outlier gets a span of its own (a root `dns.query`): a query whose answering
 * threw, or took longer than DNS_SLOW_MS in the process (an event-loop stall: the index is in memory).
 */
export const DNS_SLOW_MS = 50;

export interface DnsOutlier {
  transport: 'udp' | 'tcp';
  /** performance.now() when the query was taken up. */
  startedMs: number;
  durationMs: number;
  /** The question's type (-1 without a question). */
  qtype?: number;
  /** The response's rcode (-1 when none was sent). */
  rcode?: number;
  error?: unknown;
}

/** True when a query deserves a span: it failed or was slow. One comparison on the normal path. */
export function isDnsOutlier(durationMs: number, error?: unknown): boolean {
  return error !== undefined || durationMs > DNS_SLOW_MS;
}

/** Records one outlier query as a `dns.query` span (a new trace, in the active service). */
export function traceDnsOutlier(q: DnsOutlier): void {
  const start = performance.timeOrigin + q.startedMs;
  const span = tracer().startSpan(
    'dns.query',
    {
      kind: SpanKind.SERVER,
      startTime: start,
      attributes: {
        'network.transport': q.transport,
        ...(q.qtype !== undefined && q.qtype >= 0 ? { 'dns.question.type': q.qtype } : {}),
        ...(q.rcode !== undefined && q.rcode >= 0 ? { 'dns.response.code': q.rcode } : {}),
        'wgmesh.dns.slow': q.durationMs > DNS_SLOW_MS,
      },
    },
    serviceRoot(),
  );
  if (q.error !== undefined) recordError(span, q.error);
  span.end(start + q.durationMs);
}
