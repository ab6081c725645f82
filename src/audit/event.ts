/**
 * Kubernetes audit events (audit.k8s.io/v1 `Event`) for requests through the ambassador, built from
 * what the request path records: the same shape cluster operators already ingest. Pure.
 * `user` is the ambassador's own identity (read from its token's claims, never the token);
 * the local caller appears only as `sourceIPs` and `userAgent`.
 */
import type { UserInfo } from '../cluster/credentials.ts';
import type { CompletedRequest } from '../proxy/recorder.ts';
import type { RequestAttributes } from '../request/attributes.ts';

export type AuditStage = 'ResponseStarted' | 'ResponseComplete' | 'Panic';
export type AuditLevel = 'None' | 'Metadata';

/** Annotation keys, namespaced as Kubernetes annotations are. */
export const AUDIT_ANNOTATIONS = {
  decision: 'kube-api-ambassador/decision',
  reason: 'kube-api-ambassador/reason',
  clientAuditId: 'kube-api-ambassador/client-audit-id',
} as const;

/** Non-resource paths not audited by default: probes and metrics, as clusters' audit policies do. */
const UNAUDITED_PATHS = new Set(['/healthz', '/livez', '/readyz', '/metrics']);

const UNKNOWN_USER: UserInfo = { username: 'unknown' };

/** Whether a request is audited at all at `level` (None, or a probe or metrics path). */
export function isAudited(level: AuditLevel, request: CompletedRequest): boolean {
  if (level === 'None') return false;
  const attributes = request.attributes;
  return attributes === undefined || attributes.isResourceRequest || !UNAUDITED_PATHS.has(attributes.path);
}

/** Microsecond-precision RFC 3339, as kube-apiserver writes audit timestamps. */
function timestamp(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return `${iso.slice(0, -1)}000Z`;
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
export function auditLine(stage: AuditStage, request: CompletedRequest, user: UserInfo | undefined, now: number): string {
  const { attributes, arrival } = request;
  let line =
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":' +
    JSON.stringify(arrival.auditId) +
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
  line += `,"requestReceivedTimestamp":"${timestamp(arrival.receivedAt)}","stageTimestamp":"${timestamp(now)}"`;
  line += `,"annotations":{"${AUDIT_ANNOTATIONS.decision}":"${request.decision}"`;
  if (request.reason !== undefined) line += `,"${AUDIT_ANNOTATIONS.reason}":${JSON.stringify(request.reason)}`;
  if (arrival.clientAuditId !== undefined) line += `,"${AUDIT_ANNOTATIONS.clientAuditId}":${JSON.stringify(arrival.clientAuditId)}`;
  return `${line}}}\n`;
}
