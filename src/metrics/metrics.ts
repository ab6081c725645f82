/**
 * Prometheus metrics, in a private registry served on the probes listener. Every label comes from
 * a closed set (labels.ts): Kubernetes verbs, codes and decisions, the API's own group, version,
 * resource and subresource names, policy rule names — never a namespace, object name, path or user,
 * nor a name a client invented. Gauges of what is open are computed when scraped, costing requests nothing.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CredentialStore } from '../cluster/credentials.ts';
import type { PolicyMode } from '../config/options.ts';
import type { CompletedRequest, Recorder, UpstreamErrorCause } from '../request/record.ts';
import { metricsCode, metricsDryRun, metricsScope, metricsVerb, ResourceLabeler } from './labels.ts';

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

export class Metrics implements Recorder {
  readonly registry = new Registry();
  readonly #resourceLabeler = new ResourceLabeler();
  readonly #requests: Counter;
  readonly #duration: Histogram;
  readonly #firstByte: Histogram;
  readonly #bytesFromClients: Counter;
  readonly #bytesToClients: Counter;
  readonly #upstreamErrors: Counter;
  readonly #policyDenials: Counter;
  readonly credentialReloads: Counter;
  readonly policyReloads: Counter;
  readonly auditEventsLost: Counter;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: `${PREFIX}requests_total`,
      help: "Requests by the labels of apiserver_request_total, plus the ambassador's decision.",
      labelNames: ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'code', 'dry_run', 'decision'],
      registers,
    });
    this.#duration = new Histogram({
      name: `${PREFIX}request_duration_seconds`,
      help: 'Time from receiving a request to the end of its response; watches and streams last as long as they are open.',
      labelNames: ['verb', 'group', 'resource'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#firstByte = new Histogram({
      name: `${PREFIX}long_running_first_byte_seconds`,
      help: 'Time until the API server starts answering a long-running request (watch, log, exec, attach, port-forward, proxy).',
      labelNames: ['verb', 'resource'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#bytesFromClients = new Counter({
      name: `${PREFIX}received_bytes_total`,
      help: 'Bytes received from local clients (requests and streams).',
      registers,
    });
    this.#bytesToClients = new Counter({
      name: `${PREFIX}sent_bytes_total`,
      help: 'Bytes sent to local clients (responses and streams).',
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: `${PREFIX}upstream_errors_total`,
      help: 'Requests the API server did not answer, by cause.',
      labelNames: ['cause'],
      registers,
    });
    this.#policyDenials = new Counter({
      name: `${PREFIX}policy_denials_total`,
      help: 'Requests the allow-list refused (mode "enforce") or would have refused (mode "log"), by the rule whose condition failed ("" when no rule covered them).',
      labelNames: ['rule', 'mode'],
      registers,
    });
    this.credentialReloads = new Counter({
      name: `${PREFIX}credential_reloads_total`,
      help: 'Reloads of the API server credentials (token, CA, kubeconfig), by result.',
      labelNames: ['result'],
      registers,
    });
    this.policyReloads = new Counter({
      name: `${PREFIX}policy_reloads_total`,
      help: 'Changed policy files read, by result (an invalid one is not applied).',
      labelNames: ['result'],
      registers,
    });
    this.auditEventsLost = new Counter({
      name: `${PREFIX}audit_events_lost_total`,
      help: 'Audit events not written: "dropped" while the sink was too slow, "sink_error" once it failed.',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: `${PREFIX}credential_expiry_seconds`,
      help: 'Seconds until the credentials in use expire (negative once expired); absent when their expiry cannot be read.',
      registers,
      collect() {
        const expiresAt = sources.credentials.current.expiresAt;
        // prom-client resets a gauge without labels to 0, which reads as "expired now": remove the sample instead.
        if (expiresAt === undefined) this.remove();
        else this.set((expiresAt - Date.now()) / 1000);
      },
    });
    new Gauge({
      name: `${PREFIX}requests_in_flight`,
      help: 'Requests being served now, long-running ones included.',
      registers,
      collect() {
        this.set(sources.inFlight.count);
      },
    });
    new Gauge({
      name: `${PREFIX}long_running_requests`,
      help: 'Open long-running requests by kind: watch, log, exec, attach, portforward, proxy.',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [kind, count] of sources.inFlight.longRunningByKind()) this.set({ kind }, count);
      },
    });
    new Gauge({
      name: `${PREFIX}upstream_http2_connections`,
      help: 'HTTP/2 connections open to the API server, ones finishing their streams after a GOAWAY or a CA change included.',
      registers,
      collect() {
        this.set(sources.upstream.http2Connections);
      },
    });
    new Gauge({
      name: `${PREFIX}build_info`,
      help: "The ambassador's version and the Node.js it runs on.",
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: sources.version, node_version: process.version }, 1);
    // The event-loop delay histogram samples with a timer: prom-client's 10 ms wakes an idle sidecar
    // 100 times a second (most of its idle CPU); 100 ms still catches the stalls that matter.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    // Gauges named like counters: promtool rejects them, and nodejs_active_{handles,requests,resources} carry the same.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
  }

  requestCompleted(request: CompletedRequest): void {
    const { attributes } = request;
    const verb = metricsVerb(request.arrival.method, attributes, request.contentType);
    const { group, version, resource, subresource } = this.#resourceLabeler.labels(
      attributes,
      request.statusCode,
      request.decision,
    );
    this.#requests.inc({
      verb,
      group,
      version,
      resource,
      subresource,
      scope: metricsScope(attributes),
      code: metricsCode(request.statusCode),
      dry_run: metricsDryRun(request.dryRun),
      decision: request.decision,
    });
    this.#duration.observe({ verb, group, resource }, (performance.now() - request.arrival.startedAt) / 1000);
    this.#bytesFromClients.inc(request.bytesFromClient);
    this.#bytesToClients.inc(request.bytesToClient);
  }

  firstByte(request: CompletedRequest): void {
    const { resource } = this.#resourceLabeler.labels(request.attributes, request.statusCode, request.decision);
    this.#firstByte.observe(
      { verb: metricsVerb(request.arrival.method, request.attributes, request.contentType), resource },
      (performance.now() - request.arrival.startedAt) / 1000,
    );
  }

  upstreamError(cause: UpstreamErrorCause): void {
    this.#upstreamErrors.inc({ cause });
  }

  /** Rule names come from the policy file: the operator's, bounded by its length. */
  policyDenied(rule: string | undefined, mode: PolicyMode): void {
    this.#policyDenials.inc({ rule: rule ?? '', mode });
  }
}
