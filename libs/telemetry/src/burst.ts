import { Context, context, isSpanContextValid, Link, trace } from '@opentelemetry/api';

/** The trace side of one coalesced run: whose child it is, and what else led to it. */
export interface Burst {
  /** The first traced trigger's context (else the first trigger's, which still names the service). */
  parent: Context;
  /** The other traced triggers' spans (deduplicated, at most `maxLinks`). */
  links: Link[];
  /** How many triggers the run stands for. */
  count: number;
}

/**
 * Collects the contexts of the triggers of a coalesced run (a timer or queue loses the context
 * of whoever asked): the run is then parented explicitly to the first trigger, and linked to the
 * others, so one change's trace reaches through the coalescing.
 */
export class TriggerContexts {
  private first: Context | undefined;
  private parent: Context | undefined;
  private links: Link[] = [];
  private readonly seen = new Set<string>();
  private count = 0;

  constructor(private readonly maxLinks = 32) {}

  /** Records one trigger (the active context by default). */
  add(ctx: Context = context.active()): void {
    this.count++;
    this.first ??= ctx;
    if (this.parent && this.links.length >= this.maxLinks) return; // full: only counted
    const sc = trace.getSpanContext(ctx);
    if (!sc || !isSpanContextValid(sc) || this.seen.has(sc.spanId)) return;
    this.seen.add(sc.spanId);
    if (!this.parent) this.parent = ctx;
    else if (this.links.length < this.maxLinks) this.links.push({ context: sc });
  }

  get size(): number {
    return this.count;
  }

  /** The burst so far; starts a new one. */
  take(): Burst {
    const burst: Burst = { parent: this.parent ?? this.first ?? context.active(), links: this.links, count: this.count };
    this.first = this.parent = undefined;
    this.links = [];
    this.seen.clear();
    this.count = 0;
    return burst;
  }

  /**
   * Puts a burst whose run failed back in front of what was collected since, so that the retry
   * continues the same trace.
   */
  putBack(burst: Burst): void {
    const later = this.take();
    this.add(burst.parent);
    for (const link of burst.links) this.addLink(link);
    if (later.count > 0) {
      this.add(later.parent);
      for (const link of later.links) this.addLink(link);
    }
    this.count = burst.count + later.count;
  }

  private addLink(link: Link): void {
    if (this.seen.has(link.context.spanId) || this.links.length >= this.maxLinks) return;
    this.seen.add(link.context.spanId);
    this.links.push(link);
  }
}
