/**
 * One model of what kube-apiserver will act on: the request's attributes (requestinfo.go), its
 * canonical query, the ListOptions selectors that choose what a collection request touches, and
 * the DeleteOptions a delete carries. Every decision reads this, and what is forwarded is what it
 * was built from.
 */
import { failure, success, type Result } from '../config/result.ts';
import { resolveAttributes, type RequestAttributes } from './attributes.ts';
import { readDeleteOptions, type DeleteOptionsRead } from './delete-options.ts';
import { parseFieldSelector, parseLabelSelector, type LabelRequirement } from './selectors.ts';
import { parseRequestTarget, queryValue, type RequestTarget } from './target.ts';

/** What the request says of its body, and the body itself when it was read whole (a delete's). */
export interface RequestContent {
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
  readonly bytes?: Buffer | undefined;
}

export interface ResolvedRequest {
  readonly attributes: RequestAttributes;
  /** The canonical query (`canonicalQuery`): decided on and forwarded. */
  readonly query: string;
  /** For list, watch and deletecollection: the label selector's requirements; undefined when absent. */
  readonly labelSelector: readonly LabelRequirement[] | undefined;
  /** For delete and deletecollection: the options the API server will act on. */
  readonly deleteOptions: DeleteOptionsRead | undefined;
  /**
   * The write may create the object it names, and the API server then authorizes `create` as well
   * (handlers/patch.go and update.go, `createAuthorizerAttributes`): a server-side apply, or an
   * update of a resource whose strategy allows create on update.
   */
  readonly mayCreate: boolean;
}

/** Why a request cannot be resolved, with the attributes read before the problem (for the log). */
export interface ResolveProblem<A extends RequestAttributes | undefined = RequestAttributes> {
  readonly attributes: A;
  readonly message: string;
}

export type Resolution = Result<ResolvedRequest, ResolveProblem>;

/** The verbs whose handlers decode ListOptions, selectors included (handlers/get.go, delete.go). */
const LIST_OPTIONS_VERBS: ReadonlySet<string> = new Set(['list', 'watch', 'deletecollection']);
const DELETE_VERBS: ReadonlySet<string> = new Set(['delete', 'deletecollection']);
/** handlers/patch.go: the Content-Type up to its first ";", compared as it is, names the patch type. */
const APPLY_PATCH_TYPES: ReadonlySet<string> = new Set([
  'application/apply-patch+yaml',
  'application/apply-patch+cbor',
]);
/**
 * `group/resource` of the built-in resources whose strategy's AllowCreateOnUpdate is true, so a
 * PUT to a missing name creates it (pkg/registry/core/endpoint, core/event, core/service,
 * coordination/lease, node/runtimeclass, events.k8s.io events share core/event's strategy).
 */
const CREATE_ON_UPDATE: ReadonlySet<string> = new Set([
  '/endpoints',
  '/events',
  '/services',
  'events.k8s.io/events',
  'coordination.k8s.io/leases',
  'node.k8s.io/runtimeclasses',
]);

/**
 * Resolves a parsed request target. A selector the API server would refuse with 400 is refused
 * here too, naming the problem, rather than guessed at.
 */
export function resolveRequest(method: string, target: RequestTarget, content?: RequestContent): Resolution {
  const attributes = resolveAttributes(method, target);
  const { query } = target;
  let labelSelector: readonly LabelRequirement[] | undefined;
  if (attributes.isResourceRequest && LIST_OPTIONS_VERBS.has(attributes.verb)) {
    const labels = queryValue(query, 'labelSelector');
    if (labels !== undefined) {
      const parsed = parseLabelSelector(labels);
      if (!parsed.ok) return failure({ attributes, message: `labelSelector: ${parsed.problem}` });
      labelSelector = parsed.value;
    }
    const fields = queryValue(query, 'fieldSelector');
    if (fields !== undefined) {
      const parsed = parseFieldSelector(fields);
      if (!parsed.ok) return failure({ attributes, message: `fieldSelector: ${parsed.problem}` });
    }
  }
  const deleteOptions =
    attributes.isResourceRequest && DELETE_VERBS.has(attributes.verb)
      ? readDeleteOptions(query, content?.bytes, content?.contentType, content?.contentEncoding)
      : undefined;
  const mayCreate = mayCreateObject(attributes, content?.contentType);
  return success({ attributes, query, labelSelector, deleteOptions, mayCreate });
}

/** Whether the write may create the object it names (see `ResolvedRequest.mayCreate`). */
export function mayCreateObject(attributes: RequestAttributes, contentType: string | undefined): boolean {
  if (!attributes.isResourceRequest || attributes.subresource !== '') return false;
  if (attributes.verb === 'patch') {
    const separator = contentType?.indexOf(';') ?? -1;
    return APPLY_PATCH_TYPES.has(separator > 0 ? (contentType ?? '').slice(0, separator) : (contentType ?? ''));
  }
  return attributes.verb === 'update' && CREATE_ON_UPDATE.has(`${attributes.apiGroup}/${attributes.resource}`);
}

/** Parses a request target and resolves it: `policy check`, and tests deciding on a whole request. */
export function resolveTarget(
  method: string,
  rawTarget: string,
  content?: RequestContent,
): Result<ResolvedRequest, ResolveProblem<RequestAttributes | undefined>> {
  const parsed = parseRequestTarget(rawTarget);
  if (!parsed.ok) return failure({ attributes: undefined, message: parsed.problem });
  return resolveRequest(method, parsed.value, content);
}
