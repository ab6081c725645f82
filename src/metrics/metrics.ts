/**
 * Prometheus metrics, in a private registry served on the probes listener. Every label comes from
 * a closed set (labels.ts): Kubernetes verbs, codes and decisions, the API's own group, version,
 * resource and subresource names, policy rule names — never a namespace, object name, path or user,
 * nor a name a client invented. Gauges of what is open are computed when scraped, costing requests nothing.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { CredentialStore } from '../cluster/credentials.ts';
import type { PolicyMode } from '../config/options.ts';
import type { CompletedRequest, Recorder, UpstreamErrorCause } from '../request/record.ts';
import { metricsCode, metricsDryRun, metricsScope, metricsVerb, ResourceLabeler } from './labels.ts';
import { SeriesCounter, SeriesHistogram } from './series.ts';

const PREFIX = 'kube_api_ambassador_';
const EVENT_LOOP_SAMPLE_MS = 100;
/** kube-apiserver's request duration buckets (5 ms to 60 s). */
const DURATION_BUCKETS = [
  0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
];

/** What the proxy is serving now, read at each scrape. */
export interface InFlightCounts {
  readonly count: number;
  longRunningByKind(): ReadonlyMap<string, number>;
}

export interface MetricsSources {
  readonly version: string;
  readonly credentials: CredentialStore;
  readonly inFlight: InFlightCounts;
  readonly upstream: { readonly http2Connections: number };
}

type Help = Readonly<Record<string, string>>;

/** Labelled per request: their series are bound once (series.ts). */
const REQUEST_LABELS = ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'code', 'dry_run', 'decision'];
const PER_REQUEST_HELP = {
  requests_total: "Requests by the labels of apiserver_request_total, plus the ambassador's decision.",
  request_duration_seconds:
    'Time from receiving a request to the end of its response; watches and streams last as long as they are open.',
  long_running_first_byte_seconds:
    'Time until the API server starts answering a long-running request (watch, log, exec, attach, port-forward, proxy).',
  received_bytes_total: 'Bytes received from local clients (requests and streams).',
  sent_bytes_total: 'Bytes sent to local clients (responses and streams).',
  upstream_errors_total: 'Requests the API server did not answer, by cause.',
  policy_denials_total:
    'Requests the allow-list refused (mode "enforce") or would have refused (mode "log"), by the rule whose condition failed ("" when no rule covered them).',
} as const satisfies Help;

/** Counted now and then, by result or reason. */
const EVENT_COUNTERS = {
  credential_reloads_total: ['result', 'Reloads of the API server credentials (token, CA, kubeconfig), by result.'],
  policy_reloads_total: ['result', 'Changed policy files read, by result (an invalid one is not applied).'],
  audit_events_lost_total: [
    'reason',
    'Audit events not written: "dropped" while the sink was too slow, "sink_error" once it failed.',
  ],
} as const;

/** Gauges without labels read at each scrape; `undefined` leaves the sample out. */
function scrapedGauges(sources: MetricsSources): readonly (readonly [string, string, () => number | undefined])[] {
  return [
    [
      'credential_expiry_seconds',
      'Seconds until the credentials in use expire (negative once expired); absent when their expiry cannot be read.',
      () => {
        const expiresAt = sources.credentials.current.expiresAt;
        return expiresAt === undefined ? undefined : (expiresAt - Date.now()) / 1000;
      },
    ],
    ['requests_in_flight', 'Requests being served now, long-running ones included.', () => sources.inFlight.count],
    [
      'upstream_http2_connections',
      'HTTP/2 connections open to the API server, ones finishing their streams after a GOAWAY or a CA change included.',
      () => sources.upstream.http2Connections,
    ],
  ];
}

export class Metrics implements Recorder {
  readonly registry = new Registry();
  readonly #resourceLabeler = new ResourceLabeler();
  readonly #requests: SeriesCounter;
  readonly #duration: SeriesHistogram;
  readonly #firstByte: SeriesHistogram;
  readonly #bytesFromClients: SeriesCounter;
  readonly #bytesToClients: SeriesCounter;
  readonly #upstreamErrors: SeriesCounter;
  readonly #policyDenials: SeriesCounter;
  readonly credentialReloads: Counter;
  readonly policyReloads: Counter;
  readonly auditEventsLost: Counter;

  constructor(sources: MetricsSources) {
    const registry = this.registry;
    const series = (name: keyof typeof PER_REQUEST_HELP, labelNames: readonly string[]) => ({
      name: `${PREFIX}${name}`,
      help: PER_REQUEST_HELP[name],
      labelNames,
      registry,
    });
    this.#requests = new SeriesCounter(series('requests_total', REQUEST_LABELS));
    this.#duration = new SeriesHistogram(
      series('request_duration_seconds', ['verb', 'group', 'resource']),
      DURATION_BUCKETS,
    );
    this.#firstByte = new SeriesHistogram(
      series('long_running_first_byte_seconds', ['verb', 'resource']),
      DURATION_BUCKETS,
    );
    this.#bytesFromClients = new SeriesCounter(series('received_bytes_total', []));
    this.#bytesToClients = new SeriesCounter(series('sent_bytes_total', []));
    this.#upstreamErrors = new SeriesCounter(series('upstream_errors_total', ['cause']));
    this.#policyDenials = new SeriesCounter(series('policy_denials_total', ['rule', 'mode']));
    const eventCounter = (name: keyof typeof EVENT_COUNTERS): Counter => {
      const [label, help] = EVENT_COUNTERS[name];
      return new Counter({ name: `${PREFIX}${name}`, help, labelNames: [label], registers: [registry] });
    };
    this.credentialReloads = eventCounter('credential_reloads_total');
    this.policyReloads = eventCounter('policy_reloads_total');
    this.auditEventsLost = eventCounter('audit_events_lost_total');
    registerGauges(registry, sources);
    collectNodeMetrics(registry);
  }

  requestCompleted(request: CompletedRequest): void {
    const { attributes, statusCode } = request;
    const verb = metricsVerb(request.arrival.method, attributes, request.contentType);
    const { group, version, resource, subresource } = this.#resourceLabeler.labels(
      attributes,
      statusCode,
      request.decision,
    );
    const scope = metricsScope(attributes);
    const dryRun = metricsDryRun(request.dryRun);
    this.#requests.inc([
      verb,
      group,
      version,
      resource,
      subresource,
      scope,
      metricsCode(statusCode),
      dryRun,
      request.decision,
    ]);
    this.#duration.observeSeries([verb, group, resource], secondsSince(request.arrival.startedAt));
    this.#bytesFromClients.inc(NO_LABELS, request.bytesFromClient);
    this.#bytesToClients.inc(NO_LABELS, request.bytesToClient);
  }

  firstByte(request: CompletedRequest): void {
    const { resource } = this.#resourceLabeler.labels(request.attributes, request.statusCode, request.decision);
    const verb = metricsVerb(request.arrival.method, request.attributes, request.contentType);
    this.#firstByte.observeSeries([verb, resource], secondsSince(request.arrival.startedAt));
  }

  upstreamError(cause: UpstreamErrorCause): void {
    this.#upstreamErrors.inc([cause]);
  }

  /** Rule names come from the policy file: the operator's, bounded by its length. */
  policyDenied(rule: string | undefined, mode: PolicyMode): void {
    this.#policyDenials.inc([rule ?? '', mode]);
  }
}

const NO_LABELS: readonly string[] = [];

function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1000;
}

/** The gauges, computed when scraped, and the build's. */
function registerGauges(registry: Registry, sources: MetricsSources): void {
  for (const [name, help, read] of scrapedGauges(sources)) {
    new Gauge({
      name: `${PREFIX}${name}`,
      help,
      registers: [registry],
      collect() {
        const value = read();
        // prom-client resets a gauge without labels to 0 (which would read as "expired now"): remove the sample instead.
        if (value === undefined) this.remove();
        else this.set(value);
      },
    });
  }
  new Gauge({
    name: `${PREFIX}long_running_requests`,
    help: 'Open long-running requests by kind: watch, log, exec, attach, portforward, proxy.',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, count] of sources.inFlight.longRunningByKind()) this.set({ kind }, count);
    },
  });
  new Gauge({
    name: `${PREFIX}build_info`,
    help: "The ambassador's version and the Node.js it runs on.",
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: sources.version, node_version: process.version }, 1);
}

/** Node's own metrics, without the ones promtool rejects. */
function collectNodeMetrics(registry: Registry): void {
  // The event-loop delay histogram samples with a timer: prom-client's 10 ms wakes an idle sidecar
  // 100 times a second (most of its idle CPU); 100 ms still catches the stalls that matter.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // Gauges named like counters: promtool rejects them, and nodejs_active_{handles,requests,resources} carry the same.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
}
