/**
 * kube-apiserver audit events (audit.k8s.io/v1 Event, k8s.io/apiserver pkg/apis/audit/v1/types.go)
 * with every field the log backend writes at level Metadata: a service account's UserInfo with its
 * groups and extra, sourceIPs, userAgent, objectRef, responseStatus, microsecond timestamps and the
 * authorization filter's annotations.
 */
import type { RequestAttributes } from '../../src/request/attributes.ts';
import { resolveTarget } from '../../src/request/resolve.ts';

export const SERVICE_ACCOUNT = 'system:serviceaccount:team-a:analytics';

export interface EventSpec {
  readonly verb: string;
  readonly uri: string;
  /** The objectRef the API server records; omitted for a non-resource URL. */
  readonly objectRef?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly stage?: 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';
  /** null: no decision annotation (refused before authorization, or RequestReceived). */
  readonly decision?: 'allow' | 'forbid' | null;
  readonly impersonatedUser?: string;
  readonly level?: 'Metadata' | 'Request' | 'RequestResponse';
  readonly requestObject?: Readonly<Record<string, unknown>>;
  readonly id?: string;
  readonly code?: number;
  /** requestReceivedTimestamp and stageTimestamp, microseconds. */
  readonly at?: readonly [received: string, stage: string];
}

let nextId = 0;

export function apiServerEvent(spec: EventSpec): Record<string, unknown> {
  const user = spec.user ?? SERVICE_ACCOUNT;
  const [, , namespace = '', name = ''] = user.split(':');
  const decision = spec.decision === undefined ? 'allow' : spec.decision;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: spec.level ?? 'Metadata',
    auditID: spec.id ?? `5b0e6d2a-8f3c-4c1e-9a7d-${String(nextId++).padStart(12, '0')}`,
    stage: spec.stage ?? 'ResponseComplete',
    requestURI: spec.uri,
    verb: spec.verb,
    user: user.startsWith('system:serviceaccount:')
      ? serviceAccountUser(user, namespace, name)
      : { username: user, groups: ['kubeadm:cluster-admins', 'system:authenticated'] },
    ...(spec.impersonatedUser === undefined
      ? {}
      : { impersonatedUser: { username: spec.impersonatedUser, groups: ['system:authenticated'] } }),
    sourceIPs: ['10.244.1.17'],
    userAgent: 'analytics/1.4.2 (linux/amd64) kubernetes/client-node',
    ...(spec.objectRef === undefined ? {} : { objectRef: spec.objectRef }),
    ...(spec.stage === 'RequestReceived'
      ? {}
      : { responseStatus: { metadata: {}, code: spec.code ?? (decision === 'forbid' ? 403 : 200) } }),
    ...(spec.requestObject === undefined ? {} : { requestObject: spec.requestObject }),
    requestReceivedTimestamp: spec.at?.[0] ?? '2026-11-30T09:14:02.118204Z',
    stageTimestamp: spec.at?.[1] ?? '2026-11-30T09:14:02.121977Z',
    ...(decision === null
      ? {}
      : {
          annotations: {
            'authorization.k8s.io/decision': decision,
            'authorization.k8s.io/reason':
              decision === 'allow'
                ? `RBAC: allowed by RoleBinding "${name}/${namespace}" of Role "${name}" to ServiceAccount "${name}/${namespace}"`
                : '',
          },
        }),
  };
}

/** A service account's UserInfo as the token authenticator fills it for a bound token. */
function serviceAccountUser(username: string, namespace: string, name: string): Record<string, unknown> {
  return {
    username,
    uid: '0d3f9a4e-4b1c-4e55-8c51-2f4d1e6b7a10',
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
    extra: {
      'authentication.kubernetes.io/credential-id': ['JTI=9c1b7f0e-1a2b-4c3d-8e4f-5a6b7c8d9e0f'],
      'authentication.kubernetes.io/node-name': ['node-1'],
      'authentication.kubernetes.io/pod-name': [`${name}-7d9c6b5f4-x2k8q`],
    },
  };
}

export function apiServerLine(spec: EventSpec): string {
  return JSON.stringify(apiServerEvent(spec));
}

/** The verb kube-apiserver records for METHOD TARGET, and its objectRef (from its requestinfo.go, as resolve.ts mirrors it). */
export function recordedAs(method: string, uri: string): Pick<EventSpec, 'verb' | 'uri' | 'objectRef'> {
  const resolved = resolveTarget(method, uri);
  const attributes = resolved.ok ? resolved.value.attributes : resolved.problem.attributes;
  if (attributes === undefined) throw new Error(`${uri} does not parse`);
  if (!attributes.isResourceRequest) return { verb: attributes.verb, uri };
  return { verb: attributes.verb, uri, objectRef: objectRefOf(attributes) };
}

const OBJECT_REF_FIELDS = ['resource', 'namespace', 'name', 'apiGroup', 'apiVersion', 'subresource'] as const;

/** A resource request's objectRef: the fields of its attributes that are set, under the names audit.ObjectReference gives them. */
export function objectRefOf(attributes: RequestAttributes): Record<string, string> {
  return Object.fromEntries(
    OBJECT_REF_FIELDS.map((field): [string, string] => [field, attributes[field]]).filter(([, value]) => value !== ''),
  );
}
