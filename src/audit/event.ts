/**
 * Kubernetes audit events (audit.k8s.io/v1 `Event`) for requests through the ambassador, built from
 * what the request path records: the same shape cluster operators already ingest. Pure.
 * `user` is the ambassador's own identity (read from its token's claims, never the token);
 * the local caller appears only as `sourceIPs` and `userAgent`.
 */
import type { UserInfo } from '../cluster/credentials.ts';
import type { CompletedRequest } from '../proxy/recorder.ts';

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

export interface AuditEvent {
  readonly kind: 'Event';
  readonly apiVersion: 'audit.k8s.io/v1';
  readonly level: AuditLevel;
  readonly auditID: string;
  readonly stage: AuditStage;
  readonly requestURI: string;
  readonly verb: string;
  readonly user: UserInfo;
  readonly sourceIPs: readonly string[];
  readonly userAgent?: string;
  readonly objectRef?: Readonly<Record<string, string>>;
  readonly responseStatus?: { readonly metadata: Record<string, never>; readonly code: number; readonly status?: string; readonly message?: string };
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
  readonly annotations: Readonly<Record<string, string>>;
}

const UNKNOWN_USER: UserInfo = { username: 'unknown' };

/** Whether a request is audited at all at `level` (None, or a probe or metrics path). */
export function isAudited(level: AuditLevel, request: CompletedRequest): boolean {
  if (level === 'None') return false;
  const attributes = request.attributes;
  return attributes === undefined || attributes.isResourceRequest || !UNAUDITED_PATHS.has(attributes.path);
}

/** Microsecond-precision RFC 3339, as kube-apiserver writes audit timestamps. */
function timestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/Z$/, '000Z');
}

export function auditEvent(stage: AuditStage, request: CompletedRequest, user: UserInfo | undefined, now: number): AuditEvent {
  const { attributes } = request;
  const objectRef =
    attributes?.isResourceRequest === true
      ? withoutEmpty({
          resource: attributes.resource,
          namespace: attributes.namespace,
          name: attributes.name,
          apiGroup: attributes.apiGroup,
          apiVersion: attributes.apiVersion,
          subresource: attributes.subresource,
        })
      : undefined;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: request.auditId,
    stage,
    requestURI: request.requestUri,
    verb: attributes?.verb ?? request.method.toLowerCase(),
    user: user ?? UNKNOWN_USER,
    sourceIPs: request.sourceIp === undefined ? [] : [request.sourceIp],
    ...(request.userAgent === undefined ? {} : { userAgent: request.userAgent }),
    ...(objectRef === undefined ? {} : { objectRef }),
    ...(stage === 'ResponseStarted'
      ? {}
      : {
          responseStatus: {
            metadata: {},
            code: request.statusCode,
            ...(request.statusCode >= 400 ? { status: 'Failure', ...(request.reason === undefined ? {} : { message: request.reason }) } : {}),
          },
        }),
    requestReceivedTimestamp: timestamp(request.receivedAt),
    stageTimestamp: timestamp(now),
    annotations: withoutEmpty({
      [AUDIT_ANNOTATIONS.decision]: request.decision,
      [AUDIT_ANNOTATIONS.reason]: request.reason ?? '',
      [AUDIT_ANNOTATIONS.clientAuditId]: request.clientAuditId ?? '',
    }),
  };
}

function withoutEmpty(fields: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== '') kept[key] = value;
  return kept;
}
