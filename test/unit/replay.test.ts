import fc from 'fast-check';
import { load as parseYaml } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/history/apiserver-event.ts';
import { RecordedLog, type RecordedLogSummary } from '../../src/history/recorded-log.ts';
import { ApiServerLearner, renderApiServerPolicy } from '../../src/history/apiserver-learn.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { type Policy } from '../../src/policy/policy.ts';
import { Replayer, type ReplayResult } from '../../src/history/replay.ts';
import { chooseUser } from '../../src/cli/audit-input.ts';
import {
  apiServerEvent,
  apiServerLine,
  recordedAs,
  SERVICE_ACCOUNT,
  type EventSpec,
} from '../support/apiserver-audit.ts';

const OTHER_ACCOUNT = 'system:serviceaccount:team-b:reporter';

function readLog(
  lines: readonly string[],
  user: string | undefined,
  onEvent: (event: RecordedEvent) => void,
): RecordedLogSummary {
  const log = new RecordedLog(onEvent, user);
  for (const line of lines) log.read(line);
  return log.finish();
}

function learn(lines: readonly string[]): string {
  const learner = new ApiServerLearner();
  const summary = readLog(lines, SERVICE_ACCOUNT, (event) => learner.learn(event));
  return renderApiServerPolicy(summary, learner.finish(), SERVICE_ACCOUNT, 'team-a', 'audit.log');
}

function policyOf(yaml: string): Policy {
  const compiled = compilePolicy(parseYaml(yaml), 'policy.yaml', 'team-a');
  if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
  return compiled.value.policy;
}

function replay(policy: Policy, lines: readonly string[], user = SERVICE_ACCOUNT): ReplayResult {
  const replayer = new Replayer(policy);
  readLog(lines, user, (event) => replayer.replay(event));
  return replayer.finish();
}

function line(method: string, uri: string, spec: Partial<EventSpec> = {}): string {
  return apiServerLine({ ...recordedAs(method, uri), ...spec });
}

describe("learning from kube-apiserver's audit log", () => {
  const log = [
    line('GET', '/api/v1/namespaces/team-a/pods?limit=500'),
    line('GET', '/api/v1/namespaces/team-a/pods?watch=true', { stage: 'ResponseStarted' }),
    line('GET', '/api/v1/namespaces/team-a/pods/web-0/exec?command=date&container=main&stdout=true'),
    line('PUT', '/api/v1/namespaces/team-a/services/web'),
    line('GET', '/api/v1/nodes'),
    line('GET', '/version'),
    line('GET', '/api/v1/namespaces/kube-system/secrets/admin', { decision: 'forbid' }),
    line('GET', '/api/v1/namespaces/team-a/secrets/db', { impersonatedUser: 'jane@example.com' }),
    line('GET', '/api/v1/namespaces/team-a/configmaps/x', { decision: null, code: 401 }),
    line('DELETE', '/api/v1/namespaces/team-b/configmaps/x', { user: OTHER_ACCOUNT }),
  ];

  it('learns the allowed requests of --user, with the verbs the ambassador checks, and lists what it left out', () => {
    const yaml = learn(log);
    expect((parseYaml(yaml) as { rules: unknown[] }).rules).toEqual([
      { verbs: ['list', 'watch'], apiGroups: [''], resources: ['pods'], namespaces: ['$(POD_NAMESPACE)'] },
      { verbs: ['get', 'create'], apiGroups: [''], resources: ['pods/exec'], namespaces: ['$(POD_NAMESPACE)'] },
      { verbs: ['create', 'update'], apiGroups: [''], resources: ['services'], namespaces: ['$(POD_NAMESPACE)'] },
      { verbs: ['list'], apiGroups: [''], resources: ['nodes'], namespaces: [''] },
      { verbs: ['get'], nonResourceURLs: ['/version'] },
    ]);
    expect(yaml).toContain(
      '# 10 audit events, 2026-11-30T09:14:02.118204Z to 2026-11-30T09:14:02.121977Z: 9 requests of system:serviceaccount:team-a:analytics, 1 request of 1 other user.',
    );
    expect(yaml).toContain('still open when the log ended');
    expect(yaml).toContain(
      '#   1 × get on resource "secrets" in API group "" in the namespace "kube-system": forbidden',
    );
    expect(yaml).toContain(
      '#   1 × get on resource "secrets" in API group "" in the namespace "team-a": made as jane@example.com (Impersonate-User)',
    );
    expect(yaml).toContain('1 request without an authorization decision');
  });

  it('replays its own log with nothing refused, and refuses the requests of other accounts', () => {
    const policy = policyOf(learn(log));
    expect(replay(policy, log)).toMatchObject({
      decided: 6,
      allowed: 6,
      refused: 0,
      recordedRefused: 1,
      impersonated: 1,
      undecided: 1,
    });
    expect(replay(policy, log, OTHER_ACCOUNT)).toMatchObject({
      decided: 1,
      refused: 1,
      groups: [
        {
          verb: 'delete',
          resource: 'configmaps',
          namespace: 'team-b',
          count: 1,
          exampleUri: '/api/v1/namespaces/team-b/configmaps/x',
          rule: undefined,
          condition: 'no rule allows it',
        },
      ],
    });
  });
});

const CONDITIONS = `
rules:
  - name: date-only
    verbs: [create]
    apiGroups: [""]
    resources: [pods/exec]
    namespaces: [team-a]
    when: { commands: [[date]] }
  - name: dry-deletes
    verbs: [delete, patch]
    apiGroups: [""]
    resources: [configmaps]
    when: { dryRun: true }
  - name: patch-deployments
    verbs: [patch]
    apiGroups: [apps]
    resources: [deployments]
`;

describe('replaying a log against a policy', () => {
  const policy = policyOf(CONDITIONS);

  it.each<[string, string, Partial<ReplayResult>]>([
    [
      'an exec of an allowed command',
      line('POST', '/api/v1/namespaces/team-a/pods/web/exec?command=date&stdout=true'),
      { allowed: 1, refused: 0 },
    ],
    [
      'an exec of another command: the closest rule and its condition',
      line('POST', '/api/v1/namespaces/team-a/pods/web/exec?command=sh&command=-c&command=id&stdout=true'),
      {
        refused: 1,
        groups: [
          expect.objectContaining({
            verb: 'create',
            resource: 'pods/exec',
            rule: '"date-only" (rules[0])',
            condition: 'only the commands ["date"]',
            caveat: undefined,
          }) as never,
        ],
      },
    ],
    [
      'a WebSocket exec, also decided for get',
      line('GET', '/api/v1/namespaces/team-a/pods/web/exec?command=date&stdout=true'),
      {
        refused: 1,
        groups: [expect.objectContaining({ verb: 'get', rule: undefined, condition: 'no rule allows it' }) as never],
      },
    ],
    [
      'a delete at level Metadata, decided without its body',
      line('DELETE', '/api/v1/namespaces/team-a/configmaps/settings'),
      {
        refused: 1,
        groups: [
          expect.objectContaining({ verb: 'delete', rule: '"dry-deletes" (rules[1])', caveat: 'delete-body' }) as never,
        ],
      },
    ],
    [
      'a delete at level Request, decided on its DeleteOptions',
      line('DELETE', '/api/v1/namespaces/team-a/configmaps/settings', {
        level: 'Request',
        requestObject: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', dryRun: ['All'] },
      }),
      { allowed: 1, refused: 0, uncertainAllowed: new Map() },
    ],
    [
      'a patch that, were it an apply, would need create',
      line('PATCH', '/apis/apps/v1/namespaces/team-a/deployments/web'),
      { allowed: 1, uncertainAllowed: new Map([['apply-patch', 1]]) },
    ],
    [
      'a target the ambassador refuses',
      apiServerLine({
        verb: 'get',
        uri: '/api/v1/namespaces/team-a/pods/a%2Fb',
        objectRef: { resource: 'pods', namespace: 'team-a', name: 'a/b', apiVersion: 'v1' },
      }),
      {
        refused: 1,
        groups: [
          expect.objectContaining({
            verb: 'get',
            resource: 'pods',
            condition: expect.stringMatching(/^refused with 400: /) as never,
          }) as never,
        ],
      },
    ],
    [
      'a request the API server forbade: not decided',
      line('GET', '/api/v1/namespaces/team-a/secrets', { decision: 'forbid' }),
      { decided: 0, recordedRefused: 1, refused: 0 },
    ],
  ])('%s', (_, event, expected) => {
    expect(replay(policy, [event])).toMatchObject(expected);
  });

  it('groups refusals by verb, resource, namespace, rule and condition, the commonest first', () => {
    const result = replay(policy, [
      line('GET', '/api/v1/namespaces/team-a/secrets/a'),
      line('GET', '/api/v1/namespaces/team-a/secrets/b'),
      line('GET', '/api/v1/namespaces/team-b/secrets/a'),
      line('GET', '/api/v1/namespaces/team-a/secrets/c'),
    ]);
    expect(result.groups.map((group) => [group.namespace, group.count, group.exampleUri])).toEqual([
      ['team-a', 3, '/api/v1/namespaces/team-a/secrets/a'],
      ['team-b', 1, '/api/v1/namespaces/team-b/secrets/a'],
    ]);
  });
});

const GROUPS = [
  ['', 'v1'],
  ['batch', 'v1'],
  ['apps', 'v1'],
  ['example.com', 'v1alpha1'],
] as const;
const resourceRequest = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE'),
    group: fc.constantFrom(...GROUPS),
    namespace: fc.constantFrom('team-a', 'team-b', ''),
    resource: fc.constantFrom('pods', 'configmaps', 'jobs', 'services', 'leases', 'widgets'),
    name: fc.constantFrom('', 'web', 'report'),
    subresource: fc.constantFrom('', '', 'status', 'log', 'scale'),
    query: fc.constantFrom(
      '',
      'watch=1',
      'limit=5',
      'labelSelector=app%3Dweb',
      'dryRun=All',
      'fieldSelector=metadata.name%3Dweb',
    ),
  })
  .map(({ method, group: [group, version], namespace, resource, name, subresource, query }) => {
    const prefix = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    const scope = namespace === '' ? '' : `/namespaces/${namespace}`;
    const object = name === '' ? '' : `/${name}${subresource === '' ? '' : `/${subresource}`}`;
    return [method, `${prefix}${scope}/${resource}${object}${query === '' ? '' : `?${query}`}`] as const;
  });
const otherRequest = fc.constantFrom<readonly [string, string]>(
  ['GET', '/api/v1/namespaces/team-a/pods/web/exec?command=date&stdout=true'],
  ['POST', '/api/v1/namespaces/team-a/pods/web/attach?stdout=true'],
  ['GET', '/version'],
  ['GET', '/apis'],
  ['GET', '/openapi/v3/apis/apps/v1'],
  ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
);
const recordedRequest = fc.record({
  request: fc.oneof(resourceRequest, otherRequest),
  decision: fc.constantFrom<'allow' | 'forbid'>('allow', 'allow', 'allow', 'forbid'),
  stage: fc.constantFrom<'ResponseComplete' | 'ResponseStarted' | 'Panic'>(
    'ResponseComplete',
    'ResponseComplete',
    'ResponseStarted',
    'Panic',
  ),
});

describe('a policy learned from a log', () => {
  it('replays that log with nothing refused, and refuses what other accounts did on resources it never used', () => {
    fc.assert(
      fc.property(fc.array(recordedRequest, { minLength: 1, maxLength: 40 }), (requests) => {
        const lines = requests.map(({ request: [method, uri], decision, stage }) =>
          line(method, uri, { decision, stage }),
        );
        const others = [
          line('GET', '/api/v1/namespaces/team-a/secrets/db', { user: OTHER_ACCOUNT }),
          line('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/view', { user: OTHER_ACCOUNT }),
        ];
        const policy = policyOf(learn([...lines, ...others]));
        expect(replay(policy, lines).refused).toBe(0);
        expect(replay(policy, others, OTHER_ACCOUNT)).toMatchObject({ decided: 2, refused: 2 });
      }),
      { numRuns: 200 },
    );
  });
});

describe("replaying the ambassador's own log", () => {
  /** The ambassador's event for the same request: its own decision annotation, no authorization one. */
  function ambassadorLine(method: string, uri: string, decision: string): string {
    return JSON.stringify({
      ...apiServerEvent({ ...recordedAs(method, uri) }),
      annotations: { 'kube-api-ambassador/decision': decision },
    });
  }

  it('decides what it let through (allow, would_deny, throttled), not what it refused, and takes no --user', () => {
    const lines = [
      ambassadorLine('GET', '/api/v1/namespaces/team-a/pods', 'would_deny'),
      ambassadorLine('GET', '/api/v1/namespaces/team-a/secrets', 'throttled'),
      ambassadorLine('GET', '/version', 'allow'),
      ambassadorLine('GET', '/api/v1/namespaces/team-a/configmaps', 'deny'),
    ];
    const replayer = new Replayer(policyOf('rules: [{ verbs: [list], apiGroups: [""], resources: [pods] }]'));
    const summary = readLog(lines, undefined, (event) => replayer.replay(event));
    expect(replayer.finish()).toMatchObject({ decided: 3, allowed: 1, refused: 2, recordedRefused: 1 });
    expect(chooseUser(summary, undefined, 'audit.log')).toEqual({ ok: true, value: '' });
    expect(chooseUser(summary, SERVICE_ACCOUNT, 'audit.log')).toMatchObject({
      ok: false,
      problem: {
        exit: 2,
        message: expect.stringContaining("--user chooses a user in kube-apiserver's audit log") as unknown,
      },
    });
  });
});
