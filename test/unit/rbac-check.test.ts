import type { UserInfo } from '../../src/cluster/credentials.ts';
import { userInfoOf } from '../../src/policy/rbac-review.ts';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import { type Policy } from '../../src/policy/policy.ts';
import { compareWithRbac, namespacesToReview } from '../../src/policy/rbac-check.ts';
import type { RbacNonResourceRule, RbacResourceRule, RulesReview } from '../../src/policy/rbac-rules.ts';

function policyOf(rules: unknown[], podNamespace: string | undefined = 'team-a'): Policy {
  const compiled = compilePolicy({ rules }, 'policy.yaml', podNamespace);
  if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
  return compiled.value.policy;
}

function review(resourceRules: RbacResourceRule[], nonResourceRules: RbacNonResourceRule[] = []): RulesReview {
  return { resourceRules, nonResourceRules };
}

const NOT = ", but the service account's RBAC does not: requests will get the API server's 403";
const NONE = ", but the service account's RBAC allows none of it: requests will get the API server's 403";
const NARROW = 'which the policy never uses: narrow the Role or ClusterRole';

const GET_PODS = { verbs: ['get'], apiGroups: [''], resources: ['pods'], namespaces: ['team-a'] };
const RBAC_GET_PODS: RbacResourceRule = { verbs: ['get'], apiGroups: [''], resources: ['pods'] };

interface Case {
  readonly rules: unknown[];
  readonly reviews: Record<string, RulesReview>;
  readonly podNamespace?: string;
  readonly expected: string[];
}

const CASES: Record<string, Case> = {
  'a rule RBAC covers exactly': {
    rules: [GET_PODS],
    reviews: { 'team-a': review([RBAC_GET_PODS]) },
    expected: [],
  },
  'a one-part rule RBAC refuses': {
    rules: [GET_PODS],
    reviews: { 'team-a': review([]) },
    expected: [`policy rule rules[0] allows get on pods in team-a${NOT}`],
  },
  'a rule RBAC refuses entirely is one warning': {
    rules: [
      {
        name: 'observe',
        verbs: ['get', 'list'],
        apiGroups: [''],
        resources: ['pods', 'configmaps'],
        namespaces: ['team-a'],
      },
    ],
    reviews: { 'team-a': review([{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }]) },
    expected: [
      `policy rule "observe" (rules[0]) allows get, list on pods, configmaps in team-a${NONE}`,
      `the service account's RBAC grants get on secrets in team-a, ${NARROW} (RBAC rule verbs: [get], apiGroups: [""], resources: [secrets])`,
    ],
  },
  'a partly covered rule: one warning per refused verb × resource': {
    rules: [
      {
        name: 'observe',
        verbs: ['get', 'list', 'watch'],
        apiGroups: [''],
        resources: ['pods', 'configmaps'],
        namespaces: ['team-a'],
      },
    ],
    reviews: {
      'team-a': review([
        { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] },
        { verbs: ['get'], apiGroups: [''], resources: ['configmaps'] },
      ]),
    },
    expected: [
      `policy rule "observe" (rules[0]) allows list on configmaps in team-a${NOT}`,
      `policy rule "observe" (rules[0]) allows watch on configmaps in team-a${NOT}`,
    ],
  },
  'RBAC * verbs cover any verb, and are reported when the policy does not use *': {
    rules: [{ ...GET_PODS, verbs: ['get', 'delete'] }],
    reviews: { 'team-a': review([{ verbs: ['*'], apiGroups: [''], resources: ['pods'] }]) },
    expected: [
      `the service account's RBAC grants every verb (*) on pods in team-a, ${NARROW} (RBAC rule verbs: [*], apiGroups: [""], resources: [pods])`,
    ],
  },
  'RBAC * apiGroups cover any group': {
    rules: [{ verbs: ['create'], apiGroups: ['batch'], resources: ['jobs'], namespaces: ['team-a'] }],
    reviews: { 'team-a': review([{ verbs: ['create'], apiGroups: ['*'], resources: ['jobs'] }]) },
    expected: [],
  },
  'RBAC * resources cover any resource and subresource, and are reported': {
    rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'pods/log'], namespaces: ['team-a'] }],
    reviews: { 'team-a': review([{ verbs: ['get'], apiGroups: [''], resources: ['*'] }]) },
    expected: [
      `the service account's RBAC grants get on every resource (*) in team-a, ${NARROW} (RBAC rule verbs: [get], apiGroups: [""], resources: [*])`,
    ],
  },
  'a policy * verb is covered only by RBAC *': {
    rules: [{ ...GET_PODS, verbs: ['*'] }],
    reviews: {
      'team-a': review([
        {
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
          apiGroups: [''],
          resources: ['pods'],
        },
      ]),
    },
    expected: [`policy rule rules[0] allows * on pods in team-a${NOT}`],
  },
  'a wildcard the policy itself uses is not reported': {
    rules: [{ ...GET_PODS, verbs: ['*'] }],
    reviews: { 'team-a': review([{ verbs: ['*'], apiGroups: [''], resources: ['pods'] }]) },
    expected: [],
  },
  'a resource does not cover its subresources': {
    rules: [{ ...GET_PODS, resources: ['pods/log'] }],
    reviews: { 'team-a': review([RBAC_GET_PODS]) },
    expected: [`policy rule rules[0] allows get on pods/log in team-a${NOT}`],
  },
  'RBAC */log covers pods/log': {
    rules: [{ ...GET_PODS, resources: ['pods/log'] }],
    reviews: { 'team-a': review([{ verbs: ['get'], apiGroups: [''], resources: ['*/log'] }]) },
    expected: [],
  },
  "the policy's pods/* is not covered by named RBAC subresources": {
    rules: [{ ...GET_PODS, resources: ['pods/*'] }],
    reviews: { 'team-a': review([{ verbs: ['get'], apiGroups: [''], resources: ['pods/log', 'pods/status'] }]) },
    expected: [`policy rule rules[0] allows get on pods/* in team-a${NOT}`],
  },
  'named groups and subresources are spelled as kubectl does': {
    rules: [
      { verbs: ['update'], apiGroups: ['apps'], resources: ['deployments/scale'], namespaces: ['team-a'] },
      { verbs: ['create'], apiGroups: ['batch'], resources: ['jobs'], namespaces: ['team-a'] },
    ],
    reviews: { 'team-a': review([]) },
    expected: [
      `policy rule rules[0] allows update on deployments.apps/scale in team-a${NOT}`,
      `policy rule rules[1] allows create on jobs.batch in team-a${NOT}`,
    ],
  },
  'resourceNames the RBAC rule also names are covered': {
    rules: [{ ...GET_PODS, resourceNames: ['web'] }],
    reviews: { 'team-a': review([{ ...RBAC_GET_PODS, resourceNames: ['web', 'db'] }]) },
    expected: [],
  },
  'resourceNames are covered by an RBAC rule for all names': {
    rules: [{ ...GET_PODS, resourceNames: ['web'] }],
    reviews: { 'team-a': review([RBAC_GET_PODS]) },
    expected: [],
  },
  'resourceNames are refused when RBAC names only some of them': {
    rules: [{ ...GET_PODS, resources: ['configmaps'], resourceNames: ['web', 'api'] }],
    reviews: {
      'team-a': review([{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['web'] }]),
    },
    expected: [`policy rule rules[0] allows get on configmaps named "web", "api" in team-a${NOT}`],
  },
  'resourceNames may be covered by several RBAC rules together': {
    rules: [{ ...GET_PODS, resourceNames: ['web', 'api'] }],
    reviews: {
      'team-a': review([
        { ...RBAC_GET_PODS, resourceNames: ['web'] },
        { ...RBAC_GET_PODS, resourceNames: ['api'] },
      ]),
    },
    expected: [],
  },
  'a rule for all names is not covered by RBAC for some names': {
    rules: [GET_PODS],
    reviews: { 'team-a': review([{ ...RBAC_GET_PODS, resourceNames: ['web'] }]) },
    expected: [`policy rule rules[0] allows get on pods in team-a${NOT}`],
  },
  'nonResourceURLs: exact, prefix and * are covered': {
    rules: [{ verbs: ['get'], nonResourceURLs: ['/version', '/healthz/etcd', '/apis/*', '/metrics'] }],
    reviews: {
      'team-a': review(
        [],
        [
          { verbs: ['get'], nonResourceURLs: ['/version', '/healthz*', '/apis*'] },
          { verbs: ['*'], nonResourceURLs: ['/metrics'] },
        ],
      ),
    },
    expected: [],
  },
  'nonResourceURLs: refused per verb × URL, and a bare prefix does not cover its children': {
    rules: [{ verbs: ['get'], nonResourceURLs: ['/version', '/apis/*', '/openapi/*'] }],
    reviews: { 'team-a': review([], [{ verbs: ['get'], nonResourceURLs: ['/version', '/apis'] }]) },
    expected: [
      `policy rule rules[0] allows get on /apis/*${NOT}`,
      `policy rule rules[0] allows get on /openapi/*${NOT}`,
    ],
  },
  "cluster-scoped rules are judged by default's review": {
    rules: [{ verbs: ['list'], apiGroups: [''], resources: ['namespaces'], namespaces: [''] }],
    reviews: {
      'team-a': review([]),
      default: review([{ verbs: ['list'], apiGroups: [''], resources: ['namespaces'] }]),
    },
    expected: [],
  },
  "cluster-scoped rules are not covered by another namespace's rules": {
    rules: [{ verbs: ['list'], apiGroups: [''], resources: ['namespaces'], namespaces: [''] }],
    reviews: {
      'team-a': review([{ verbs: ['list'], apiGroups: [''], resources: ['namespaces'] }]),
      default: review([]),
    },
    expected: [`policy rule rules[0] allows list on namespaces at the cluster scope${NOT}`],
  },
  "a rule without namespaces is judged in the pod's namespace": {
    rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }],
    reviews: { 'team-a': review([]) },
    expected: [`policy rule rules[0] allows get on pods in team-a${NOT}`],
  },
  'a rule without namespaces is skipped when the pod namespace is unknown': {
    rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }],
    reviews: { default: review([]) },
    podNamespace: '',
    expected: [],
  },
  'each namespace is judged by its own review': {
    rules: [{ ...GET_PODS, namespaces: ['team-a', 'team-b', ''] }],
    reviews: { 'team-a': review([RBAC_GET_PODS]), 'team-b': review([]), default: review([]) },
    expected: [
      `policy rule rules[0] allows get on pods in team-b${NOT}`,
      `policy rule rules[0] allows get on pods at the cluster scope${NOT}`,
    ],
  },
  'reading secrets the policy never reads is reported': {
    rules: [GET_PODS],
    reviews: {
      'team-a': review([
        RBAC_GET_PODS,
        { verbs: ['get', 'list', 'watch', 'create'], apiGroups: [''], resources: ['secrets', 'configmaps'] },
      ]),
    },
    expected: [
      `the service account's RBAC grants get, list, watch on secrets in team-a, ${NARROW} (RBAC rule verbs: [get, list, watch, create], apiGroups: [""], resources: [secrets, configmaps])`,
    ],
  },
  'reading secrets the policy reads is not reported': {
    rules: [{ ...GET_PODS, resources: ['secrets'], resourceNames: ['tls'] }],
    reviews: { 'team-a': review([{ verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets'] }]) },
    expected: [],
  },
  'exec and attach the policy never uses are reported; what it uses is not': {
    rules: [{ ...GET_PODS, verbs: ['create'], resources: ['pods/exec'] }],
    reviews: {
      'team-a': review([{ verbs: ['create', 'get'], apiGroups: [''], resources: ['pods/exec', 'pods/attach'] }]),
    },
    expected: [
      `the service account's RBAC grants create, get on pods/attach in team-a, ${NARROW} (RBAC rule verbs: [create, get], apiGroups: [""], resources: [pods/exec, pods/attach])`,
    ],
  },
  'proxy subresources, the proxy verb, impersonate, escalate and bind are reported': {
    rules: [GET_PODS],
    reviews: {
      'team-a': review([
        RBAC_GET_PODS,
        { verbs: ['get', 'create'], apiGroups: [''], resources: ['services/proxy', '*/proxy'] },
        { verbs: ['proxy'], apiGroups: [''], resources: ['nodes'] },
        { verbs: ['impersonate'], apiGroups: [''], resources: ['serviceaccounts'], resourceNames: ['admin'] },
        { verbs: ['escalate', 'bind'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'] },
      ]),
    },
    expected: [
      `the service account's RBAC grants get, create on services/proxy, */proxy in team-a, ${NARROW} (RBAC rule verbs: [get, create], apiGroups: [""], resources: [services/proxy, */proxy])`,
      `the service account's RBAC grants proxy on nodes in team-a, ${NARROW} (RBAC rule verbs: [proxy], apiGroups: [""], resources: [nodes])`,
      `the service account's RBAC grants impersonate on serviceaccounts in team-a, ${NARROW} (RBAC rule verbs: [impersonate], apiGroups: [""], resources: [serviceaccounts], resourceNames: [admin])`,
      `the service account's RBAC grants escalate, bind on roles in team-a, ${NARROW} (RBAC rule verbs: [escalate, bind], apiGroups: [rbac.authorization.k8s.io], resources: [roles])`,
    ],
  },
  'a power verb the policy uses is not reported, the others are': {
    rules: [
      GET_PODS,
      { verbs: ['bind'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], namespaces: ['team-a'] },
    ],
    reviews: {
      'team-a': review([
        RBAC_GET_PODS,
        { verbs: ['escalate', 'bind'], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'] },
      ]),
    },
    expected: [
      `the service account's RBAC grants escalate on roles in team-a, ${NARROW} (RBAC rule verbs: [escalate, bind], apiGroups: [rbac.authorization.k8s.io], resources: [roles])`,
    ],
  },
  'a proxy subresource the policy uses is not reported': {
    rules: [{ ...GET_PODS, resources: ['services/proxy'] }],
    reviews: { 'team-a': review([{ verbs: ['get'], apiGroups: [''], resources: ['*/proxy'] }]) },
    expected: [],
  },
  'cluster-admin: one warning per rule, naming every namespace it shows up in': {
    rules: [{ ...GET_PODS, namespaces: ['team-a', 'team-b'] }],
    reviews: {
      'team-a': review([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]),
      'team-b': review([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]),
    },
    expected: [
      `the service account's RBAC grants every verb (*) on every resource (*) in team-a, team-b, ${NARROW} (RBAC rule verbs: [*], apiGroups: [*], resources: [*])`,
    ],
  },
  'an incomplete review is said first': {
    rules: [GET_PODS],
    reviews: {
      'team-a': {
        resourceRules: [],
        nonResourceRules: [],
        incomplete: true,
        evaluationError: 'webhook authorizer does not list rules',
      },
    },
    expected: [
      "the API server's rules review for team-a is incomplete (webhook authorizer does not list rules): the RBAC check may be incomplete, and another authorizer may allow what is reported as refused here",
      `policy rule rules[0] allows get on pods in team-a${NOT}`,
    ],
  },
  'parts whose namespace has no review are not judged': {
    rules: [{ ...GET_PODS, namespaces: ['team-b'] }],
    reviews: { 'team-a': review([]) },
    expected: [],
  },
};

describe('compareWithRbac', () => {
  it.each(Object.entries(CASES))('%s', (_name, { rules, reviews, podNamespace, expected }) => {
    const pod = podNamespace === '' ? undefined : (podNamespace ?? 'team-a');
    expect(compareWithRbac(policyOf(rules), new Map(Object.entries(reviews)), pod)).toEqual(expected);
  });
});

describe('namespacesToReview', () => {
  it.each<[string, unknown[], string | undefined, string[]]>([
    [
      "the pod's namespace first, then the policy's, cluster scope as default",
      [{ ...GET_PODS, namespaces: ['team-b', '', 'team-a'] }],
      'team-a',
      ['team-a', 'team-b', 'default'],
    ],
    [
      "$(POD_NAMESPACE) is the pod's namespace",
      [{ ...GET_PODS, namespaces: ['$(POD_NAMESPACE)'] }],
      'team-a',
      ['team-a'],
    ],
    [
      'default alone when nothing names a namespace',
      [{ verbs: ['get'], nonResourceURLs: ['/version'] }],
      undefined,
      ['default'],
    ],
  ])('%s', (_name, rules, podNamespace, expected) => {
    expect(namespacesToReview(policyOf(rules, podNamespace), podNamespace)).toEqual(expected);
  });
});

describe('userInfoOf: the SelfSubjectReview answer, as the audit user', () => {
  it.each<[string, unknown, UserInfo | undefined]>([
    [
      'a service account',
      {
        status: {
          userInfo: {
            username: 'system:serviceaccount:a:b',
            uid: 'u-1',
            groups: ['system:authenticated'],
            extra: { x: ['y'] },
          },
        },
      },
      { username: 'system:serviceaccount:a:b', uid: 'u-1', groups: ['system:authenticated'] },
    ],
    ['no uid nor groups', { status: { userInfo: { username: 'alice' } } }, { username: 'alice' }],
    [
      'an empty uid and no groups',
      { status: { userInfo: { username: 'alice', uid: '', groups: [] } } },
      { username: 'alice' },
    ],
    ['no username', { status: { userInfo: { groups: ['system:authenticated'] } } }, undefined],
    ['not a review', 'Forbidden', undefined],
  ])('%s', (_, answer, expected) => {
    expect(userInfoOf(answer)).toEqual(expected);
  });
});
