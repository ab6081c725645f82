/**
 * Prometheus metrics, in a private registry served on the probes listener. Labels come only from
 * closed or capped sets: Kubernetes verbs, codes and decisions, the API's own group/resource names
 * (capped, since a client can invent paths), policy rule names — never a namespace, object name,
 * path or user. Gauges of what is open are computed when scraped, costing requests nothing.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CredentialStore } from '../cluster/credentials.ts';
import type { InFlight } from '../proxy/in-flight.ts';
import type { CompletedRequest, Recorder } from '../proxy/recorder.ts';
import type { UpstreamErrorCause } from '../proxy/status.ts';
import type { RequestAttributes } from '../request/attributes.ts';

const PREFIX = 'kube_api_ambassador_';
/** kube-apiserver's request duration buckets (5 ms to 60 s). */
const DURATION_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
/** Distinct group/resource label pairs kept; past this, a client inventing paths lands in "other". */
export const MAX_RESOURCE_LABELS = 256;
const OTHER = 'other';
/** kube-apiserver reports requests to these subresources with the verb CONNECT. */
const CONNECT_SUBRESOURCES = new Set(['attach', 'exec', 'log', 'portforward', 'proxy']);
const METRICS_VERBS: ReadonlyMap<string, string> = new Map([
  ['get', 'GET'],
  ['list', 'LIST'],
  ['watch', 'WATCH'],
  ['create', 'POST'],
  ['update', 'PUT'],
  ['patch', 'PATCH'],
  ['delete', 'DELETE'],
  ['deletecollection', 'DELETECOLLECTION'],
  ['proxy', 'PROXY'],
]);

/** kube-apiserver's `CleanVerb`: WATCH apart from LIST, APPLY apart from PATCH, CONNECT for streams. */
export function metricsVerb(method: string, attributes: RequestAttributes | undefined, contentType: string | undefined): string {
  if (attributes === undefined || !attributes.isResourceRequest) return method;
  if (CONNECT_SUBRESOURCES.has(attributes.subresource)) return 'CONNECT';
  if (attributes.verb === 'patch' && contentType === 'application/apply-patch+yaml') return 'APPLY';
  return METRICS_VERBS.get(attributes.verb) ?? method;
}

/** kube-apiserver's `CleanScope`. */
export function metricsScope(attributes: RequestAttributes | undefined): string {
  if (attributes === undefined || !attributes.isResourceRequest) return '';
  if (attributes.name !== '' || attributes.verb === 'create') return 'resource';
  if (attributes.namespace !== '') return 'namespace';
  return 'cluster';
}

export interface MetricsSources {
  readonly version: string;
  readonly credentials: CredentialStore;
  readonly inFlight: InFlight;
  readonly upstream: { readonly http2Connections: number };
}

export class Metrics implements Recorder {
  readonly registry = new Registry();
  readonly #resourceLabels = new Set<string>();
  readonly #requests: Counter<string>;
  readonly #duration: Histogram<string>;
  readonly #firstByte: Histogram<string>;
  readonly #bytesFromClients: Counter<string>;
  readonly #bytesToClients: Counter<string>;
  readonly #upstreamErrors: Counter<string>;
  readonly #policyDenials: Counter<string>;
  readonly credentialReloads: Counter<string>;
  readonly policyReloads: Counter<string>;
  readonly auditEventsLost: Counter<string>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: `${PREFIX}requests_total`,
      help: 'Requests by the labels of apiserver_request_total, plus the ambassador\'s decision.',
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
    this.#bytesFromClients = new Counter({ name: `${PREFIX}received_bytes_total`, help: 'Bytes received from local clients (requests and streams).', registers });
    this.#bytesToClients = new Counter({ name: `${PREFIX}sent_bytes_total`, help: 'Bytes sent to local clients (responses and streams).', registers });
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
        this.reset();
        if (expiresAt !== undefined) this.set((expiresAt - Date.now()) / 1000);
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
      help: 'The ambassador\'s version and the Node.js it runs on.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: sources.version, node_version: process.version }, 1);
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters: promtool rejects them, and nodejs_active_{handles,requests,resources} carry the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  requestCompleted(request: CompletedRequest): void {
    const { attributes } = request;
    const verb = metricsVerb(request.arrival.method, attributes, request.contentType);
    const [group, resource] = this.#groupResource(attributes);
    this.#requests.inc({
      verb,
      group,
      version: attributes?.apiVersion ?? '',
      resource,
      subresource: resource === OTHER ? '' : (attributes?.subresource ?? ''),
      scope: metricsScope(attributes),
      code: request.statusCode,
      dry_run: request.dryRun ? 'All' : '',
      decision: request.decision,
    });
    this.#duration.observe({ verb, group, resource }, (performance.now() - request.arrival.startedAt) / 1000);
    this.#bytesFromClients.inc(request.bytesFromClient);
    this.#bytesToClients.inc(request.bytesToClient);
  }

  firstByte(request: CompletedRequest): void {
    const [, resource] = this.#groupResource(request.attributes);
    this.#firstByte.observe(
      { verb: metricsVerb(request.arrival.method, request.attributes, request.contentType), resource },
      (performance.now() - request.arrival.startedAt) / 1000,
    );
  }

  upstreamError(cause: UpstreamErrorCause): void {
    this.#upstreamErrors.inc({ cause });
  }

  policyDenied(rule: string | undefined, mode: string): void {
    this.#policyDenials.inc({ rule: rule ?? '', mode });
  }

  /** The group and resource labels; new pairs past MAX_RESOURCE_LABELS become "other". */
  #groupResource(attributes: RequestAttributes | undefined): [string, string] {
    if (attributes === undefined || !attributes.isResourceRequest) return ['', ''];
    const key = `${attributes.apiGroup}/${attributes.resource}`;
    if (!this.#resourceLabels.has(key)) {
      if (this.#resourceLabels.size >= MAX_RESOURCE_LABELS) return [OTHER, OTHER];
      this.#resourceLabels.add(key);
    }
    return [attributes.apiGroup, attributes.resource];
  }
}
