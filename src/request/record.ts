/**
 * What the request path reports when a request ends (and when a long-running one starts), and
 * to whom: metrics and the audit log implement `Recorder`; which ones run is decided once at start.
 */
import type { AuditLevel, AuditStage } from '../config/kinds.ts';
import type { PolicyMode } from '../config/options.ts';
import type { RequestAttributes } from './attributes.ts';
import type { BodyCapture } from './body-capture.ts';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** What the audit log does with one request: the matched rule's level and options. */
export interface AuditVerdict {
  readonly level: AuditLevel;
  readonly omitStages: ReadonlySet<AuditStage>;
  /** Remove `metadata.managedFields` from logged bodies. */
  readonly omitManagedFields: boolean;
}

/** Why a request to the API server failed, as the upstream error metric labels it. */
export type UpstreamErrorCause = 'connect_refused' | 'dns' | 'unreachable' | 'tls' | 'reset' | 'timeout' | 'other';

/** nginx's code for "the client closed the connection before the response started", used in metrics. */
export const CLIENT_CLOSED_REQUEST = 499;

/** What happened to a request at the ambassador's own gate. */
export type Decision = 'allow' | 'deny' | 'would_deny' | 'invalid' | 'throttled';

/** What is known of a request the moment it arrives. */
export interface Arrival {
  readonly method: string;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** Epoch ms when the request arrived. */
  readonly receivedAt: number;
  /** The ID sent to the API server as `Audit-ID`, so its audit log joins ours. */
  readonly auditId: string;
  /** The request target as the client sent it. */
  readonly requestUri: string;
  readonly userAgent: string | undefined;
  readonly sourceIp: string | undefined;
  /** An `Audit-ID` the client sent (replaced upstream by `auditId`). */
  readonly clientAuditId: string | undefined;
  /** The ambassador's span for the request, when tracing is on. */
  readonly span?: RequestSpan | undefined;
}

/**
 * The ambassador's own span for one request, between the client's trace context and the API
 * server. Implemented in src/tracing/otel.ts, which is loaded only when tracing is on.
 */
export interface RequestSpan {
  readonly traceId: string;
  /** The W3C trace context sent upstream in place of the client's: its trace, with this span as the parent. */
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  /** Ends the span with what became of the request. */
  end(request: CompletedRequest): void;
}

export interface Tracing {
  /** Starts the span of a request that just arrived: a child of its `traceparent`, when that is valid. */
  startSpan(req: IncomingMessage): RequestSpan;
}

export function arrivalOf(req: IncomingMessage, tracing: Tracing | undefined): Arrival {
  return {
    method: req.method ?? '',
    startedAt: performance.now(),
    receivedAt: Date.now(),
    auditId: randomUUID(),
    requestUri: req.url ?? '',
    userAgent: req.headers['user-agent'],
    sourceIp: req.socket.remoteAddress,
    clientAuditId: req.headers['audit-id'] as string | undefined,
    span: tracing?.startSpan(req),
  };
}

/** One request as the recorders read it when it ends; a forwarded exchange satisfies this. */
export interface CompletedRequest {
  readonly arrival: Arrival;
  /** Undefined when the request target could not be parsed. */
  readonly attributes: RequestAttributes | undefined;
  readonly query: string;
  /** Whether the API server carries it out as a dry run (query or DeleteOptions, as it reads them). */
  readonly dryRun: boolean;
  readonly contentType: string | undefined;
  readonly statusCode: number;
  readonly decision: Decision;
  /** Why the ambassador refused (or, in log mode, would have refused) the request. */
  readonly reason: string | undefined;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  /** What the audit policy chose for the request. */
  readonly audit: AuditVerdict;
  /** The bodies as they went by, when the audit level asks for them. */
  readonly requestBody?: BodyCapture | undefined;
  readonly responseBody?: BodyCapture | undefined;
  /** The ambassador itself failed while handling the request (the audit stage Panic). */
  readonly panicked?: boolean;
}

export interface Recorder {
  requestCompleted(request: CompletedRequest): void;
  /** A long-running request got its response headers (or its upgrade). */
  firstByte(request: CompletedRequest): void;
  upstreamError(cause: UpstreamErrorCause): void;
  policyDenied(rule: string | undefined, mode: PolicyMode): void;
}

export const NO_RECORDER: Recorder = {
  requestCompleted: () => undefined,
  firstByte: () => undefined,
  upstreamError: () => undefined,
  policyDenied: () => undefined,
};

/** One recorder that reports to each of `recorders` (none: the no-op one). */
export function combineRecorders(recorders: readonly Recorder[]): Recorder {
  if (recorders.length === 0) return NO_RECORDER;
  if (recorders.length === 1 && recorders[0] !== undefined) return recorders[0];
  return {
    requestCompleted: (request) => recorders.forEach((recorder) => recorder.requestCompleted(request)),
    firstByte: (request) => recorders.forEach((recorder) => recorder.firstByte(request)),
    upstreamError: (cause) => recorders.forEach((recorder) => recorder.upstreamError(cause)),
    policyDenied: (rule, mode) => recorders.forEach((recorder) => recorder.policyDenied(rule, mode)),
  };
}
