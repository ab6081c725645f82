/**
 * Compares the policy with the RBAC the ambassador's own account holds, as SelfSubjectRulesReviews
 * report it, and says in words what to fix: the policy rules (or parts of them) that RBAC refuses
 * anyway, and the dangerous rights the account holds that the policy never uses. Pure: the reviews
 * are fetched elsewhere (rbac-review.ts); the unused rights are found by rbac-unused.ts.
 *
 * Matching follows RBAC (k8s.io/component-helpers/auth/rbac/validation Covers): `*` covers
 * everything but is only covered by `*`; `*\/sub` covers `x/sub`; a rule without resourceNames
 * covers every name.
 */
import { WILDCARD, type CompiledRule, type Policy } from './policy.ts';
import { CLUSTER_SCOPE_REVIEW_NAMESPACE, covers, type RbacResourceRule, type RulesReview } from './rbac-rules.ts';
import { unusedRightWarnings } from './rbac-unused.ts';

const REFUSED = "requests will get the API server's 403";

/** The namespaces to ask a SelfSubjectRulesReview for: the pod's own, then each one the policy names. */
export function namespacesToReview(policy: Policy, podNamespace: string | undefined): string[] {
  const namespaces = new Set<string>();
  if (podNamespace !== undefined && podNamespace !== '') namespaces.add(podNamespace);
  for (const rule of policy.rules) {
    for (const namespace of rule.namespaces ?? []) namespaces.add(reviewNamespace(namespace));
  }
  // Non-resource and cluster-wide rules are the same in every review: one is needed to see them at all.
  if (namespaces.size === 0) namespaces.add(CLUSTER_SCOPE_REVIEW_NAMESPACE);
  return [...namespaces];
}

/**
 * The warnings, in a stable order: incomplete reviews, then policy rules RBAC refuses (in policy
 * order), then dangerous rights the policy never uses (in review and rule order). Parts whose
 * namespace has no review are not judged.
 */
export function compareWithRbac(
  policy: Policy,
  reviews: ReadonlyMap<string, RulesReview>,
  podNamespace: string | undefined,
): string[] {
  const scope: ReviewScope = { reviews, podNamespace: podNamespace === '' ? undefined : podNamespace };
  return [
    ...incompleteWarnings(reviews),
    ...policy.rules.flatMap((rule) => refusedWarnings(rule, scope)),
    ...unusedRightWarnings(policy, reviews),
  ];
}

function reviewNamespace(namespace: string): string {
  return namespace === '' ? CLUSTER_SCOPE_REVIEW_NAMESPACE : namespace;
}

function incompleteWarnings(reviews: ReadonlyMap<string, RulesReview>): string[] {
  return [...reviews].flatMap(([namespace, review]) => {
    if (review.incomplete !== true) return [];
    const why = review.evaluationError ? ` (${review.evaluationError})` : '';
    return [
      `the API server's rules review for ${namespace} is incomplete${why}: the RBAC check may be incomplete, ` +
        'and another authorizer may allow what is reported as refused here',
    ];
  });
}

/** One verb on one target (a resource in a namespace, or a URL), and whether RBAC covers it. */
interface Part {
  readonly verb: string;
  readonly target: string;
  /** The namespace, '' for the cluster scope, undefined for a non-resource URL. */
  readonly namespace: string | undefined;
  readonly covered: boolean;
}

/** The reviews, by namespace, and the pod's namespace, which a rule without namespaces applies in. */
interface ReviewScope {
  readonly reviews: ReadonlyMap<string, RulesReview>;
  readonly podNamespace: string | undefined;
}

function refusedWarnings(rule: CompiledRule, scope: ReviewScope): string[] {
  const parts =
    rule.nonResourceURLs === undefined
      ? resourceParts(rule, scope)
      : nonResourceParts(rule, rule.nonResourceURLs, scope.reviews);
  const refused = parts.filter((part) => !part.covered);
  if (refused.length === 0) return [];
  if (refused.length === parts.length && parts.length > 1) {
    return [
      `policy rule ${rule.label} allows ${summarize(parts)}, but the service account's RBAC allows none of it: ${REFUSED}`,
    ];
  }
  return refused.map(
    (part) =>
      `policy rule ${rule.label} allows ${summarize([part])}, but the service account's RBAC does not: ${REFUSED}`,
  );
}

function resourceParts(rule: CompiledRule, { reviews, podNamespace }: ReviewScope): Part[] {
  const namespaces =
    rule.namespaces === undefined ? (podNamespace === undefined ? [] : [podNamespace]) : [...rule.namespaces];
  const names = rule.resourceNames === undefined ? [] : [...rule.resourceNames];
  return namespaces.flatMap((namespace) => {
    const review = reviews.get(reviewNamespace(namespace));
    if (review === undefined) return [];
    return [...(rule.apiGroups ?? [])].flatMap((group) =>
      (rule.resources ?? []).flatMap((resource) =>
        [...rule.verbs].map((verb) => ({
          verb,
          target: resourceLabel(group, resource) + namesLabel(names),
          namespace,
          covered: rbacAllowsResource(review.resourceRules, verb, group, resource, names),
        })),
      ),
    );
  });
}

function nonResourceParts(
  rule: CompiledRule,
  urls: readonly string[],
  reviews: ReadonlyMap<string, RulesReview>,
): Part[] {
  if (reviews.size === 0) return [];
  // Non-resource rules come only from cluster-wide bindings, so every review holds the same ones.
  const granted = [...reviews.values()].flatMap((review) => review.nonResourceRules);
  return urls.flatMap((url) =>
    [...rule.verbs].map((verb) => ({
      verb,
      target: url,
      namespace: undefined,
      covered: granted.some(
        (grant) => covers(grant.verbs, verb) && (grant.nonResourceURLs ?? []).some((owned) => urlCovers(owned, url)),
      ),
    })),
  );
}

/** Whether RBAC allows the verb on the resource: for every name the policy lists, or for all names. */
function rbacAllowsResource(
  rules: readonly RbacResourceRule[],
  verb: string,
  group: string,
  resource: string,
  names: readonly string[],
): boolean {
  const matching = rules.filter(
    (rule) => covers(rule.verbs, verb) && covers(rule.apiGroups, group) && resourceCovers(rule.resources, resource),
  );
  if (matching.some((rule) => (rule.resourceNames ?? []).length === 0)) return true;
  return (
    names.length > 0 && names.every((name) => matching.some((rule) => rule.resourceNames?.includes(name) === true))
  );
}

function resourceCovers(granted: readonly string[] | undefined, wanted: string): boolean {
  if (granted === undefined) return false;
  if (granted.includes(WILDCARD) || granted.includes(wanted)) return true;
  const slash = wanted.indexOf('/');
  if (slash === -1) return false;
  const subresource = wanted.slice(slash + 1);
  // The policy's audit-style `pods/*` has no RBAC equivalent but `*`.
  return subresource !== WILDCARD && granted.includes(`*/${subresource}`);
}

function urlCovers(owned: string, wanted: string): boolean {
  return owned === wanted || (owned.endsWith(WILDCARD) && wanted.startsWith(owned.replace(/\*+$/, '')));
}

/** `get, list on pods, configmaps in team-a, team-b and at the cluster scope`. */
function summarize(parts: readonly Part[]): string {
  const verbs = unique(parts.map((part) => part.verb));
  const targets = unique(parts.map((part) => part.target));
  const namespaces = unique(parts.flatMap((part) => (part.namespace === undefined ? [] : [part.namespace])));
  return `${verbs.join(', ')} on ${targets.join(', ')}${scopeLabel(namespaces)}`;
}

function scopeLabel(namespaces: readonly string[]): string {
  const named = namespaces.filter((namespace) => namespace !== '');
  const scopes = [
    ...(named.length > 0 ? [`in ${named.join(', ')}`] : []),
    ...(namespaces.includes('') ? ['at the cluster scope'] : []),
  ];
  return scopes.length === 0 ? '' : ` ${scopes.join(' and ')}`;
}

/** kubectl's spelling: `pods`, `jobs.batch`, `deployments.apps/scale`. */
function resourceLabel(group: string, resource: string): string {
  if (group === '') return resource;
  const slash = resource.indexOf('/');
  return slash === -1 ? `${resource}.${group}` : `${resource.slice(0, slash)}.${group}${resource.slice(slash)}`;
}

function namesLabel(names: readonly string[]): string {
  return names.length === 0 ? '' : ` named ${names.map((name) => JSON.stringify(name)).join(', ')}`;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
