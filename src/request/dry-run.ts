/**
 * Whether kube-apiserver will carry a write out as a dry run: from the query's `dryRun` for create,
 * update and patch (handlers/create.go, update.go, patch.go decode their options from the query
 * only), from DeleteOptions for delete and deletecollection (`readDeleteOptions`), and only for
 * resources whose storage honours it.
 */
import type { UnreadableBody } from './delete-options.ts';
import type { ResolvedRequest } from './resolve.ts';
import { queryValues } from './target.ts';

/**
 * `dry-run`: the API server validates and admits but persists nothing. `real`: it acts.
 * `not-honoured`: the resource carries writes out (or refuses them) whatever `dryRun` says.
 * `unreadable`: a DeleteOptions body the ambassador cannot read, so it cannot tell.
 */
export type DryRun =
  | { readonly kind: 'dry-run' }
  | { readonly kind: 'real' }
  | { readonly kind: 'not-honoured'; readonly why: string }
  | ({ readonly kind: 'unreadable' } & UnreadableBody);

export const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

const DRY_RUN: DryRun = { kind: 'dry-run' };
const REAL: DryRun = { kind: 'real' };

const TOKEN_REST =
  'its storage (TokenREST.Create, pkg/registry/core/serviceaccount/storage/token.go) ignores dryRun and issues a real token';
const REVIEW =
  'it is a virtual resource whose storage answers from the request and ignores dryRun (pkg/registry/authentication and pkg/registry/authorization)';
const CONNECT = 'kube-apiserver refuses dryRun on connect subresources (ConnectResource, endpoints/handlers/rest.go)';

/**
 * Resources and subresources, as `group/resource[/subresource]`, whose writes the API server does
 * not carry out as dry runs. Everything else served by kube-apiserver's generic registry (built-in
 * resources, their status/scale/eviction/binding/finalize/approval subresources, and custom
 * resources) honours dryRun (registry/generic/registry/dryrun.go).
 */
const DRY_RUN_NOT_HONOURED: ReadonlyMap<string, string> = new Map([
  ['/serviceaccounts/token', TOKEN_REST],
  ['authentication.k8s.io/tokenreviews', REVIEW],
  ['authentication.k8s.io/selfsubjectreviews', REVIEW],
  ['authorization.k8s.io/subjectaccessreviews', REVIEW],
  ['authorization.k8s.io/selfsubjectaccessreviews', REVIEW],
  ['authorization.k8s.io/localsubjectaccessreviews', REVIEW],
  ['authorization.k8s.io/selfsubjectrulesreviews', REVIEW],
  ['/pods/exec', CONNECT],
  ['/pods/attach', CONNECT],
  ['/pods/portforward', CONNECT],
  ['/pods/proxy', CONNECT],
  ['/services/proxy', CONNECT],
  ['/nodes/proxy', CONNECT],
]);

/** `dryrun.IsDryRun` is a non-empty list; ValidateDryRun refuses (422) any value but "All". */
function isDryRunList(values: readonly string[]): boolean {
  return values.length > 0 && values.every((value) => value === 'All');
}

/**
 * How the API server will treat a request's `dryRun` when it acts with `verb` (the request's own
 * verb, or `create` for the second check of an upgrade). Anything but a write is `real`.
 */
export function dryRunOf(request: ResolvedRequest, verb: string = request.attributes.verb): DryRun {
  const { attributes, deleteOptions } = request;
  if (!attributes.isResourceRequest || !WRITE_VERBS.has(verb)) return REAL;
  const key = `${attributes.apiGroup}/${attributes.resource}${attributes.subresource === '' ? '' : `/${attributes.subresource}`}`;
  const notHonoured = DRY_RUN_NOT_HONOURED.get(key);
  if (notHonoured !== undefined) return { kind: 'not-honoured', why: notHonoured };
  if (deleteOptions !== undefined && (verb === 'delete' || verb === 'deletecollection')) {
    if (!deleteOptions.ok) return { kind: 'unreadable', ...deleteOptions.problem };
    return isDryRunList(deleteOptions.value) ? DRY_RUN : REAL;
  }
  return isDryRunList(queryValues(request.query, 'dryRun')) ? DRY_RUN : REAL;
}

/** kube-apiserver's `dry_run` metric label and the audit's reading: whether nothing is persisted. */
export function isDryRun(request: ResolvedRequest): boolean {
  return dryRunOf(request).kind === 'dry-run';
}
