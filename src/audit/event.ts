/**
 * Kubernetes audit events (audit.k8s.io/v1 `Event`) for requests through the ambassador, built from
 * what the request path records: the same shape cluster operators already ingest. Pure.
 * `user` is the ambassador's own identity (read from its token's claims, never the token);
 * the local caller appears only as `sourceIPs` and `userAgent`.
 */
import type { UserInfo } from '../cluster/credentials.ts';
import type { CompletedRequest } from '../request/record.ts';
import type { RequestAttributes } from '../request/attributes.ts';
import type { AuditStage } from '../config/kinds.ts';
import { loggedBody } from './redact.ts';

/** Annotation keys, namespaced as Kubernetes annotations are. */
export const AUDIT_ANNOTATIONS = {
  decision: 'kube-api-ambassador/decision',
  reason: 'kube-api-ambassador/reason',
  clientAuditId: 'kube-api-ambassador/client-audit-id',
  /** Present ("true") when the API server carries the write out as a dry run: dryRun=All in the query, or a delete's DeleteOptions body. */
  dryRun: 'kube-api-ambassador/dry-run',
  /** The W3C trace the request was sent upstream in, when tracing is on. */
  traceId: 'kube-api-ambassador/trace-id',
  /** Why a body the level asks for is not in the event. */
  requestObject: 'kube-api-ambassador/request-object',
  responseObject: 'kube-api-ambassador/response-object',
  /** kube-apiserver's own mark for an event whose bodies were dropped for size. */
  truncated: 'audit.k8s.io/truncated',
} as const;

const UNKNOWN_USER: UserInfo = { username: 'unknown' };

/** The formatted second of the last timestamp: events come many to a second, and toISOString is dear. */
let cachedSecond = Number.NaN;
let cachedSecondPrefix = '';

/** Microsecond-precision RFC 3339, as kube-apiserver writes audit timestamps. */
function timestamp(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedSecondPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const ms = epochMs - second * 1000;
  return `${cachedSecondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}000Z`;
}

/** The same identity object comes with every request until credentials rotate: serialize it once. */
const USER_JSON = new WeakMap<UserInfo, string>();

function userJson(user: UserInfo): string {
  let json = USER_JSON.get(user);
  if (json === undefined) {
    json = JSON.stringify(user);
    USER_JSON.set(user, json);
  }
  return json;
}

/** `objectRef` with only its non-empty fields, in the API's order. */
function objectRefJson(attributes: RequestAttributes): string {
  let json = `"resource":${JSON.stringify(attributes.resource)}`;
  if (attributes.namespace !== '') json += `,"namespace":${JSON.stringify(attributes.namespace)}`;
  if (attributes.name !== '') json += `,"name":${JSON.stringify(attributes.name)}`;
  if (attributes.apiGroup !== '') json += `,"apiGroup":${JSON.stringify(attributes.apiGroup)}`;
  if (attributes.apiVersion !== '') json += `,"apiVersion":${JSON.stringify(attributes.apiVersion)}`;
  if (attributes.subresource !== '') json += `,"subresource":${JSON.stringify(attributes.subresource)}`;
  return `{${json}}`;
}

/**
 * One audit event as a JSON line. Built as a string, as pino builds its lines: assembling and
 * stringifying an object per request cost a measurable share of the proxy's CPU (npm run bench:audit).
 */
export function auditLine(
  stage: AuditStage,
  request: CompletedRequest,
  user: UserInfo | undefined,
  now: number,
): string {
  const { attributes, arrival, audit } = request;
  let line =
    // The audit ID is the ambassador's own UUID: nothing in it to escape.
    `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"${audit.level}","auditID":"${arrival.auditId}"` +
    `,"stage":"${stage}","requestURI":` +
    JSON.stringify(arrival.requestUri) +
    ',"verb":' +
    JSON.stringify(attributes?.verb ?? arrival.method.toLowerCase()) +
    ',"user":' +
    userJson(user ?? UNKNOWN_USER) +
    ',"sourceIPs":' +
    (arrival.sourceIp === undefined ? '[]' : `[${JSON.stringify(arrival.sourceIp)}]`);
  if (arrival.userAgent !== undefined) line += `,"userAgent":${JSON.stringify(arrival.userAgent)}`;
  if (attributes?.isResourceRequest === true) line += `,"objectRef":${objectRefJson(attributes)}`;
  if (stage !== 'ResponseStarted') {
    line += `,"responseStatus":{"metadata":{},"code":${request.statusCode}`;
    if (request.statusCode >= 400) {
      line += ',"status":"Failure"';
      if (request.reason !== undefined) line += `,"message":${JSON.stringify(request.reason)}`;
    }
    line += '}';
  }
  const bodies =
    request.requestBody === undefined && request.responseBody === undefined ? undefined : bodiesJson(request);
  if (bodies !== undefined) line += bodies.fields;
  line += `,"requestReceivedTimestamp":"${timestamp(arrival.receivedAt)}","stageTimestamp":"${timestamp(now)}"`;
  line += `,"annotations":{"${AUDIT_ANNOTATIONS.decision}":"${request.decision}"`;
  if (request.reason !== undefined) line += `,"${AUDIT_ANNOTATIONS.reason}":${JSON.stringify(request.reason)}`;
  if (arrival.clientAuditId !== undefined)
    line += `,"${AUDIT_ANNOTATIONS.clientAuditId}":${JSON.stringify(arrival.clientAuditId)}`;
  if (request.dryRun) line += `,"${AUDIT_ANNOTATIONS.dryRun}":"true"`;
  if (arrival.span !== undefined) line += `,"${AUDIT_ANNOTATIONS.traceId}":"${arrival.span.traceId}"`;
  return `${line}${bodies?.annotations ?? ''}}}\n`;
}

/**
 * `requestObject` and `responseObject` for the bodies captured (the request path captures only
 * what the audit level asks for), or annotations saying why one is left out.
 */
function bodiesJson(request: CompletedRequest): { fields: string; annotations: string } {
  let fields = '';
  let annotations = '';
  let truncated = false;
  const captures = [
    ['requestObject', request.requestBody, AUDIT_ANNOTATIONS.requestObject, undefined],
    ['responseObject', request.responseBody, AUDIT_ANNOTATIONS.responseObject, request],
  ] as const;
  for (const [field, capture, annotation, answering] of captures) {
    if (capture === undefined) continue;
    const body = loggedBody(capture, request.attributes, request.audit.omitManagedFields, answering);
    if ('json' in body) fields += `,"${field}":${body.json}`;
    else {
      annotations += `,"${annotation}":${JSON.stringify(`omitted: ${body.omitted}`)}`;
      truncated ||= body.truncated === true;
    }
  }
  if (truncated) annotations += `,"${AUDIT_ANNOTATIONS.truncated}":"true"`;
  return { fields, annotations };
}
