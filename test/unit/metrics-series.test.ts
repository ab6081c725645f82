import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesCounter, SeriesHistogram, SeriesIndex } from '../../src/metrics/series.ts';

const BUCKETS = [0.005, 0.1, 1, 10];
const LABELS = ['verb', 'group', 'resource'];

/** Label values, and what is observed or added for them, in order. */
const OBSERVATIONS: readonly (readonly [readonly string[], number])[] = [
  [['GET', '', 'pods'], 0.004],
  [['GET', '', 'pods'], 0.005],
  [['LIST', 'apps', 'deployments'], 0.5],
  [['GET', '', 'pods'], 0.1],
  [['WATCH', '', 'pods'], 30],
  [['LIST', 'apps', 'deployments'], 10],
  [['GET', '', 'x"y\\z'], 0],
];

function labelsOf(values: readonly string[]): Record<string, string> {
  return Object.fromEntries(LABELS.map((name, index) => [name, values[index] ?? '']));
}

describe('SeriesIndex', () => {
  it('gives one series per label combination, made once', () => {
    const made: string[] = [];
    const index = new SeriesIndex((values) => {
      made.push(values.join('|'));
      return { values: [...values] };
    });
    const first = index.get(['a', 'bc']);
    expect(index.get(['a', 'bc'])).toBe(first);
    // A key made by joining the values would take these two for one.
    expect(index.get(['ab', 'c'])).not.toBe(first);
    expect(index.get(['a', 'b'])).not.toBe(first);
    expect(made).toEqual(['a|bc', 'ab|c', 'a|b']);
  });
});

describe('SeriesHistogram', () => {
  it("writes what prom-client's Histogram writes for the same observations, scrape after scrape", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const histogram = new SeriesHistogram({ name: 'h', help: 'help', labelNames: LABELS, registry: ours }, BUCKETS);
    const reference = new Histogram({
      name: 'h',
      help: 'help',
      labelNames: LABELS,
      buckets: BUCKETS,
      registers: [theirs],
    });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const [values, value] of OBSERVATIONS) {
      histogram.observeSeries(values, value);
      reference.observe(labelsOf(values), value);
      expect(await ours.metrics()).toBe(await theirs.metrics());
    }
    const json = (await ours.getMetricsAsJSON())[0];
    const referenceJson = (await theirs.getMetricsAsJSON())[0];
    // prom-client's buckets carry `exemplar: null`; toEqual takes a property set to undefined for one left out.
    expect(json?.values).toEqual(referenceJson?.values.map((value) => ({ ...value, exemplar: undefined })));
  });

  it('starts again from nothing when the registry is reset', async () => {
    const registry = new Registry();
    const histogram = new SeriesHistogram({ name: 'h', help: 'help', labelNames: LABELS, registry }, BUCKETS);
    histogram.observeSeries(['GET', '', 'pods'], 0.5);
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('h_count{verb="GET",group="",resource="pods"} 0');
  });
});

describe('SeriesCounter', () => {
  it("writes what prom-client's Counter writes for the same additions, scrape after scrape", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const counter = new SeriesCounter({ name: 'c_total', help: 'help', labelNames: LABELS, registry: ours });
    const unlabelled = new SeriesCounter({ name: 'bytes_total', help: 'help', labelNames: [], registry: ours });
    const reference = new Counter({ name: 'c_total', help: 'help', labelNames: LABELS, registers: [theirs] });
    const unlabelledReference = new Counter({ name: 'bytes_total', help: 'help', registers: [theirs] });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const [values, amount] of OBSERVATIONS) {
      counter.inc(values, amount);
      unlabelled.inc([], amount);
      reference.inc(labelsOf(values), amount);
      unlabelledReference.inc(amount);
      expect(await ours.metrics()).toBe(await theirs.metrics());
    }
    counter.inc(['GET', '', 'pods']);
    reference.inc(labelsOf(['GET', '', 'pods']));
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });
});
