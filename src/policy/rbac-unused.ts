/**
 * The dangerous rights the service account's RBAC grants that the policy never uses (reading
 * secrets, exec and attach, proxies, impersonate/escalate/bind, wildcards): each is worth
 * narrowing in the Role, as the ambassador would never let a request use it.
 */
import { WILDCARD, type CompiledRule, type Policy } from './policy.ts';
import { CLUSTER_SCOPE_REVIEW_NAMESPACE, covers, type RbacResourceRule, type RulesReview } from './rbac-rules.ts';

const SECRET_READS = ['get', 'list', 'watch'];
const STREAM_VERBS = ['create', 'get'];
const POWER_VERBS = ['impersonate', 'escalate', 'bind', 'proxy'];

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

/** One warning per RBAC rule with unused dangerous aspects, naming every namespace it is granted in. */
export function unusedRightWarnings(policy: Policy, reviews: ReadonlyMap<string, RulesReview>): string[] {
  // Cluster-wide rules show up in every review: one warning per rule and aspects, naming all its namespaces.
  const found = new Map<string, { aspects: readonly string[]; rule: RbacResourceRule; namespaces: string[] }>();
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

function dangerousAspects(rule: RbacResourceRule): Aspect[] {
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
  if (verbs.includes(WILDCARD)) {
    const on = resources.includes(WILDCARD) ? allResources : resources.join(', ');
    aspects.push({ does: allVerbs, on, verbs: [WILDCARD], apiGroups, resources, wildcard: 'verbs' });
  }
  if (resources.includes(WILDCARD)) {
    const does = verbs.includes(WILDCARD) ? allVerbs : verbs.join(', ');
    aspects.push({ does, on: allResources, verbs, apiGroups, resources: [WILDCARD], wildcard: 'resources' });
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
  if (aspect.wildcard === 'verbs' && !rule.verbs.has(WILDCARD)) return false;
  if (aspect.wildcard === 'resources' && !rule.resources.includes(WILDCARD)) return false;
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
  return some.some((a) => others.some((b) => a === WILDCARD || b === WILDCARD || same(a, b)));
}

/** Whether two resource patterns (`pods`, `pods/log`, `*\/scale`, the policy's `pods/*`) match a request in common. */
function resourcesOverlap(a: string, b: string): boolean {
  const [baseA = '', subA = ''] = a.split('/', 2);
  const [baseB = '', subB = ''] = b.split('/', 2);
  const basesOverlap = baseA === baseB || baseA === WILDCARD || baseB === WILDCARD;
  const subsOverlap = subA === subB || (subA === WILDCARD && subB !== '') || (subB === WILDCARD && subA !== '');
  return basesOverlap && subsOverlap;
}

function describeRbacRule(rule: RbacResourceRule): string {
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
