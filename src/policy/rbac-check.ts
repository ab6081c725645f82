/**
 * Compares the policy with the RBAC the ambassador's own account holds, as SelfSubjectRulesReviews
 * report it, and says in words what to fix: the policy rules (or parts of them) that RBAC refuses
 * anyway, and the dangerous rights the account holds that the policy never uses. Pure: the reviews
 * are fetched elsewhere (rbac-review.ts).
 *
 * Matching follows RBAC (k8s.io/component-helpers/auth/rbac/validation Covers): `*` covers
 * everything but is only covered by `*`; `*\/sub` covers `x/sub`; a rule without resourceNames
 * covers every name.
 */
import type { CompiledRule, Policy } from './policy.ts';

/** `status.resourceRules[]` of a SelfSubjectRulesReview; empty lists are omitted on the wire. */
export interface ResourceRule {
  readonly verbs: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
}

/** `status.nonResourceRules[]` of a SelfSubjectRulesReview. */
export interface NonResourceRule {
  readonly verbs: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/** The `status` of a SelfSubjectRulesReview for one namespace. */
export interface RulesReview {
  readonly resourceRules: readonly ResourceRule[];
  readonly nonResourceRules: readonly NonResourceRule[];
  readonly incomplete?: boolean;
  readonly evaluationError?: string;
}

/**
 * The namespace whose review stands for the cluster scope, as `kubectl auth can-i --list` does: it
 * holds the cluster-wide rules, but also the namespace's own, so it can overstate cluster-scoped rights.
 */
export const CLUSTER_SCOPE_REVIEW_NAMESPACE = 'default';

const ALL = '*';
const REFUSED = "requests will get the API server's 403";
const SECRET_READS = ['get', 'list', 'watch'];
const STREAM_VERBS = ['create', 'get'];
const POWER_VERBS = ['impersonate', 'escalate', 'bind', 'proxy'];

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
  const pod = podNamespace === '' ? undefined : podNamespace;
  return [
    ...incompleteWarnings(reviews),
    ...policy.rules.flatMap((rule) => refusedWarnings(rule, reviews, pod)),
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

// ---------------------------------------------------------------------------------------------
// Policy rules that RBAC refuses

/** One verb on one target (a resource in a namespace, or a URL), and whether RBAC covers it. */
interface Part {
  readonly verb: string;
  readonly target: string;
  /** The namespace, '' for the cluster scope, undefined for a non-resource URL. */
  readonly namespace: string | undefined;
  readonly covered: boolean;
}

function refusedWarnings(
  rule: CompiledRule,
  reviews: ReadonlyMap<string, RulesReview>,
  podNamespace: string | undefined,
): string[] {
  const parts =
    rule.nonResourceURLs === undefined
      ? resourceParts(rule, reviews, podNamespace)
      : nonResourceParts(rule, rule.nonResourceURLs, reviews);
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

function resourceParts(
  rule: CompiledRule,
  reviews: ReadonlyMap<string, RulesReview>,
  podNamespace: string | undefined,
): Part[] {
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
  rules: readonly ResourceRule[],
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

function covers(granted: readonly string[] | undefined, wanted: string): boolean {
  return granted !== undefined && (granted.includes(ALL) || granted.includes(wanted));
}

function resourceCovers(granted: readonly string[] | undefined, wanted: string): boolean {
  if (granted === undefined) return false;
  if (granted.includes(ALL) || granted.includes(wanted)) return true;
  const slash = wanted.indexOf('/');
  if (slash === -1) return false;
  const subresource = wanted.slice(slash + 1);
  // The policy's audit-style `pods/*` has no RBAC equivalent but `*`.
  return subresource !== ALL && granted.includes(`*/${subresource}`);
}

function urlCovers(owned: string, wanted: string): boolean {
  return owned === wanted || (owned.endsWith(ALL) && wanted.startsWith(owned.replace(/\*+$/, '')));
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

// ---------------------------------------------------------------------------------------------
// Dangerous rights the policy never uses

/** A dangerous part of an RBAC rule, shaped like a rule so the policy's rules can be held against it. */
interface Aspect {
  /** The verbs, in words. */
  readonly does: string;
  /** What they act on, in words. */
  readonly on: string;
  readonly verbs: readonly string[];
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  /** The policy only uses a wildcard grant by asking for the wildcard itself. */
  readonly wildcard?: 'verbs' | 'resources';
}

function unusedRightWarnings(policy: Policy, reviews: ReadonlyMap<string, RulesReview>): string[] {
  // Cluster-wide rules show up in every review: one warning per rule and aspects, naming all its namespaces.
  const found = new Map<string, { aspects: readonly string[]; rule: ResourceRule; namespaces: string[] }>();
  for (const [namespace, review] of reviews) {
    const applying = policy.rules.filter((rule) => appliesIn(rule, namespace));
    for (const rule of review.resourceRules) {
      const unused = dangerousAspects(rule).filter(
        (aspect) => !applying.some((policyRule) => policyUses(policyRule, aspect)),
      );
      if (unused.length === 0) continue;
      const aspects = describeAspects(unused);
      const key = JSON.stringify([aspects, rule]);
      const entry = found.get(key) ?? { aspects, rule, namespaces: [] };
      entry.namespaces.push(namespace);
      found.set(key, entry);
    }
  }
  return [...found.values()].map(
    ({ aspects, rule, namespaces }) =>
      `the service account's RBAC grants ${aspects.join('; ')} in ${namespaces.join(', ')}, which the policy never uses: ` +
      `narrow the Role or ClusterRole (RBAC rule ${describeRbacRule(rule)})`,
  );
}

/** Whether a policy rule can allow requests that this namespace's review answers for. */
function appliesIn(rule: CompiledRule, reviewedNamespace: string): boolean {
  if (rule.resources === undefined) return false;
  if (rule.namespaces === undefined || rule.namespaces.has(reviewedNamespace)) return true;
  return reviewedNamespace === CLUSTER_SCOPE_REVIEW_NAMESPACE && rule.namespaces.has('');
}

function dangerousAspects(rule: ResourceRule): Aspect[] {
  const apiGroups = rule.apiGroups ?? [];
  const resources = rule.resources ?? [];
  return [
    ...(covers(apiGroups, '') ? coreAspects(rule.verbs, resources) : []),
    ...proxyAndPowerAspects(rule.verbs, apiGroups, resources),
    ...wildcardAspects(rule.verbs, apiGroups, resources),
  ];
}

/** Reading secrets, exec and attach; named resources only, as `*` is reported as the wildcard it is. */
function coreAspects(verbs: readonly string[], resources: readonly string[]): Aspect[] {
  const aspects: Aspect[] = [];
  const secretReads = SECRET_READS.filter((verb) => covers(verbs, verb));
  if (resources.includes('secrets') && secretReads.length > 0) {
    aspects.push({
      does: secretReads.join(', '),
      on: 'secrets',
      verbs: secretReads,
      apiGroups: [''],
      resources: ['secrets'],
    });
  }
  const streamVerbs = STREAM_VERBS.filter((verb) => covers(verbs, verb));
  for (const subresource of ['exec', 'attach']) {
    const resource = `pods/${subresource}`;
    if (streamVerbs.length === 0 || !(resources.includes(resource) || resources.includes(`*/${subresource}`))) continue;
    aspects.push({
      does: streamVerbs.join(', '),
      on: resource,
      verbs: streamVerbs,
      apiGroups: [''],
      resources: [resource],
    });
  }
  return aspects;
}

function proxyAndPowerAspects(
  verbs: readonly string[],
  apiGroups: readonly string[],
  resources: readonly string[],
): Aspect[] {
  const proxies = resources.filter((resource) => resource.endsWith('/proxy'));
  const proxy: Aspect[] =
    proxies.length === 0
      ? []
      : [{ does: verbs.join(', '), on: proxies.join(', '), verbs, apiGroups, resources: proxies }];
  const powers = POWER_VERBS.filter((power) => verbs.includes(power));
  return [
    ...proxy,
    ...powers.map((verb) => ({ does: verb, on: resources.join(', '), verbs: [verb], apiGroups, resources })),
  ];
}

function wildcardAspects(
  verbs: readonly string[],
  apiGroups: readonly string[],
  resources: readonly string[],
): Aspect[] {
  const allVerbs = 'every verb (*)';
  const allResources = 'every resource (*)';
  const aspects: Aspect[] = [];
  if (verbs.includes(ALL)) {
    const on = resources.includes(ALL) ? allResources : resources.join(', ');
    aspects.push({ does: allVerbs, on, verbs: [ALL], apiGroups, resources, wildcard: 'verbs' });
  }
  if (resources.includes(ALL)) {
    const does = verbs.includes(ALL) ? allVerbs : verbs.join(', ');
    aspects.push({ does, on: allResources, verbs, apiGroups, resources: [ALL], wildcard: 'resources' });
  }
  return aspects;
}

/** `escalate, bind on roles`: aspects on the same resources read as one. */
function describeAspects(aspects: readonly Aspect[]): string[] {
  const merged: { does: string[]; on: string }[] = [];
  for (const aspect of aspects) {
    const last = merged.at(-1);
    if (last?.on !== aspect.on) merged.push({ does: [aspect.does], on: aspect.on });
    else if (!last.does.includes(aspect.does)) last.does.push(aspect.does);
  }
  return merged.map(({ does, on }) => `${does.join(', ')} on ${on}`);
}

function policyUses(rule: CompiledRule, aspect: Aspect): boolean {
  if (rule.apiGroups === undefined || rule.resources === undefined) return false;
  if (aspect.wildcard === 'verbs' && !rule.verbs.has(ALL)) return false;
  if (aspect.wildcard === 'resources' && !rule.resources.includes(ALL)) return false;
  const ruleVerbs = [...rule.verbs];
  const ruleGroups = [...rule.apiGroups];
  return (
    overlaps(ruleVerbs, aspect.verbs, (a, b) => a === b) &&
    overlaps(ruleGroups, aspect.apiGroups, (a, b) => a === b) &&
    overlaps(rule.resources, aspect.resources, resourcesOverlap)
  );
}

function overlaps(
  some: readonly string[],
  others: readonly string[],
  same: (a: string, b: string) => boolean,
): boolean {
  return some.some((a) => others.some((b) => a === ALL || b === ALL || same(a, b)));
}

/** Whether two resource patterns (`pods`, `pods/log`, `*\/scale`, the policy's `pods/*`) match a request in common. */
function resourcesOverlap(a: string, b: string): boolean {
  const [baseA = '', subA = ''] = a.split('/', 2);
  const [baseB = '', subB = ''] = b.split('/', 2);
  const basesOverlap = baseA === baseB || baseA === ALL || baseB === ALL;
  const subsOverlap = subA === subB || (subA === ALL && subB !== '') || (subB === ALL && subA !== '');
  return basesOverlap && subsOverlap;
}

function describeRbacRule(rule: ResourceRule): string {
  const fields: [string, readonly string[] | undefined][] = [
    ['verbs', rule.verbs],
    ['apiGroups', rule.apiGroups],
    ['resources', rule.resources],
    ['resourceNames', rule.resourceNames],
  ];
  return fields
    .filter(([, values]) => values !== undefined && values.length > 0)
    .map(([name, values]) => `${name}: [${(values ?? []).map((value) => (value === '' ? '""' : value)).join(', ')}]`)
    .join(', ');
}
