import fc from 'fast-check';
import { load as parseYaml } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  AuditLogReader,
  learnRules,
  parseAuditLine,
  renderLearnedPolicy,
  type AuditLogSummary,
} from '../../src/history/learn.ts';
import type { LearnedRule } from '../../src/history/learn-render.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest, type Policy } from '../../src/policy/policy.ts';
import { isStreamingSubresource, resolveAttributes, type RequestAttributes } from '../../src/request/attributes.ts';
import { parseRequestTarget } from '../../src/request/target.ts';
import { resolveTarget } from '../../src/request/resolve.ts';
import { objectRefOf } from '../support/apiserver-audit.ts';

type Decision = 'allow' | 'deny' | 'would_deny' | 'invalid' | 'throttled';

interface EventSpec {
  readonly decision?: Decision;
  readonly stage?: 'ResponseStarted' | 'ResponseComplete' | 'Panic';
  readonly id?: string;
  readonly reason?: string;
  readonly at?: string;
}

let nextId = 0;

/** An audit event line for METHOD TARGET, with the attributes the ambassador resolves for it. */
function event(method: string, target: string, spec: EventSpec = {}): string {
  const parsed = parseRequestTarget(target);
  const attributes = parsed.ok ? resolveAttributes(method, parsed.value) : undefined;
  const at = spec.at ?? '2026-11-22T03:41:12.104000Z';
  const objectRef = attributes?.isResourceRequest === true ? objectRefOf(attributes) : undefined;
  return JSON.stringify({
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: spec.id ?? `id-${nextId++}`,
    stage: spec.stage ?? 'ResponseComplete',
    requestURI: target,
    verb: attributes?.verb ?? method.toLowerCase(),
    user: { username: 'system:serviceaccount:team-a:app' },
    sourceIPs: ['127.0.0.1'],
    ...(objectRef === undefined ? {} : { objectRef }),
    requestReceivedTimestamp: at,
    stageTimestamp: at,
    annotations: {
      'kube-api-ambassador/decision': spec.decision ?? 'allow',
      ...(spec.reason === undefined ? {} : { 'kube-api-ambassador/reason': spec.reason }),
    },
  });
}

function summarize(lines: readonly string[]): AuditLogSummary {
  const reader = new AuditLogReader();
  for (const line of lines) reader.read(line);
  return reader.finish();
}

function learn(lines: readonly string[], podNamespace?: string): LearnedRule[] {
  return learnRules(summarize(lines), podNamespace);
}

function compiled(yaml: string, podNamespace = 'team-a'): Policy {
  const result = compilePolicy(parseYaml(yaml), 'learned.yaml', podNamespace);
  if (!result.ok) throw new Error(result.problem.join('\n'));
  return result.value.policy;
}

function allows(policy: Policy, method: string, target: string, isUpgrade = false): boolean {
  const resolved = resolveTarget(method, target);
  if (!resolved.ok) throw new Error(resolved.problem.message);
  return decideRequest(policy, resolved.value, isUpgrade).allowed;
}

const rule = (
  verbs: string[],
  apiGroups: string[],
  resources: string[],
  namespaces: string[],
  requests: number,
): LearnedRule => ({
  verbs,
  apiGroups,
  resources,
  namespaces,
  requests,
});

describe('parseAuditLine: events are read, everything else is told apart', () => {
  it.each<[string, string, ReturnType<typeof parseAuditLine>['kind'], string?]>([
    ['a blank line', '   ', 'blank'],
    ['an operational pino line', '{"level":"info","time":"2026-11-22T03:41:12.104Z","msg":"serving"}', 'operational'],
    ['a line that is not JSON', '{"kind":"Event","auditID":"trunc', 'malformed', 'not JSON'],
    ['a JSON array', '[1,2]', 'malformed', 'not a JSON object'],
    [
      'an event without a verb',
      '{"kind":"Event","auditID":"a","stage":"ResponseComplete","requestURI":"/version","annotations":{"kube-api-ambassador/decision":"allow"}}',
      'malformed',
      'an event without verb',
    ],
    [
      'an event with an unknown decision',
      '{"kind":"Event","auditID":"a","stage":"ResponseComplete","requestURI":"/version","verb":"get","annotations":{"kube-api-ambassador/decision":"maybe"}}',
      'malformed',
      'an event without a known kube-api-ambassador/decision annotation',
    ],
    [
      'an event with an objectRef but no resource',
      '{"kind":"Event","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","objectRef":{"namespace":"x"},"annotations":{"kube-api-ambassador/decision":"allow"}}',
      'malformed',
      'an objectRef without a resource',
    ],
    [
      'a RequestResponse event with bodies and unknown fields',
      JSON.stringify({
        ...JSON.parse(event('POST', '/api/v1/namespaces/x/configmaps')),
        level: 'RequestResponse',
        requestObject: { kind: 'ConfigMap' },
        responseObject: { kind: 'ConfigMap' },
        somethingNew: [1],
      }),
      'event',
    ],
  ])('%s', (_, text, kind, problem) => {
    const line = parseAuditLine(text);
    expect(line.kind).toBe(kind);
    if (problem !== undefined) expect(line).toEqual({ kind, problem });
  });
});

describe('learnRules: the fewest rules that allow exactly what the log used', () => {
  it.each<[string, string[], LearnedRule[], string?]>([
    [
      'verbs on one resource are merged',
      [
        event('GET', '/api/v1/namespaces/team-b/pods'),
        event('GET', '/api/v1/namespaces/team-b/pods?watch=1'),
        event('GET', '/api/v1/namespaces/team-b/pods/web'),
        event('GET', '/api/v1/namespaces/team-b/pods/db'),
      ],
      [rule(['get', 'list', 'watch'], [''], ['pods'], ['team-b'], 4)],
    ],
    [
      'resources used with the same verbs share a rule; other verbs get their own',
      [
        event('GET', '/api/v1/namespaces/x/pods'),
        event('GET', '/api/v1/namespaces/x/configmaps'),
        event('POST', '/api/v1/namespaces/x/configmaps'),
        event('GET', '/api/v1/namespaces/x/services'),
      ],
      [rule(['list', 'create'], [''], ['configmaps'], ['x'], 2), rule(['list'], [''], ['pods', 'services'], ['x'], 2)],
    ],
    [
      'a subresource is its own resource',
      [
        event('GET', '/api/v1/namespaces/x/pods/web'),
        event('GET', '/api/v1/namespaces/x/pods/web/log?follow=true'),
        event('PUT', '/apis/apps/v1/namespaces/x/deployments/web/scale'),
      ],
      [
        rule(['get'], [''], ['pods', 'pods/log'], ['x'], 2),
        rule(['update'], ['apps'], ['deployments/scale'], ['x'], 1),
      ],
    ],
    [
      'an update of a resource that creates on update is learned with create, which the policy then checks too',
      [
        event('PUT', '/apis/coordination.k8s.io/v1/namespaces/x/leases/leader'),
        event('PUT', '/api/v1/namespaces/x/configmaps/c'),
      ],
      [
        rule(['update'], [''], ['configmaps'], ['x'], 1),
        rule(['create', 'update'], ['coordination.k8s.io'], ['leases'], ['x'], 1),
      ],
    ],
    [
      'the same resources and verbs in several namespaces share a rule',
      [
        event('GET', '/api/v1/namespaces/b/pods'),
        event('GET', '/api/v1/namespaces/a/pods'),
        event('GET', '/api/v1/namespaces/c/pods/web'),
      ],
      [rule(['list'], [''], ['pods'], ['a', 'b'], 2), rule(['get'], [''], ['pods'], ['c'], 1)],
    ],
    [
      'cluster-scoped resources have the namespace "" (and a namespace object is in its own namespace)',
      [
        event('GET', '/api/v1/nodes'),
        event('GET', '/api/v1/namespaces'),
        event('GET', '/api/v1/namespaces/team-a'),
        event('GET', '/apis/storage.k8s.io/v1/storageclasses'),
      ],
      [
        rule(['get'], [''], ['namespaces'], ['team-a'], 1),
        rule(['list'], [''], ['namespaces', 'nodes'], [''], 2),
        rule(['list'], ['storage.k8s.io'], ['storageclasses'], [''], 1),
      ],
    ],
    [
      'groups are merged only when their resources, verbs and namespaces are the same',
      [
        event('GET', '/apis/apps/v1/namespaces/x/deployments'),
        event('GET', '/apis/extensions/v1beta1/namespaces/x/deployments'),
        event('GET', '/apis/batch/v1/namespaces/x/jobs'),
      ],
      [
        rule(['list'], ['apps', 'extensions'], ['deployments'], ['x'], 2),
        rule(['list'], ['batch'], ['jobs'], ['x'], 1),
      ],
    ],
    [
      'the pod namespace becomes $(POD_NAMESPACE), listed first',
      [event('GET', '/api/v1/namespaces/other/pods'), event('GET', '/api/v1/namespaces/team-a/pods')],
      [rule(['list'], [''], ['pods'], ['$(POD_NAMESPACE)', 'other'], 2)],
      'team-a',
    ],
    [
      'a WebSocket exec (a GET) needs create too; a SPDY exec is a create',
      [
        event('GET', '/api/v1/namespaces/x/pods/web/exec?command=ls'),
        event('POST', '/api/v1/namespaces/x/pods/web/attach?stdout=1'),
      ],
      [rule(['create'], [''], ['pods/attach'], ['x'], 1), rule(['get', 'create'], [''], ['pods/exec'], ['x'], 1)],
    ],
    [
      'non-resource URLs: decoded, without the query, one rule per set of verbs',
      [
        event('GET', '/version?timeout=32s'),
        event('GET', '/apis'),
        event('HEAD', '/version'),
        event('GET', '/logs/a%20b'),
        event('GET', '/openapi/v3/apis/apps/v1'),
        event('GET', '/api'),
      ],
      [
        { verbs: ['get'], nonResourceURLs: ['/api', '/apis', '/logs/a b', '/openapi/v3/apis/apps/v1'], requests: 4 },
        { verbs: ['get', 'head'], nonResourceURLs: ['/version'], requests: 2 },
      ],
    ],
    [
      'allow, would_deny and throttled are learned; deny and invalid are not',
      [
        event('GET', '/api/v1/namespaces/x/pods', { decision: 'allow' }),
        event('GET', '/api/v1/namespaces/x/secrets', { decision: 'would_deny' }),
        event('GET', '/api/v1/namespaces/x/events', { decision: 'throttled' }),
        event('DELETE', '/api/v1/namespaces/x/pods/web', { decision: 'deny' }),
        event('GET', '/api/v1/namespaces/x/pods/%2e%2e', { decision: 'invalid' }),
      ],
      [rule(['list'], [''], ['events', 'pods', 'secrets'], ['x'], 3)],
    ],
    [
      'a long-running request counts once; one still open when the log ends counts at ResponseStarted',
      [
        event('GET', '/api/v1/namespaces/x/pods?watch=1', { stage: 'ResponseStarted', id: 'w1' }),
        event('GET', '/api/v1/namespaces/x/pods?watch=1', { stage: 'ResponseComplete', id: 'w1' }),
        event('GET', '/api/v1/namespaces/x/pods/web/log?follow=1', { stage: 'ResponseStarted', id: 'l1' }),
      ],
      [rule(['watch'], [''], ['pods'], ['x'], 1), rule(['get'], [''], ['pods/log'], ['x'], 1)],
    ],
    [
      'a request the ambassador failed on is learned at its Panic event',
      [event('GET', '/api/v1/namespaces/x/pods', { stage: 'Panic' })],
      [rule(['list'], [''], ['pods'], ['x'], 1)],
    ],
    [
      'requests a rule cannot name without a wildcard, or that no rule can name, are not learned',
      [
        event('GET', '/api/v1/namespaces/x/*'),
        event('GET', '/api/v1/namespaces/Team_A/pods'),
        event('OPTIONS', '/api/v1/namespaces/x/pods'),
        event('GET', '/healthz*'),
      ],
      [],
    ],
    ['nothing learned from an empty log', [], []],
  ])('%s', (_, lines, expected, podNamespace) => {
    expect(learn(lines, podNamespace)).toEqual(expected);
  });
});

describe('the learned policy allows exactly the recorded requests (property-based)', () => {
  const VERBS = ['GET', 'POST', 'DELETE', 'PATCH'] as const;
  const GROUPS = ['api/v1', 'apis/apps/v1', 'apis/batch/v1'] as const;
  const RESOURCES = ['pods', 'jobs', 'configmaps', 'pods/web/log', 'deployments/web/scale'] as const;
  const NAMESPACES = ['team-a', 'team-b', ''] as const;
  const URLS = ['/version', '/api', '/apis/apps', '/openapi/v2'] as const;
  const targets = GROUPS.flatMap((group) =>
    NAMESPACES.flatMap((ns) =>
      RESOURCES.map((resource) => `/${group}${ns === '' ? '' : `/namespaces/${ns}`}/${resource}`),
    ),
  );
  const universe = [
    ...VERBS.flatMap((method) => [...targets, ...URLS].map((target) => [method, target] as const)),
    ...targets.map((target) => ['GET', `${target}?watch=1`] as const),
  ];
  const request = fc.constantFrom(...universe);

  /** What a policy decides on: a named object and a collection are the same here (no resourceNames). */
  function decisionKey(attributes: RequestAttributes): string {
    const { isResourceRequest, verb, apiGroup, resource, subresource, namespace, path } = attributes;
    return JSON.stringify(isResourceRequest ? [verb, apiGroup, resource, subresource, namespace] : [verb, path]);
  }

  it('every recorded request is allowed, every other one in the universe refused', () => {
    fc.assert(
      fc.property(
        fc.array(request, { maxLength: 25 }),
        fc.constantFrom(undefined, 'team-a'),
        (recorded, podNamespace) => {
          const summary = summarize(
            recorded.map(([method, target]) => event(method, target, { decision: 'would_deny' })),
          );
          const policy = compiled(renderLearnedPolicy(summary, learnRules(summary, podNamespace), 'audit.log'));
          const seen = new Set(
            recorded.map(([method, target]) => {
              const parsed = parseRequestTarget(target);
              if (!parsed.ok) throw new Error(parsed.problem);
              return decisionKey(resolveAttributes(method, parsed.value));
            }),
          );
          for (const [method, target] of universe) {
            const parsed = parseRequestTarget(target);
            if (!parsed.ok) throw new Error(parsed.problem);
            const attributes = resolveAttributes(method, parsed.value);
            expect(allows(policy, method, target, isStreamingSubresource(attributes)), `${method} ${target}`).toBe(
              seen.has(decisionKey(attributes)),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('renderLearnedPolicy: YAML a person can review', () => {
  it('prints a header and one commented rule per line group', () => {
    const summary = summarize([
      '{"level":"info","msg":"serving","proxy":"127.0.0.1:8001"}',
      event('GET', '/api/v1/namespaces/team-a/pods', { at: '2026-11-22T03:41:12.104000Z' }),
      event('GET', '/api/v1/namespaces/team-a/pods?watch=1', { stage: 'ResponseStarted', id: 'w' }),
      event('GET', '/api/v1/namespaces/team-a/pods?watch=1', {
        stage: 'ResponseComplete',
        id: 'w',
        decision: 'would_deny',
      }),
      event('POST', '/apis/batch/v1/namespaces/team-a/jobs', { decision: 'throttled' }),
      event('GET', '/version', { at: '2026-11-22T09:00:00.000000Z' }),
      event('GET', '/api/v1/namespaces/team-a/pods/%2e%2e', { decision: 'invalid' }),
      event('GET', '/api/v1/namespaces/kube-system/secrets/token', {
        decision: 'deny',
        reason: 'list on … is forbidden:\nno rule allows it',
      }),
      'not json',
    ]);
    expect(renderLearnedPolicy(summary, learnRules(summary, 'team-a'), 'audit.log'))
      .toBe(`# Learned by kube-api-ambassador policy learn from audit.log; review it before enforcing it.
# 7 audit events, 2026-11-22T03:41:12.104000Z to 2026-11-22T09:00:00.000000Z.
# Learned from 4 requests: 2 allowed, 1 would have been denied (--policy-mode log), 1 throttled.
# Skipped: 1 invalid request (no attributes to learn from), 1 ResponseStarted event (each request counts once, at its last stage), 1 operational log line, 1 malformed line (line 9: not JSON).
# resourceNames are never learned: each rule covers every object of its resources. Requests the audit
# log leaves out (by default /healthz, /livez, /readyz and /metrics; more under an --audit-policy) are not learned either.
#
# WARNING: these were denied, so they are NOT in this policy; add a rule by hand if the app needs them:
#   1 × get on resource "secrets" in API group "" in the namespace "kube-system": list on … is forbidden: no rule allows it
rules:
  # 2 requests
  - verbs: [list, watch]
    apiGroups: [""]
    resources: [pods]
    namespaces: ["$(POD_NAMESPACE)"]
  # 1 request
  - verbs: [create]
    apiGroups: [batch]
    resources: [jobs]
    namespaces: ["$(POD_NAMESPACE)"]
  # 1 request
  - verbs: [get]
    nonResourceURLs: [/version]
`);
  });

  it('prints "rules: []" when nothing was learned, and says why', () => {
    const summary = summarize([
      event('GET', '/api/v1/namespaces/x/pods/%2e%2e', { decision: 'invalid' }),
      event('GET', '/api/v1/namespaces/x/*'),
    ]);
    const yaml = renderLearnedPolicy(summary, learnRules(summary, undefined), 'stdin');
    expect(yaml).toMatch(/\nrules: \[\]\n$/);
    expect(yaml).toContain('# Learned from 0 requests');
    expect(yaml).toContain(
      '#   1 × list on resource "*" in API group "" in the namespace "x": a "*" in a policy is a wildcard',
    );
    expect(compiled(yaml).rules).toEqual([]);
  });

  it('lists the first malformed lines by number, and how many there were', () => {
    const summary = summarize(['{', event('GET', '/version'), '{', '[1]', '{', '{', '{', '{']);
    expect(summary.malformedLines).toBe(7);
    expect(renderLearnedPolicy(summary, [], 'audit.log')).toContain(
      '# Skipped: 7 malformed lines (line 1: not JSON, line 3: not JSON, line 4: not a JSON object, line 5: not JSON, line 6: not JSON, …).',
    );
  });

  it.each([['123'], ['on'], ['null'], ['y'], ['team-a']])(
    'quotes what YAML would read as something else: namespace %s',
    (namespace) => {
      const summary = summarize([event('GET', `/api/v1/namespaces/${namespace}/pods`)]);
      const document = parseYaml(renderLearnedPolicy(summary, learnRules(summary, undefined), 'audit.log'));
      expect(document).toEqual({
        rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'], namespaces: [namespace] }],
      });
    },
  );
});
