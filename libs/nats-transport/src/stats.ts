export interface Counters {
  /** Messages delivered to a subscription. */
  received: number;
  /** Messages dropped before a handler saw them (not JSON, too large, request without reply subject). */
  rejected: number;
  /** Handlers that threw (or replies that could not be sent). */
  errors: number;
}

export interface StatsSnapshot extends Counters {
  /** The same counters per logical pattern. */
  patterns: Record<string, Counters>;
}

/** Message counters of one server or bus, in total and per pattern. */
export class TransportStats {
  private readonly byPattern = new Map<string, Counters>();

  count(pattern: string, counter: keyof Counters): void {
    let c = this.byPattern.get(pattern);
    if (!c) this.byPattern.set(pattern, (c = { received: 0, rejected: 0, errors: 0 }));
    c[counter]++;
  }

  snapshot(): StatsSnapshot {
    const total: StatsSnapshot = { received: 0, rejected: 0, errors: 0, patterns: {} };
    for (const [pattern, c] of this.byPattern) {
      total.patterns[pattern] = { ...c };
      total.received += c.received;
      total.rejected += c.rejected;
      total.errors += c.errors;
    }
    return total;
  }
}
