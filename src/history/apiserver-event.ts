/**
 * Reads kube-apiserver's own audit events (audit.k8s.io/v1, k8s.io/apiserver pkg/apis/audit/v1
 * types.go): an `Event` per line as the log backend writes them, or an `EventList` per line as a
 * webhook backend posts its batches. Keeps what replaying or learning a request needs; bodies are
 * kept only for a delete, whose DeleteOptions (the `requestObject` at level Request and above) can
 * decide a `dryRun` condition. Pure.
 */
import { isRecord } from '../config/document.ts';
import { failure, success, type Result } from '../config/result.ts';

export interface ObjectRef {
  readonly resource: string;
  readonly namespace: string;
  readonly name: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly subresource: string;
}

/**
 * kube-apiserver's authorization filter (pkg/endpoints/filters/authorization.go) annotates every
 * request it decides with `allow` or `forbid`; a request refused before it (authentication,
 * impersonation) or an event written before it (RequestReceived) has none.
 */
export type AuthorizationDecision = 'allow' | 'forbid' | undefined;

export interface RecordedEvent {
  readonly auditId: string;
  readonly stage: string;
  readonly level: string;
  readonly verb: string;
  readonly requestUri: string;
  /** `user.username`: who authenticated (for a pod, its service account). */
  readonly user: string | undefined;
  /** `impersonatedUser.username`: whom the request was made as, with Impersonate-User. */
  readonly impersonatedUser: string | undefined;
  readonly objectRef: ObjectRef | undefined;
  readonly decision: AuthorizationDecision;
  readonly reason: string | undefined;
  /** A delete's DeleteOptions as the API server decoded them; undefined below level Request. */
  readonly deleteOptions: Readonly<Record<string, unknown>> | undefined;
  readonly receivedAt: string | undefined;
  readonly stageAt: string | undefined;
}

/** The events a document of the log holds, and what is wrong with those that cannot be read. */
export interface ApiServerEvents {
  readonly events: readonly RecordedEvent[];
  readonly problems: readonly string[];
}

const NO_EVENTS: ApiServerEvents = { events: [], problems: [] };

export const AUDIT_API_VERSION = 'audit.k8s.io/v1';
const DECISION_ANNOTATION = 'authorization.k8s.io/decision';
const REASON_ANNOTATION = 'authorization.k8s.io/reason';
const REQUIRED_FIELDS = ['auditID', 'stage', 'verb', 'requestURI'] as const;
const DELETE_VERBS: ReadonlySet<string> = new Set(['delete', 'deletecollection']);

/** Whether a parsed JSON document is an audit.k8s.io/v1 Event or EventList, whatever it holds. */
export function isApiServerDocument(value: Record<string, unknown>): boolean {
  return value['apiVersion'] === AUDIT_API_VERSION && (value['kind'] === 'Event' || value['kind'] === 'EventList');
}

/** One parsed JSON document of the log: an Event, an EventList, or something else, which holds none. */
export function readApiServerDocument(value: Record<string, unknown>): ApiServerEvents {
  if (!isApiServerDocument(value)) return NO_EVENTS;
  if (value['kind'] === 'Event') {
    const read = readEvent(value);
    return read.ok ? { events: [read.value], problems: [] } : { events: [], problems: [read.problem] };
  }
  const items = value['items'];
  if (!Array.isArray(items)) return { events: [], problems: ['an EventList without items'] };
  const events: RecordedEvent[] = [];
  const problems: string[] = [];
  items.forEach((item: unknown, index) => {
    const read = isRecord(item) ? readEvent(item) : failure('not a JSON object');
    if (read.ok) events.push(read.value);
    else problems.push(`items[${index}]: ${read.problem}`);
  });
  return { events, problems };
}

/** The event, or what is wrong with it. */
function readEvent(value: Record<string, unknown>): Result<RecordedEvent> {
  const missing = REQUIRED_FIELDS.filter((field) => typeof value[field] !== 'string');
  if (missing.length > 0) return failure(`an event without ${missing.join(', ')}`);
  const objectRef = value['objectRef'];
  if (
    objectRef !== undefined &&
    !(isRecord(objectRef) && typeof objectRef['resource'] === 'string' && objectRef['resource'] !== '')
  ) {
    return failure('an objectRef without a resource');
  }
  const annotations = isRecord(value['annotations']) ? value['annotations'] : {};
  const decision = annotations[DECISION_ANNOTATION];
  const verb = String(value['verb']);
  const requestObject = value['requestObject'];
  return success({
    auditId: String(value['auditID']),
    stage: String(value['stage']),
    level: optionalString(value['level']) ?? '',
    verb,
    requestUri: String(value['requestURI']),
    user: usernameOf(value['user']),
    impersonatedUser: usernameOf(value['impersonatedUser']),
    objectRef: isRecord(objectRef) ? readObjectRef(objectRef) : undefined,
    decision: decision === 'allow' || decision === 'forbid' ? decision : undefined,
    reason: optionalString(annotations[REASON_ANNOTATION]),
    deleteOptions: DELETE_VERBS.has(verb) && isRecord(requestObject) ? requestObject : undefined,
    receivedAt: optionalString(value['requestReceivedTimestamp']),
    stageAt: optionalString(value['stageTimestamp']),
  });
}

export function readObjectRef(ref: Record<string, unknown>): ObjectRef {
  const field = (key: string): string => optionalString(ref[key]) ?? '';
  return {
    resource: field('resource'),
    namespace: field('namespace'),
    name: field('name'),
    apiGroup: field('apiGroup'),
    apiVersion: field('apiVersion'),
    subresource: field('subresource'),
  };
}

function usernameOf(user: unknown): string | undefined {
  return isRecord(user) ? optionalString(user['username']) : undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
