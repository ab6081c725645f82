/**
 * A recorded request, resolved by the code that resolves live requests (`resolveTarget`), so that
 * what is learned from or replayed against an audit log is what the ambassador would decide on.
 * An audit event does not record the HTTP method: it is the one that gives the recorded verb
 * (requestinfo.go maps GET to get/list/watch, POST to create, PUT to update, PATCH to patch,
 * DELETE to delete/deletecollection; for a non-resource URL the verb is the lower-case method,
 * audit/v1 types.go). The target is `requestURI`, which the API server records as the client sent it.
 */
import type { RecordedEvent } from './apiserver-event.ts';
import { isStreamingSubresource, type RequestAttributes } from '../request/attributes.ts';
import { failure, success, type Result } from '../config/result.ts';
import { resolveTarget, type RequestContent, type ResolvedRequest } from '../request/resolve.ts';
import { describeRequest } from '../policy/policy.ts';

export interface RecordedRequest {
  readonly request: ResolvedRequest;
  /** exec, attach or port-forward: decided for `create` too, as an upgrade is. */
  readonly isUpgrade: boolean;
  /** How the attributes resolved from requestURI differ from the event's verb and objectRef, if they do. */
  readonly mismatch: string | undefined;
}

const METHOD_OF_VERB: ReadonlyMap<string, string> = new Map([
  ['get', 'GET'],
  ['list', 'GET'],
  ['watch', 'GET'],
  ['proxy', 'GET'],
  ['create', 'POST'],
  ['update', 'PUT'],
  ['patch', 'PATCH'],
  ['delete', 'DELETE'],
  ['deletecollection', 'DELETE'],
]);
const OBJECT_REF_FIELDS = ['apiGroup', 'apiVersion', 'namespace', 'resource', 'subresource', 'name'] as const;

/** The method that gives the event's verb; undefined for a verb no HTTP method gives. */
export function methodOf(event: Pick<RecordedEvent, 'verb' | 'objectRef'>): string | undefined {
  if (event.objectRef === undefined) return event.verb === '' ? undefined : event.verb.toUpperCase();
  return METHOD_OF_VERB.get(event.verb);
}

/** The request the event records, or why the ambassador would refuse it with 400. */
export function resolveRecorded(event: RecordedEvent): Result<RecordedRequest> {
  const method = methodOf(event);
  if (method === undefined) return failure(`no HTTP method gives the verb ${JSON.stringify(event.verb)}`);
  const resolved = resolveTarget(method, event.requestUri, contentOf(event));
  if (!resolved.ok) return failure(resolved.problem.message);
  const request = resolved.value;
  return success({
    request,
    isUpgrade: isStreamingSubresource(request.attributes),
    mismatch: mismatchOf(event, request.attributes),
  });
}

/** A delete's DeleteOptions, when the event holds them (level Request and above), as the JSON body they were. */
function contentOf(event: RecordedEvent): RequestContent | undefined {
  if (event.deleteOptions === undefined) return undefined;
  return {
    contentType: 'application/json',
    contentEncoding: undefined,
    bytes: Buffer.from(JSON.stringify(event.deleteOptions)),
  };
}

function mismatchOf(event: RecordedEvent, attributes: RequestAttributes): string | undefined {
  const ref = event.objectRef;
  const same =
    event.verb === attributes.verb &&
    (ref === undefined
      ? !attributes.isResourceRequest
      : attributes.isResourceRequest && OBJECT_REF_FIELDS.every((field) => ref[field] === attributes[field]));
  if (same) return undefined;
  const recorded: RequestAttributes =
    ref === undefined
      ? { ...attributes, isResourceRequest: false, verb: event.verb }
      : { ...attributes, ...ref, isResourceRequest: true, verb: event.verb };
  return `the API server recorded ${describeRequest(recorded)}; the ambassador resolves ${describeRequest(attributes)}`;
}

/**
 * The verbs `decideRequest` checks: the request's own, and `create` for an upgrade or a write
 * that may create its object. A learned rule must allow all of them.
 */
export function decidedVerbs(recorded: Omit<RecordedRequest, 'mismatch'>): readonly string[] {
  const { verb } = recorded.request.attributes;
  return (recorded.isUpgrade || recorded.request.mayCreate) && verb !== 'create' ? [verb, 'create'] : [verb];
}
