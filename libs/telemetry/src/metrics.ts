import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

/**
 * Prometheus metrics (prom-client). One registry per process holds every wgmesh metric (and the
 * Node.js process metrics once `enableProcessMetrics()` ran); `/metrics` serves it (libs/health).
 * Metrics are defined on first use, so a process only shows the metrics of the services it runs.
 *
 * Most values are read at scrape time from counters the services keep anyway (`MetricsScope`),
 * so instrumenting costs nothing between scrapes. The DNS hot path has its own allocation-free
 * recorder (metrics-dns.ts).
 */
export const metricsRegistry = new Registry();

let processMetricsOn = false;

/** Adds prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC) to the registry, once. */
export function enableProcessMetrics(): void {
  if (processMetricsOn) return;
  processMetricsOn = true;
  collectDefaultMetrics({ register: metricsRegistry });
}

/** The registry in the Prometheus text format. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
}

export type Labels = Record<string, string>;

/** Reads, at scrape time, the current values of some series (label set → value). */
export type SeriesReader = () => Iterable<readonly [Labels, number]>;

interface Source {
  read: SeriesReader;
  /** Counters: the value last added, per label set. */
  last: Map<string, number>;
}

const sources = new WeakMap<object, Set<Source>>();
const sourced = new WeakSet<object>();

const labelKey = (labels: Labels): string => {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}=${labels[k]}`).join(',');
};

/** Adds to the counter what each series of the source grew by since the last sync. */
function syncCounter(counter: Counter<string>, source: Source): void {
  for (const [labels, value] of source.read()) {
    if (!Number.isFinite(value)) continue;
    const key = labelKey(labels);
    const last = source.last.get(key);
    // The first reading creates the series even at 0, so rates work from the start.
    if (last === undefined) counter.inc(labels, Math.max(0, value));
    else if (value > last) counter.inc(labels, value - last);
    // A source that went down (a restarted component) counts on from its new value.
    source.last.set(key, value);
  }
}

function collectCounter(this: Counter<string>): void {
  const set = sources.get(this);
  if (set) for (const s of set) syncCounter(this, s);
}

/** Gauges fed by sources are rebuilt on every scrape: the sum of the sources, per label set. */
function collectGauge(this: Gauge<string>): void {
  if (!sourced.has(this)) return;
  const set = sources.get(this);
  const sums = new Map<string, { labels: Labels; value: number }>();
  for (const s of set ?? []) {
    for (const [labels, value] of s.read()) {
      if (!Number.isFinite(value)) continue;
      const key = labelKey(labels);
      const entry = sums.get(key);
      if (entry) entry.value += value;
      else sums.set(key, { labels, value });
    }
  }
  this.reset();
  for (const { labels, value } of sums.values()) this.set(labels, value);
}

/** The counter of that name in the registry, created on first use. */
export function defineCounter(name: string, help: string, labelNames: readonly string[] = []): Counter<string> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Counter<string>;
  return new Counter({ name, help, labelNames: [...labelNames], registers: [metricsRegistry], collect: collectCounter });
}

/**
 * The gauge of that name, created on first use. A `sourced` gauge takes its values only from
 * `MetricsScope.gauge` sources (a series disappears with its last source); the others are set
 * directly.
 */
export function defineGauge(
  name: string,
  help: string,
  labelNames: readonly string[] = [],
  opts: { sourced?: boolean; /** Over cluster workers (default sum). */ aggregator?: 'sum' | 'max' | 'min' | 'first' } = {},
): Gauge<string> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Gauge<string>;
  const gauge = new Gauge({ name, help, labelNames: [...labelNames], registers: [metricsRegistry], collect: collectGauge, aggregator: opts.aggregator ?? 'sum' });
  if (opts.sourced) sourced.add(gauge);
  return gauge;
}

/** The histogram of that name, created on first use (prom-client's: for code off the hot path). */
export function defineHistogram(name: string, help: string, labelNames: readonly string[], buckets: number[]): Histogram<string> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Histogram<string>;
  return new Histogram({ name, help, labelNames: [...labelNames], buckets, registers: [metricsRegistry] });
}

/** Registers a metric object of our own (see FixedHistogram, TableCounter) once. */
export function registerCustomMetric<T extends { name: string }>(metric: T): T {
  const existing = metricsRegistry.getSingleMetric(metric.name);
  if (existing) return existing as unknown as T;
  metricsRegistry.registerMetric(metric as unknown as Metric<string>);
  return metric;
}

/**
 * The metric sources of one running service: functions read at scrape time. `dispose()` (on
 * close) takes a last reading of every counter source and removes them all; gauge series of the
 * service then disappear.
 */
export class MetricsScope {
  private readonly owned: Array<{ metric: Counter<string> | Gauge<string>; source: Source; counter: boolean }> = [];

  /** A counter series that follows a monotonic number the service keeps (e.g. `counters.reads`). */
  counter(metric: Counter<string>, labels: Labels, read: () => number): this {
    return this.counters(metric, () => [[labels, read()]]);
  }

  /** Several counter series from one reader (e.g. per NATS pattern). */
  counters(metric: Counter<string>, read: SeriesReader): this {
    return this.add(metric, read, true);
  }

  /** A gauge series read at scrape time; several sources with the same labels are summed. */
  gauge(metric: Gauge<string>, labels: Labels, read: () => number): this {
    return this.gauges(metric, () => [[labels, read()]]);
  }

  gauges(metric: Gauge<string>, read: SeriesReader): this {
    if (!sourced.has(metric)) throw new Error(`gauge ${(metric as unknown as { name: string }).name} is not defined as sourced`);
    return this.add(metric, read, false);
  }

  private add(metric: Counter<string> | Gauge<string>, read: SeriesReader, counter: boolean): this {
    const source: Source = { read, last: new Map() };
    let set = sources.get(metric);
    if (!set) sources.set(metric, (set = new Set()));
    set.add(source);
    this.owned.push({ metric, source, counter });
    return this;
  }

  dispose(): void {
    for (const { metric, source, counter } of this.owned.splice(0)) {
      if (counter) {
        try {
          syncCounter(metric as Counter<string>, source);
        } catch {
          // the component is gone; what it counted before the last scrape is kept
        }
      }
      sources.get(metric)?.delete(source);
    }
  }
}

/** prom-client's shape of a metric's values, for the metric classes of our own. */
export interface MetricValueOut {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A histogram over one label with a fixed set of values, observed by index: no label objects,
 * no hashing and no allocation per observation (a short bucket scan and three array writes).
 * Exposed in the standard histogram form (`_bucket{le}`, `_sum`, `_count`).
 */
export class FixedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private readonly sums: Float64Array;
  private readonly totals: Float64Array;
  private readonly width: number;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    readonly labelName: string,
    readonly series: readonly string[],
  ) {
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i] > buckets[i - 1])) throw new Error(`${name}: buckets must increase`);
    this.width = buckets.length + 1;
    this.counts = new Float64Array(series.length * this.width);
    this.sums = new Float64Array(series.length);
    this.totals = new Float64Array(series.length);
  }

  observe(series: number, value: number): void {
    const b = this.buckets;
    const n = b.length;
    let i = 0;
    while (i < n && value > b[i]) i++;
    this.counts[series * this.width + i]++;
    this.sums[series] += value;
    this.totals[series]++;
  }

  /** Observations of one series so far (tests, diagnostics). */
  count(series: number): number {
    return this.totals[series];
  }

  async get() {
    const values: MetricValueOut[] = [];
    for (let s = 0; s < this.series.length; s++) {
      if (this.totals[s] === 0) continue;
      const label = this.series[s];
      let cumulative = 0;
      for (let i = 0; i < this.width; i++) {
        cumulative += this.counts[s * this.width + i];
        const le = i < this.buckets.length ? this.buckets[i] : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { [this.labelName]: label, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: label }, value: this.sums[s] });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: label }, value: this.totals[s] });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
    this.totals.fill(0);
  }
}

/**
 * A counter over a fixed table of label values (every label has a closed set of values),
 * incremented by cell index: `cells[i]++` on the hot path. Only non-zero cells are exposed.
 */
export class TableCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly cells: Float64Array;
  private readonly labelNames: string[];
  private readonly labelValues: ReadonlyArray<readonly string[]>;

  constructor(
    readonly name: string,
    readonly help: string,
    dimensions: ReadonlyArray<readonly [string, readonly string[]]>,
  ) {
    this.labelNames = dimensions.map(([n]) => n);
    this.labelValues = dimensions.map(([, v]) => v);
    this.cells = new Float64Array(this.labelValues.reduce((n, v) => n * v.length, 1));
  }

  /** The cell of one label value index per dimension, in order. */
  index(...at: number[]): number {
    let i = 0;
    for (let d = 0; d < this.labelValues.length; d++) i = i * this.labelValues[d].length + at[d];
    return i;
  }

  /** The value of the series with these label values (tests, diagnostics). */
  value(labels: Labels): number {
    const at = this.labelNames.map((n, d) => this.labelValues[d].indexOf(labels[n]));
    if (at.some((i) => i < 0)) return 0;
    return this.cells[this.index(...at)];
  }

  async get() {
    const values: MetricValueOut[] = [];
    for (let i = 0; i < this.cells.length; i++) {
      if (this.cells[i] === 0) continue;
      const at: number[] = [];
      let rest = i;
      for (let d = this.labelValues.length - 1; d >= 0; d--) {
        const size = this.labelValues[d].length;
        at[d] = rest % size;
        rest = Math.floor(rest / size);
      }
      const labels: Record<string, string> = {};
      for (let d = 0; d < at.length; d++) labels[this.labelNames[d]] = this.labelValues[d][at[d]];
      values.push({ labels, value: this.cells[i] });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.cells.fill(0);
  }
}
