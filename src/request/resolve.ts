/**
 * One model of what kube-apiserver will act on: the request's attributes (requestinfo.go), its
 * canonical query, the ListOptions selectors that choose what a collection request touches, and
 * the DeleteOptions a delete carries. Every decision reads this, and what is forwarded is what it
 * was built from.
 */
import { resolveAttributes, type RequestAttributes } from './attributes.ts';
import { readDeleteOptions, type DeleteOptionsRead } from './delete-options.ts';
import { parseFieldSelector, parseLabelSelector, type LabelRequirement } from './selectors.ts';
import { parseRequestTarget, queryValue, type RequestTarget } from './target.ts';

/** A request body read whole before the decision (only deletes', which carry DeleteOptions). */
export interface ReadBody {
  readonly bytes: Buffer;
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
}

export interface ResolvedRequest {
  readonly attributes: RequestAttributes;
  /** The canonical query (`canonicalQuery`): decided on and forwarded. */
  readonly query: string;
  /** For list, watch and deletecollection: the label selector's requirements; undefined when absent. */
  readonly labelSelector: readonly LabelRequirement[] | undefined;
  /** For delete and deletecollection: the options the API server will act on. */
  readonly deleteOptions: DeleteOptionsRead | undefined;
}

export type Resolution =
  | { readonly ok: true; readonly request: ResolvedRequest; readonly attributes: RequestAttributes }
  | { readonly ok: false; readonly attributes: RequestAttributes; readonly problem: string };

/** The verbs whose handlers decode ListOptions, selectors included (handlers/get.go, delete.go). */
const LIST_OPTIONS_VERBS: ReadonlySet<string> = new Set(['list', 'watch', 'deletecollection']);
const DELETE_VERBS: ReadonlySet<string> = new Set(['delete', 'deletecollection']);

/**
 * Resolves a parsed request target. A selector the API server would refuse with 400 is refused
 * here too, naming the problem, rather than guessed at.
 */
export function resolveRequest(method: string, target: RequestTarget, body?: ReadBody): Resolution {
  const attributes = resolveAttributes(method, target);
  const { query } = target;
  let labelSelector: readonly LabelRequirement[] | undefined;
  if (attributes.isResourceRequest && LIST_OPTIONS_VERBS.has(attributes.verb)) {
    const labels = queryValue(query, 'labelSelector');
    if (labels !== undefined) {
      const parsed = parseLabelSelector(labels);
      if (!parsed.ok) return { ok: false, attributes, problem: `labelSelector: ${parsed.problem}` };
      labelSelector = parsed.requirements;
    }
    const fields = queryValue(query, 'fieldSelector');
    if (fields !== undefined) {
      const parsed = parseFieldSelector(fields);
      if (!parsed.ok) return { ok: false, attributes, problem: `fieldSelector: ${parsed.problem}` };
    }
  }
  const deleteOptions =
    attributes.isResourceRequest && DELETE_VERBS.has(attributes.verb)
      ? readDeleteOptions(query, body?.bytes, body?.contentType, body?.contentEncoding)
      : undefined;
  return { ok: true, request: { attributes, query, labelSelector, deleteOptions }, attributes };
}

/** Parses a request target and resolves it: `policy check`, and tests deciding on a whole request. */
export function resolveTarget(method: string, rawTarget: string, body?: ReadBody): Resolution | { readonly ok: false; readonly attributes: undefined; readonly problem: string } {
  const parsed = parseRequestTarget(rawTarget);
  if (!parsed.ok) return { ok: false, attributes: undefined, problem: parsed.problem };
  return resolveRequest(method, parsed.target, body);
}
