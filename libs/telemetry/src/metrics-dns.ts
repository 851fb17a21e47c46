import { FixedHistogram, registerCustomMetric, TableCounter } from './metrics';

/**
 * DNS query metrics for the registry-resolver's hot path. `record()` does integer table look-ups
 * and typed-array increments only: no label objects, strings or closures per query. The label
 * sets are closed, so the series count is bounded whatever clients send:
 * - `transport`: udp, tcp
 * - `qtype`: A, NS, SOA, PTR, TXT, AAAA, SRV, ANY, other (any other type), none (no question)
 * - `rcode`: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS, other
 */
export const DNS_TRANSPORTS = ['udp', 'tcp'] as const;
export const DNS_QTYPE_LABELS = ['A', 'NS', 'SOA', 'PTR', 'TXT', 'AAAA', 'SRV', 'ANY', 'other', 'none'] as const;
export const DNS_RCODE_LABELS = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'BADVERS', 'other'] as const;

const QTYPE_NUMBERS: Record<string, number> = { A: 1, NS: 2, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 };
const RCODE_NUMBERS: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 };
const QTYPE_OTHER = DNS_QTYPE_LABELS.indexOf('other');
const QTYPE_NONE = DNS_QTYPE_LABELS.indexOf('none');
const RCODE_OTHER = DNS_RCODE_LABELS.indexOf('other');

/** Seconds; the resolver answers from memory in microseconds, so the buckets start at 5 µs. */
export const DNS_DURATION_BUCKETS = [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

export class DnsQueryMetrics {
  /** `wgmesh_dns_queries_total{transport,qtype,rcode}`: queries answered. */
  readonly queries = new TableCounter('wgmesh_dns_queries_total', 'DNS queries answered, by transport, query type and response code', [
    ['transport', DNS_TRANSPORTS],
    ['qtype', DNS_QTYPE_LABELS],
    ['rcode', DNS_RCODE_LABELS],
  ]);
  /** `wgmesh_dns_dropped_total{transport}`: inputs not answered (shorter than a header, or a response). */
  readonly dropped = new TableCounter('wgmesh_dns_dropped_total', 'DNS messages dropped without an answer (malformed beyond a header, or not a query)', [['transport', DNS_TRANSPORTS]]);
  /** `wgmesh_dns_query_duration_seconds{transport}`: time to build the answer, in process. */
  readonly duration = new FixedHistogram(
    'wgmesh_dns_query_duration_seconds',
    'Time from a DNS query to its response bytes, in the resolver (excludes the kernel and the network)',
    DNS_DURATION_BUCKETS,
    'transport',
    DNS_TRANSPORTS,
  );
  private readonly typeSlot = new Uint8Array(256).fill(QTYPE_OTHER);
  private readonly rcodeSlot = new Uint8Array(32).fill(RCODE_OTHER);
  private readonly width = DNS_QTYPE_LABELS.length * DNS_RCODE_LABELS.length;

  constructor() {
    DNS_QTYPE_LABELS.forEach((label, i) => label in QTYPE_NUMBERS && (this.typeSlot[QTYPE_NUMBERS[label]] = i));
    DNS_RCODE_LABELS.forEach((label, i) => label in RCODE_NUMBERS && (this.rcodeSlot[RCODE_NUMBERS[label]] = i));
  }

  /**
   * One query: `qtype` is the question's type (-1 without a question), `rcode` the response's
   * (extended) rcode, or -1 when nothing was sent; `seconds` the time it took.
   */
  record(transport: 'udp' | 'tcp', qtype: number, rcode: number, seconds: number): void {
    const t = transport === 'udp' ? 0 : 1;
    if (rcode < 0) {
      this.dropped.cells[t]++;
      return;
    }
    const q = qtype < 0 ? QTYPE_NONE : qtype < 256 ? this.typeSlot[qtype] : QTYPE_OTHER;
    const r = rcode < 32 ? this.rcodeSlot[rcode] : RCODE_OTHER;
    this.queries.cells[t * this.width + q * DNS_RCODE_LABELS.length + r]++;
    this.duration.observe(t, seconds);
  }
}

let shared: DnsQueryMetrics | null = null;

/** The process's DNS query metrics, registered in `metricsRegistry` on first use. */
export function dnsQueryMetrics(): DnsQueryMetrics {
  if (!shared) {
    shared = new DnsQueryMetrics();
    registerCustomMetric(shared.queries);
    registerCustomMetric(shared.dropped);
    registerCustomMetric(shared.duration);
  }
  return shared;
}
