/**
 * Counters and histograms whose series are bound once. prom-client's `inc(labels)` and
 * `observe(labels, value)` build a key string from the labels, check every label name and look the
 * key up, on every call; `labels(...)` children do the same. Here each label combination's series is
 * found by walking one map per label value (the values are the closed sets of labels.ts, so the
 * walk ends in a series made once), and a request only adds to its numbers.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

class Level<S> {
  readonly next = new Map<string, Level<S>>();
  series: S | undefined;
}

/** The series of each label combination, made by `create` the first time it is asked for. */
export class SeriesIndex<S> {
  readonly #root = new Level<S>();
  readonly #create: (values: readonly string[]) => S;

  constructor(create: (values: readonly string[]) => S) {
    this.#create = create;
  }

  /** `values` in the order of the metric's label names. */
  get(values: readonly string[]): S {
    let level = this.#root;
    for (const value of values) {
      let next = level.next.get(value);
      if (next === undefined) {
        next = new Level<S>();
        level.next.set(value, next);
      }
      level = next;
    }
    return (level.series ??= this.#create(values));
  }
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name, index) => [name, values[index] ?? '']));
}

export interface SeriesConfiguration {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly registry: Registry;
}

interface CounterSeries {
  readonly labels: Record<string, string>;
  /** Added since the last scrape, handed to prom-client's counter when it is collected. */
  pending: number;
}

/** A labelled counter: requests add to their series; a scrape hands the sums to prom-client. */
export class SeriesCounter {
  readonly #index: SeriesIndex<CounterSeries>;

  constructor({ name, help, labelNames, registry }: SeriesConfiguration) {
    const all: CounterSeries[] = [];
    this.#index = new SeriesIndex((values) => {
      const series = { labels: labelsOf(labelNames, values), pending: 0 };
      all.push(series);
      return series;
    });
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        // Every series, none added to included: prom-client shows a series from its first inc, even of 0.
        for (const series of all) {
          this.inc(series.labels, series.pending);
          series.pending = 0;
        }
      },
    });
  }

  inc(values: readonly string[], amount = 1): void {
    this.#index.get(values).pending += amount;
  }
}

interface ExportedValue {
  readonly labels: { readonly le?: number | string };
  /** The series' labels, written after `le`. */
  readonly sharedLabels: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

interface HistogramExport {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: readonly ExportedValue[];
  readonly aggregator: 'sum';
}

interface HistogramSeries {
  readonly labels: Record<string, string>;
  /** Observations per bucket (not cumulative), the last past every bound (+Inf). */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * A labelled histogram whose series are bound once, exported in prom-client's own form (each
 * bucket `{le, …labels}` cumulative, then `_sum` and `_count`), so the text a scrape gets is what
 * prom-client's Histogram writes. Observations go through `observeSeries`, not prom-client's `observe`.
 */
export class SeriesHistogram extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #all: HistogramSeries[] = [];
  readonly #index: SeriesIndex<HistogramSeries>;

  constructor({ name, help, labelNames, registry }: SeriesConfiguration, buckets: readonly number[]) {
    super({ name, help, labelNames, buckets: [...buckets], registers: [registry] });
    this.#name = name;
    this.#help = help;
    this.#bounds = buckets;
    this.#index = new SeriesIndex((values) => {
      const series = { labels: labelsOf(labelNames, values), counts: buckets.map(() => 0).concat(0), sum: 0, count: 0 };
      this.#all.push(series);
      return series;
    });
  }

  /** `values` in the order of the label names. */
  observeSeries(values: readonly string[], value: number): void {
    const series = this.#index.get(values);
    let bucket = 0;
    while (bucket < this.#bounds.length && value > (this.#bounds[bucket] ?? Number.POSITIVE_INFINITY)) bucket++;
    series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  override reset(): void {
    // prom-client's constructor calls reset() before this class's fields exist.
    if (!(#all in this)) return;
    for (const series of this.#all) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  /**
   * What prom-client's Registry writes the metric from, and its `get` reads (lib/registry.js,
   * lib/histogram.js): the same values as its own Histogram gives, from the bound series.
   */
  getForPromString(): Promise<HistogramExport> {
    const values: ExportedValue[] = [];
    const bucketName = `${this.#name}_bucket`;
    for (const series of this.#all) {
      const { labels } = series;
      let cumulative = 0;
      for (const [index, bound] of this.#bounds.entries()) {
        cumulative += series.counts[index] ?? 0;
        values.push({ labels: { le: bound }, sharedLabels: labels, value: cumulative, metricName: bucketName });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: labels, value: series.count, metricName: bucketName });
      values.push({ labels: {}, sharedLabels: labels, value: series.sum, metricName: `${this.#name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: series.count, metricName: `${this.#name}_count` });
    }
    return Promise.resolve({ name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' });
  }
}
