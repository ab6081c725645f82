/**
 * The request labels of the metrics, each from a closed set, so that a client inventing paths,
 * methods or status codes cannot create series: kube-apiserver's own labels come from the route
 * that served the request (InstrumentRouteFunc in k8s.io/apiserver/pkg/endpoints/metrics/metrics.go),
 * so an invented path never names one there either.
 */
import { STATUS_CODES } from 'node:http';
import { CLIENT_CLOSED_REQUEST, type Decision } from '../request/record.ts';
import type { RequestAttributes } from '../request/attributes.ts';
import { BUILT_IN_API } from './kubernetes-api.ts';

/** What an invented verb, group, version, resource, subresource or status code is counted as. */
const OTHER = 'other';
/**
 * Group/version/resource/subresource combinations outside the built-in API (custom resources,
 * aggregated APIs) that get their own labels once the API server has served them.
 */
const MAX_LEARNED_RESOURCES = 256;

/** kube-apiserver reports requests to these subresources with the verb CONNECT. */
const CONNECT_SUBRESOURCES = new Set(['attach', 'exec', 'log', 'portforward', 'proxy']);
const APPLY_PATCH = 'application/apply-patch+yaml';
const RESOURCE_VERBS: ReadonlyMap<string, string> = new Map([
  ['get', 'GET'],
  ['list', 'LIST'],
  ['watch', 'WATCH'],
  ['create', 'POST'],
  ['update', 'PUT'],
  ['patch', 'PATCH'],
  ['delete', 'DELETE'],
  ['deletecollection', 'DELETECOLLECTION'],
  ['proxy', 'PROXY'],
]);
/** kube-apiserver's `CanonicalVerb` turns HEAD into GET; `cleanVerb` reports methods outside `validRequestMethods` as "other". */
const NON_RESOURCE_VERBS: ReadonlyMap<string, string> = new Map([
  ['GET', 'GET'],
  ['HEAD', 'GET'],
  ['POST', 'POST'],
  ['PUT', 'PUT'],
  ['PATCH', 'PATCH'],
  ['DELETE', 'DELETE'],
]);
/** The status codes with a name, and nginx's 499 that marks a client that left before the answer. */
const CODE_LABELS: ReadonlyMap<number, string> = new Map(
  [...Object.keys(STATUS_CODES).map(Number), CLIENT_CLOSED_REQUEST].map((code) => [code, String(code)]),
);
const CODE_CLASS_LABELS = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** kube-apiserver's `CleanVerb`: WATCH apart from LIST, APPLY apart from PATCH, CONNECT for streams, "other" for unknown methods. */
export function metricsVerb(
  method: string,
  attributes: RequestAttributes | undefined,
  contentType: string | undefined,
): string {
  if (!attributes?.isResourceRequest) return NON_RESOURCE_VERBS.get(method) ?? OTHER;
  if (CONNECT_SUBRESOURCES.has(attributes.subresource)) return 'CONNECT';
  if (attributes.verb === 'patch' && contentType === APPLY_PATCH) return 'APPLY';
  return RESOURCE_VERBS.get(attributes.verb) ?? OTHER;
}

/** kube-apiserver's `CleanScope`. */
export function metricsScope(attributes: RequestAttributes | undefined): string {
  if (!attributes?.isResourceRequest) return '';
  if (attributes.name !== '' || attributes.verb === 'create') return 'resource';
  if (attributes.namespace !== '') return 'namespace';
  return 'cluster';
}

/**
 * The code label: the code itself when it has a name (every code Kubernetes answers with does),
 * else its class (`2xx`, so `code=~"5.."` still matches), else "other". The proxy subresources
 * relay whatever status a pod or service answers with, so the raw code is the client's to choose.
 */
export function metricsCode(statusCode: number): string {
  return CODE_LABELS.get(statusCode) ?? CODE_CLASS_LABELS[Math.floor(statusCode / 100) - 1] ?? OTHER;
}

/** kube-apiserver's dry_run label: "All" when the API server carries the request out as a dry run, else "". */
export function metricsDryRun(dryRun: boolean): string {
  return dryRun ? 'All' : '';
}

export interface ResourceLabels {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string;
}

const NON_RESOURCE: ResourceLabels = { group: '', version: '', resource: '', subresource: '' };
const UNKNOWN_RESOURCE: ResourceLabels = { group: OTHER, version: OTHER, resource: OTHER, subresource: '' };
const UNKNOWN_SUBRESOURCE: ResourceLabels = { group: OTHER, version: OTHER, resource: OTHER, subresource: OTHER };

/**
 * The group, version, resource and subresource labels. Built-in resources are labelled by name,
 * a version or subresource they do not serve as "other". Anything else is labelled by name only
 * once the API server has answered a forwarded request for it with a 2xx, up to a fixed number:
 * kube-apiserver authenticates, authorizes and rate-limits before it routes, so a 401, 403 or 429
 * proves nothing exists, a 404 that the path is unknown, and only a success that it is served.
 * Invented names therefore fill nothing, and cannot push a real resource into "other".
 */
export class ResourceLabeler {
  readonly #learned = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = MAX_LEARNED_RESOURCES) {
    this.#capacity = capacity;
  }

  labels(attributes: RequestAttributes | undefined, statusCode: number, decision: Decision): ResourceLabels {
    if (!attributes?.isResourceRequest) return NON_RESOURCE;
    const { apiGroup, apiVersion, resource, subresource } = attributes;
    const builtIn = BUILT_IN_API.get(apiGroup);
    const subresources = builtIn?.resources.get(resource);
    const knownVersion = builtIn?.versions.has(apiVersion) === true;
    const knownSubresource = subresource === '' || subresources?.has(subresource) === true;
    if (subresources !== undefined && knownVersion && knownSubresource) return labelsOf(attributes);

    const key = `${apiGroup}/${apiVersion}/${resource}/${subresource}`;
    if (this.#learned.has(key)) return labelsOf(attributes);
    if (isServed(statusCode, decision) && this.#learned.size < this.#capacity) {
      this.#learned.add(key);
      return labelsOf(attributes);
    }
    if (subresources !== undefined) {
      return {
        group: apiGroup,
        version: knownVersion ? apiVersion : OTHER,
        resource,
        subresource: knownSubresource ? subresource : OTHER,
      };
    }
    return subresource === '' ? UNKNOWN_RESOURCE : UNKNOWN_SUBRESOURCE;
  }
}

function labelsOf(attributes: RequestAttributes): ResourceLabels {
  return {
    group: attributes.apiGroup,
    version: attributes.apiVersion,
    resource: attributes.resource,
    subresource: attributes.subresource,
  };
}

/** The API server answered a forwarded request with a success: the ambassador itself never does. */
function isServed(statusCode: number, decision: Decision): boolean {
  return statusCode >= 200 && statusCode < 300 && (decision === 'allow' || decision === 'would_deny');
}
