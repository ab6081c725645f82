/**
 * What do the ambassador's Prometheus metrics cost per request? The same CLI with metrics on (the
 * default) and with --disable-metrics, both as shipped, against nginx on 127.0.0.1.
 *
 *   npm run bench:metrics [-- --duration 5 --warmup 1 --repeats 3 --connections 16,64]
 *
 * Same harness as bench/forwarders.ts (bench/support/runner.ts); the table is written to
 * bench/results/metrics.md.
 */
import { NODE_FLAGS } from '../test/support/ambassador.ts';
import { startAmbassador } from './support/contenders.ts';
import { runComparison } from './support/runner.ts';

const METRICS_OFF = 'ours --disable-metrics';

await runComparison({
  title: 'Metrics: ours with metrics on (the default) vs --disable-metrics',
  command: 'npm run bench:metrics',
  resultsFile: new URL('./results/metrics.md', import.meta.url).pathname,
  forwarders: [
    startAmbassador,
    (upstream, home) => startAmbassador(upstream, home, { name: METRICS_OFF, args: ['--disable-metrics'] }),
  ],
  headToHead: ['ours', METRICS_OFF],
  description: `- **ours**: the real CLI as shipped, \`node ${NODE_FLAGS.join(' ')} src/main.ts --server … --certificate-authority … --token-file …\`,
  defaults otherwise: metrics on, so every request updates the request counter, the duration and first-byte histograms
  and the byte counters, and prom-client's default Node metrics are collected; /metrics is not scraped during the run.
- **${METRICS_OFF}**: the same with \`--disable-metrics\`: no registry, no per-request recording, no /metrics.`,
});
