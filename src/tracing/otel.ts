/**
 * Request tracing with OpenTelemetry: each request gets a span, the child of the client's W3C
 * `traceparent` when it sent a valid one, and the parent of what the API server records (its
 * `traceparent` names this span). Spans are exported in batches over OTLP/HTTP (protobuf).
 * main.ts imports this module only when --tracing-endpoint is set: with tracing off, no
 * OpenTelemetry code is loaded and the request path only checks for an absent span.
 */
import type { IncomingMessage } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type DiagLogger,
  type Span,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import { PER_MILLION } from '../config/values.ts';
import type { CompletedRequest, Recorder, RequestSpan, Tracing } from '../request/record.ts';

const SERVICE_NAME = 'kube-api-ambassador';
/** At shutdown, how long a collector that is not answering gets to take the last spans. */
const SHUTDOWN_TIMEOUT_MS = 2000;
/** The ambassador serves the request; its call to the API server is the same operation, not a span of its own. */
const SPAN_OPTIONS: SpanOptions = { kind: SpanKind.SERVER };

export interface TracingSettings {
  /** OTLP/HTTP traces URL (`--tracing-endpoint`). */
  readonly endpoint: string;
  readonly samplingRatePerMillion: number;
  readonly version: string;
}

/**
 * Kubernetes' sampler for its TracingConfiguration (NewProvider, k8s.io/component-base/tracing/utils.go):
 * a sampled parent is always followed; without one, a rate of 0 never samples, else that share of traces.
 */
export function samplerFor(samplingRatePerMillion: number): Sampler {
  const root =
    samplingRatePerMillion > 0
      ? new TraceIdRatioBasedSampler(samplingRatePerMillion / PER_MILLION)
      : new AlwaysOffSampler();
  return new ParentBasedSampler({ root });
}

/** Low-cardinality span names: `list pods`, `get pods/log`, `get /version`; the method alone when the target was not understood. */
export function spanName(request: CompletedRequest): string {
  const { attributes } = request;
  if (attributes === undefined) return request.arrival.method;
  if (!attributes.isResourceRequest) return `${attributes.verb} ${attributes.path}`;
  return attributes.subresource === ''
    ? `${attributes.verb} ${attributes.resource}`
    : `${attributes.verb} ${attributes.resource}/${attributes.subresource}`;
}

/** What the span carries: the request as the API server names it, the ambassador's decision and the answer. */
export function spanAttributes(request: CompletedRequest): Attributes {
  const { attributes, arrival } = request;
  const spanAttributes: Attributes = {
    'http.request.method': arrival.method,
    'http.response.status_code': request.statusCode,
    'kube_api_ambassador.decision': request.decision,
    'kube_api_ambassador.audit_id': arrival.auditId,
  };
  if (request.reason !== undefined) spanAttributes['kube_api_ambassador.reason'] = request.reason;
  if (attributes !== undefined) {
    spanAttributes['k8s.request.verb'] = attributes.verb;
    if (attributes.isResourceRequest) {
      spanAttributes['k8s.request.resource'] = attributes.resource;
      if (attributes.subresource !== '') spanAttributes['k8s.request.subresource'] = attributes.subresource;
      if (attributes.namespace !== '') spanAttributes['k8s.request.namespace'] = attributes.namespace;
      if (attributes.name !== '') spanAttributes['k8s.request.name'] = attributes.name;
      if (attributes.apiGroup !== '') spanAttributes['k8s.request.api_group'] = attributes.apiGroup;
    } else {
      spanAttributes['url.path'] = attributes.path;
    }
  }
  return spanAttributes;
}

/** As for HTTP server spans: a 5xx is the server's error, a 4xx the client's (the span's status stays unset). */
export function isSpanError(request: CompletedRequest): boolean {
  return request.statusCode >= 500 || request.panicked === true;
}

/** The SDK's own warnings (spans dropped past the batch queue, an invalid OTEL_* variable) go to the operational log. */
function diagLogger(log: Logger): DiagLogger {
  const ignore = (): void => undefined;
  return {
    error: (message) => log.error({ component: 'opentelemetry' }, message),
    warn: (message) => log.warn({ component: 'opentelemetry' }, message),
    info: ignore,
    debug: ignore,
    verbose: ignore,
  };
}

class OtelRequestSpan implements RequestSpan {
  readonly #span: Span;
  readonly traceId: string;
  readonly traceparent: string;
  readonly tracestate: string | undefined;

  constructor(span: Span, upstreamContext: Readonly<Record<string, string>>) {
    this.#span = span;
    this.traceId = span.spanContext().traceId;
    this.traceparent = upstreamContext['traceparent'] ?? '';
    this.tracestate = upstreamContext['tracestate'];
  }

  end(request: CompletedRequest): void {
    const span = this.#span;
    if (span.isRecording()) {
      span.updateName(spanName(request));
      span.setAttributes(spanAttributes(request));
      if (isSpanError(request)) span.setStatus({ code: SpanStatusCode.ERROR, message: request.reason ?? '' });
    }
    span.end();
  }
}

/** Starts request spans and, as a recorder, ends them when their request ends. */
export class OtelTracing implements Tracing, Recorder {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator = new W3CTraceContextPropagator();
  readonly #log: Logger;

  constructor(settings: TracingSettings, log: Logger) {
    this.#log = log;
    diag.setLogger(diagLogger(log), DiagLogLevel.WARN);
    // The SDK reports failed exports here (after the exporter's own retries); by default it says nothing.
    setGlobalErrorHandler((error) =>
      log.warn({ err: error, endpoint: settings.endpoint }, 'cannot export request spans'),
    );
    this.#provider = new BasicTracerProvider({
      // OTEL_RESOURCE_ATTRIBUTES (k8s.pod.name from the downward API, say) and OTEL_SERVICE_NAME win over the defaults.
      resource: defaultResource()
        .merge(resourceFromAttributes({ 'service.name': SERVICE_NAME, 'service.version': settings.version }))
        .merge(detectResources({ detectors: [envDetector] })),
      sampler: samplerFor(settings.samplingRatePerMillion),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint }))],
    });
    this.#tracer = this.#provider.getTracer(SERVICE_NAME, settings.version);
  }

  startSpan(req: IncomingMessage): RequestSpan {
    const parent = this.#propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
    const span = this.#tracer.startSpan(req.method ?? 'HTTP', SPAN_OPTIONS, parent);
    const upstreamContext: Record<string, string> = {};
    this.#propagator.inject(trace.setSpan(parent, span), upstreamContext, defaultTextMapSetter);
    return new OtelRequestSpan(span, upstreamContext);
  }

  requestCompleted(request: CompletedRequest): void {
    request.arrival.span?.end(request);
  }

  firstByte(): void {
    // A span covers the whole request; its first byte is not an event of its own.
  }

  upstreamError(): void {
    // The span's status, set when it ends, carries the error.
  }

  policyDenied(): void {
    // The span's attributes, set when it ends, carry the decision.
  }

  /** Exports the spans still buffered; a collector that fails or does not answer neither fails nor holds up shutdown. */
  async shutdown(): Promise<void> {
    const exported = this.#provider
      .shutdown()
      .catch((error: unknown) => this.#log.warn({ err: error }, 'cannot export the last request spans'));
    await Promise.race([exported, delay(SHUTDOWN_TIMEOUT_MS, undefined, { ref: false })]);
  }
}
