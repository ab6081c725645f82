/**
 * Kubernetes request attributes, resolved from the canonical target exactly as kube-apiserver's
 * RequestInfoFactory does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so that a
 * decision made here is a decision about what the API server will act on.
 *
 * Resource paths:
 *   /api/{version}/{resource}[/{name}[/{subresource}]]
 *   /api/{version}/namespaces/{namespace}/{resource}[/{name}[/{subresource}]]
 *   /apis/{group}/{version}/…           (the same shapes, in a named group)
 *   /api/{version}/watch/…, /api/{version}/proxy/…   (legacy verb-in-path forms)
 * Everything else (/version, /healthz, /apis, /apis/{group}/{version}, …) is a non-resource URL.
 */
import { findExactFieldMatch, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { isTrueQueryFlag, queryValue, type RequestTarget } from './target.ts';

export interface RequestAttributes {
  readonly isResourceRequest: boolean;
  /** Kubernetes verb (`get`, `list`, `watch`, `create`, …); lower-case HTTP method for non-resource URLs. */
  readonly verb: string;
  readonly apiPrefix: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
  /** The decoded path, for non-resource URLs. */
  readonly path: string;
}

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIX = 'api';
const VERBS_IN_PATH = new Set(['watch', 'proxy']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const METHOD_VERBS: ReadonlyMap<string, string> = new Map([
  ['POST', 'create'],
  ['GET', 'get'],
  ['HEAD', 'get'],
  ['PUT', 'update'],
  ['PATCH', 'patch'],
  ['DELETE', 'delete'],
]);
/** ListOptions integers: a value that is not one makes the API server drop the selector's name. */
const INTEGER_LIST_OPTIONS = ['limit', 'timeoutSeconds'];
const INT64 = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** kube-apiserver's LongRunningFunc: these never get a request timeout. */
const LONG_RUNNING_VERBS = new Set(['watch', 'proxy']);
const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'proxy', 'log', 'portforward']);
/** The subresources whose protocol is an HTTP upgrade (WebSocket or SPDY). */
const STREAMING_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/** The attributes of a request for a non-resource URL (/version, /healthz, discovery, …). */
export function nonResourceAttributes(verb: string, path: string): RequestAttributes {
  return {
    isResourceRequest: false,
    verb,
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    path,
  };
}

/** RequestInfoFactory.NewRequestInfo, step by step. */
export function resolveAttributes(method: string, target: RequestTarget): RequestAttributes {
  let parts = target.segments;
  const prefix = parts[0];
  if (parts.length < 3 || prefix === undefined || !API_PREFIXES.has(prefix)) {
    return nonResourceAttributes(method.toLowerCase(), target.decodedPath);
  }
  let apiGroup = '';
  parts = parts.slice(1);
  if (prefix !== GROUPLESS_PREFIX) {
    // /apis/{group}/{version} is discovery
    if (parts.length < 3) return nonResourceAttributes(method.toLowerCase(), target.decodedPath);
    apiGroup = parts[0] ?? '';
    parts = parts.slice(1);
  }
  const apiVersion = parts[0] ?? '';
  parts = parts.slice(1);

  let verb: string;
  const first = parts[0] ?? '';
  if (VERBS_IN_PATH.has(first)) {
    // the API server answers this with an error
    if (parts.length < 2) return nonResourceAttributes(method.toLowerCase(), target.decodedPath);
    verb = first;
    parts = parts.slice(1);
  } else {
    verb = METHOD_VERBS.get(method) ?? '';
  }

  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1] ?? '';
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) parts = parts.slice(2);
  }

  const subresource = parts.length >= 3 && verb !== 'proxy' ? (parts[2] ?? '') : '';
  let name = parts.length >= 2 ? (parts[1] ?? '') : '';
  const resource = parts[0] ?? '';

  if (verb === 'get' && name === '') {
    const decodes = listOptionsDecode(target.query);
    verb = isCollectionWatch(target.query, decodes) ? 'watch' : 'list';
    if (decodes) name = nameFromFieldSelector(queryValue(target.query, 'fieldSelector')) ?? '';
  }
  if (verb === 'delete' && name === '') verb = 'deletecollection';

  const path = target.decodedPath;
  return {
    isResourceRequest: true,
    verb,
    apiPrefix: prefix,
    apiGroup,
    apiVersion,
    namespace,
    resource,
    subresource,
    name,
    path,
  };
}

/** Whether a GET of a collection is a watch: `watch` read as the API server reads it, after ListOptions decode or not. */
function isCollectionWatch(query: string, listOptionsDecoded: boolean): boolean {
  return listOptionsDecoded ? isTrueQueryFlag(query, 'watch') : isWatchAfterDecodeError(queryValue(query, 'watch'));
}

/**
 * Whether the query would decode as ListOptions (its integers are int64s, its selectors parse);
 * when it would not, the API server takes no name from the field selector, and reads `watch`
 * with `isWatchAfterDecodeError`.
 */
function listOptionsDecode(query: string): boolean {
  for (const option of INTEGER_LIST_OPTIONS) {
    const value = queryValue(query, option);
    if (value !== undefined && !isInt64(value)) return false;
  }
  const labels = queryValue(query, 'labelSelector');
  if (labels !== undefined && !parseLabelSelector(labels).ok) return false;
  const fields = queryValue(query, 'fieldSelector');
  return fields === undefined || parseFieldSelector(fields).ok;
}

/** Go's `strconv.ParseInt(value, 10, 64)` succeeds. */
function isInt64(value: string): boolean {
  if (!INT64.test(value)) return false;
  const number = BigInt(value);
  return number >= INT64_MIN && number <= INT64_MAX;
}

/**
 * requestinfo.go, when ListOptions do not decode: `watch` is read with `strings.ToLower`, not the
 * EqualFold of the usual conversion, so `falſe` is a watch there.
 */
function isWatchAfterDecodeError(value: string | undefined): boolean {
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  return lower !== 'false' && lower !== '0';
}

/**
 * The name a field selector pins with `metadata.name=X` or `metadata.name==X`
 * (requestinfo.go: fields.ParseSelector, then RequiresExactMatch): a selector that does not
 * parse names nothing, and X must be a valid path segment name.
 */
export function nameFromFieldSelector(selector: string | undefined): string | undefined {
  if (selector === undefined) return undefined;
  const parsed = parseFieldSelector(selector);
  if (!parsed.ok) return undefined;
  const name = findExactFieldMatch(parsed.value, 'metadata.name');
  return name !== undefined && isValidPathSegmentName(name) ? name : undefined;
}

/** apimachinery `path.IsValidPathSegmentName`. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * What kind of long-running request this is, after kube-apiserver's BasicLongRunningRequestCheck
 * (server/filters/longrunning.go): `watch`, `proxy`, `log`, `exec`, `attach`, `portforward` or
 * `debug` (pprof); undefined for ordinary requests, which get a timeout.
 */
export function longRunningKind(attributes: RequestAttributes): string | undefined {
  if (LONG_RUNNING_VERBS.has(attributes.verb)) return attributes.verb;
  if (attributes.isResourceRequest) {
    return LONG_RUNNING_SUBRESOURCES.has(attributes.subresource) ? attributes.subresource : undefined;
  }
  return attributes.path.startsWith('/debug/pprof/') ? 'debug' : undefined;
}

export function isLongRunning(attributes: RequestAttributes): boolean {
  return longRunningKind(attributes) !== undefined;
}

/** exec, attach and port-forward on a pod: the only requests the ambassador upgrades. */
export function isStreamingSubresource(attributes: RequestAttributes): boolean {
  return (
    attributes.isResourceRequest &&
    attributes.apiGroup === '' &&
    attributes.resource === 'pods' &&
    attributes.name !== '' &&
    STREAMING_SUBRESOURCES.has(attributes.subresource)
  );
}
