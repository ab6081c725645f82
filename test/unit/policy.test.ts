import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest, type Policy } from '../../src/policy/policy.ts';
import { parseRequestTarget } from '../../src/request/target.ts';
import { resolveTarget } from '../../src/request/resolve.ts';

function policyOf(rules: unknown[], podNamespace = 'team-a'): Policy {
  const compiled = compilePolicy({ rules }, 'policy.yaml', podNamespace);
  if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
  return compiled.value.policy;
}

function verdict(policy: Policy, method: string, raw: string, isUpgrade = false): 'allow' | 'deny' | 'bad request' {
  const resolved = resolveTarget(method, raw);
  if (!resolved.ok) return 'bad request';
  return decideRequest(policy, resolved.value, isUpgrade).allowed ? 'allow' : 'deny';
}

const JOB_LAUNCHER = policyOf([
  {
    name: 'observe',
    verbs: ['get', 'list', 'watch'],
    apiGroups: [''],
    resources: ['pods', 'configmaps'],
    namespaces: ['$(POD_NAMESPACE)'],
  },
  {
    name: 'launch',
    verbs: ['create', 'get'],
    apiGroups: ['batch'],
    resources: ['jobs'],
    namespaces: ['$(POD_NAMESPACE)'],
  },
  { verbs: ['get'], nonResourceURLs: ['/version', '/healthz*'] },
]);

describe('decide: RBAC-shaped rules, default deny', () => {
  it.each<[string, string, 'allow' | 'deny']>([
    ['GET', '/api/v1/namespaces/team-a/pods', 'allow'],
    ['GET', '/api/v1/namespaces/team-a/pods?watch=1', 'allow'],
    ['GET', '/api/v1/watch/namespaces/team-a/configmaps', 'allow'],
    ['GET', '/api/v1/namespaces/team-a/pods/web', 'allow'],
    ['HEAD', '/api/v1/namespaces/team-a/pods/web', 'allow'],
    ['GET', '/api/v1/namespaces/team-a/pods/web/log', 'deny'], // pods does not cover pods/log
    ['DELETE', '/api/v1/namespaces/team-a/pods/web', 'deny'],
    ['DELETE', '/api/v1/namespaces/team-a/pods', 'deny'], // deletecollection
    ['GET', '/api/v1/namespaces/team-b/pods', 'deny'],
    ['GET', '/api/v1/pods', 'deny'], // all namespaces is not team-a
    ['GET', '/api/v1/namespaces/team-a/secrets', 'deny'],
    ['POST', '/apis/batch/v1/namespaces/team-a/jobs', 'allow'],
    ['GET', '/apis/batch/v1/namespaces/team-a/jobs/report', 'allow'],
    ['PATCH', '/apis/batch/v1/namespaces/team-a/jobs/report', 'deny'],
    ['POST', '/apis/batch/v1/namespaces/team-b/jobs', 'deny'],
    ['POST', '/apis/extensions/v1/namespaces/team-a/jobs', 'deny'], // another group
    ['GET', '/version', 'allow'],
    ['GET', '/healthz/etcd', 'allow'],
    ['GET', '/metrics', 'deny'],
    ['POST', '/version', 'deny'],
    ['GET', '/api/v1/namespaces/team-a', 'deny'], // the namespaces resource itself
  ])('%s %s → %s', (method, url, expected) => {
    expect(verdict(JOB_LAUNCHER, method, url)).toBe(expected);
  });

  it.each<[unknown, string, string, 'allow' | 'deny']>([
    [
      { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      'DELETE',
      '/apis/apps/v1/namespaces/x/deployments/y/scale',
      'allow',
    ],
    [{ verbs: ['get'], apiGroups: [''], resources: ['pods/*'] }, 'GET', '/api/v1/namespaces/x/pods/p/log', 'allow'],
    [{ verbs: ['get'], apiGroups: [''], resources: ['pods/*'] }, 'GET', '/api/v1/namespaces/x/pods/p', 'deny'],
    [
      { verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] },
      'PUT',
      '/apis/apps/v1/namespaces/x/deployments/y/scale',
      'allow',
    ],
    [
      { verbs: ['update'], apiGroups: ['*'], resources: ['*/scale'] },
      'PUT',
      '/apis/apps/v1/namespaces/x/deployments/y',
      'deny',
    ],
    [
      { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['web'] },
      'GET',
      '/api/v1/namespaces/x/pods/web',
      'allow',
    ],
    [
      { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['web'] },
      'GET',
      '/api/v1/namespaces/x/pods/db',
      'deny',
    ],
    [
      { verbs: ['list'], apiGroups: [''], resources: ['pods'], resourceNames: ['web'] },
      'GET',
      '/api/v1/namespaces/x/pods?fieldSelector=metadata.name%3Dweb',
      'allow',
    ],
    [
      { verbs: ['list'], apiGroups: [''], resources: ['pods'], resourceNames: ['web'] },
      'GET',
      '/api/v1/namespaces/x/pods',
      'deny',
    ],
    [{ verbs: ['list'], apiGroups: [''], resources: ['nodes'], namespaces: [''] }, 'GET', '/api/v1/nodes', 'allow'],
    [
      { verbs: ['list'], apiGroups: [''], resources: ['pods'], namespaces: [''] },
      'GET',
      '/api/v1/namespaces/x/pods',
      'deny',
    ],
    [
      { verbs: ['get'], apiGroups: [''], resources: ['namespaces'], namespaces: ['x'] },
      'GET',
      '/api/v1/namespaces/x',
      'allow',
    ],
    [{ verbs: ['get'], nonResourceURLs: ['*'] }, 'GET', '/openapi/v2', 'allow'],
    [{ verbs: ['get'], nonResourceURLs: ['/apis'] }, 'GET', '/apis/apps', 'deny'],
  ])('%j: %s %s → %s', (rule, method, url, expected) => {
    expect(verdict(policyOf([rule]), method, url)).toBe(expected);
  });

  it('requires get and create for a WebSocket exec, create for SPDY', () => {
    const createOnly = policyOf([{ verbs: ['create'], apiGroups: [''], resources: ['pods/exec'] }]);
    const both = policyOf([{ verbs: ['get', 'create'], apiGroups: [''], resources: ['pods/exec'] }]);
    const exec = '/api/v1/namespaces/x/pods/p/exec?command=ls';
    expect(verdict(createOnly, 'POST', exec, true)).toBe('allow');
    expect(verdict(createOnly, 'GET', exec, true)).toBe('deny');
    expect(verdict(both, 'GET', exec, true)).toBe('allow');
  });

  it('allows nothing with an empty rules list (the starting point of --policy-mode log)', () => {
    const nothing = policyOf([]);
    expect(verdict(nothing, 'GET', '/version')).toBe('deny');
    expect(verdict(nothing, 'GET', '/api/v1/namespaces/team-a/pods')).toBe('deny');
    expect(verdict(nothing, 'POST', '/api/v1/namespaces/team-a/pods/web/exec?command=ls', true)).toBe('deny');
  });
});

describe('conditions', () => {
  const rule = (when: unknown, verbs = ['*'], resources = ['*']): Policy =>
    policyOf([{ verbs, apiGroups: ['*'], resources, when }]);
  it.each<[unknown, string, string, 'allow' | 'deny']>([
    [{ dryRun: true }, 'POST', '/api/v1/namespaces/x/pods?dryRun=All', 'allow'],
    [{ dryRun: true }, 'POST', '/api/v1/namespaces/x/pods', 'deny'],
    [{ dryRun: true }, 'POST', '/api/v1/namespaces/x/pods?dryRun=All&dryRun=None', 'deny'],
    [{ dryRun: true }, 'GET', '/api/v1/namespaces/x/pods', 'allow'], // reads are not writes
    [{ labelSelector: 'required' }, 'GET', '/api/v1/namespaces/x/pods?labelSelector=app%3Dweb', 'allow'],
    [{ labelSelector: 'required' }, 'GET', '/api/v1/namespaces/x/pods?watch=1', 'deny'],
    [{ labelSelector: 'required' }, 'GET', '/api/v1/namespaces/x/pods?labelSelector=', 'deny'],
    [{ follow: false }, 'GET', '/api/v1/namespaces/x/pods/p/log', 'allow'],
    [{ follow: false }, 'GET', '/api/v1/namespaces/x/pods/p/log?follow', 'deny'],
    [{ containers: ['main'] }, 'POST', '/api/v1/namespaces/x/pods/p/exec?container=main&command=ls', 'allow'],
    [{ containers: ['main'] }, 'POST', '/api/v1/namespaces/x/pods/p/exec?container=sidecar&command=ls', 'deny'],
    [{ containers: ['main'] }, 'POST', '/api/v1/namespaces/x/pods/p/exec?command=ls', 'deny'],
    [
      { commands: [['ls', '/tmp'], ['date']] },
      'POST',
      '/api/v1/namespaces/x/pods/p/exec?command=ls&command=%2Ftmp',
      'allow',
    ],
    [
      { commands: [['ls', '/tmp'], ['date']] },
      'POST',
      '/api/v1/namespaces/x/pods/p/exec?command=ls&command=%2Fetc',
      'deny',
    ],
    [{ commands: [['ls', '/tmp'], ['date']] }, 'POST', '/api/v1/namespaces/x/pods/p/exec?command=ls', 'deny'],
    [{ commands: [['date']] }, 'POST', '/api/v1/namespaces/x/pods/p/exec?command=date&command=', 'deny'],
    [{ stdin: false, tty: false }, 'POST', '/api/v1/namespaces/x/pods/p/exec?command=sh&stdin=true', 'deny'],
    [{ stdin: false, tty: false }, 'POST', '/api/v1/namespaces/x/pods/p/exec?command=sh&tty=1', 'deny'],
    [{ stdin: false, tty: false }, 'POST', '/api/v1/namespaces/x/pods/p/exec?command=sh&stdin=false', 'allow'],
    [{ ports: [8080, 9090] }, 'GET', '/api/v1/namespaces/x/pods/p/portforward?ports=8080', 'allow'],
    [{ ports: [8080, 9090] }, 'GET', '/api/v1/namespaces/x/pods/p/portforward?ports=8080&ports=9090', 'allow'],
    [{ ports: [8080, 9090] }, 'GET', '/api/v1/namespaces/x/pods/p/portforward?ports=8080&ports=22', 'deny'],
    [{ ports: [8080, 9090] }, 'GET', '/api/v1/namespaces/x/pods/p/portforward?ports=08080', 'allow'],
    [{ ports: [8080, 9090] }, 'POST', '/api/v1/namespaces/x/pods/p/portforward', 'deny'], // kubectl: ports inside the stream
    [{ ports: [8080] }, 'GET', '/api/v1/namespaces/x/pods/p/log', 'allow'], // ports constrain port-forward only
  ])('%j: %s %s → %s', (when, method, url, expected) => {
    expect(verdict(rule(when), method, url)).toBe(expected);
  });

  it('says which condition a request failed', () => {
    const policy = policyOf([
      { name: 'dry-run-writes', verbs: ['create'], apiGroups: [''], resources: ['pods'], when: { dryRun: true } },
    ]);
    const resolved = resolveTarget('POST', '/api/v1/namespaces/x/pods');
    if (!resolved.ok) throw new Error(resolved.problem.message);
    expect(decideRequest(policy, resolved.value, false)).toEqual({
      allowed: false,
      rule: '"dry-run-writes" (rules[0])',
      reason:
        'rule "dry-run-writes" (rules[0]) of policy.yaml allows create on resource "pods" in API group "" in the namespace "x" only as a dry run (dryRun=All in the query; for a delete with a body, "dryRun": ["All"] in its DeleteOptions)',
      code: 403,
    });
  });
});

describe('compilePolicy reports every problem, naming the rule and field', () => {
  it.each<[unknown, string[]]>([
    [[], ['the policy must be a mapping with a "rules" list']],
    [{}, ['rules: must be a list (empty allows nothing)']],
    [{ rules: { verbs: ['get'] } }, ['rules: must be a list (empty allows nothing)']],
    [
      { rules: [{ verbs: ['get'], resources: ['pods'] }], extra: 1 },
      [
        'extra: unknown field (expected apiVersion, kind, rules)',
        'rules[0].apiGroups: required with resources (use [""] for the core group, as in RBAC)',
      ],
    ],
    [
      { rules: [{ verb: ['get'], apiGroups: [''], resources: ['pods'] }] },
      ['rules[0].verb: unknown field (did you mean verbs?)', 'rules[0].verbs: required'],
    ],
    [{ rules: [{ verbs: ['get'] }] }, ['rules[0]: needs resources (with apiGroups) or nonResourceURLs']],
    [
      { rules: [{ verbs: ['get'], nonResourceURLs: ['/a'], resources: ['pods'], apiGroups: [''] }] },
      ['rules[0]: nonResourceURLs cannot be combined with apiGroups, resources, resourceNames or namespaces'],
    ],
    [
      { rules: [{ verbs: ['get'], nonResourceURLs: ['metrics', '/a*b'] }] },
      [
        'rules[0].nonResourceURLs: "metrics" must start with "/"',
        'rules[0].nonResourceURLs: "/a*b" may only have "*" at the end',
      ],
    ],
    [
      { rules: [{ verbs: 'get', apiGroups: [''], resources: ['pods'], namespaces: ['Team_A'] }] },
      ['rules[0].verbs: must be a non-empty list of strings', 'rules[0].namespaces: "Team_A" is not a namespace name'],
    ],
    [
      {
        rules: [
          {
            verbs: ['get'],
            apiGroups: [''],
            resources: ['pods'],
            when: { dryrun: true, follow: 'no', labelSelector: 'yes', commands: ['ls'] },
          },
        ],
      },
      [
        'rules[0].when.dryrun: unknown condition (did you mean dryRun?)',
        'rules[0].when.follow: must be true or false',
        'rules[0].when.labelSelector: must be "required", or a mapping such as { requireKeys: [app] }',
        'rules[0].when.commands: must be a list of argument lists, such as [[ls, /tmp], [date]]',
      ],
    ],
    [
      { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods/portforward'], when: { ports: [0, 'http'] } }] },
      ['rules[0].when.ports: must be a non-empty list of port numbers (1-65535)'],
    ],
    [
      {
        rules: [
          {
            name: 'mine',
            verbs: ['get'],
            apiGroups: [''],
            resources: ['pods'],
            resourceNames: ['a'],
            namespaces: ['$(POD_NAMESPACE)'],
          },
          'x',
        ],
      },
      [
        'rules[0].namespaces: $(POD_NAMESPACE) needs the POD_NAMESPACE variable or a service account namespace file',
        'rules[1]: must be a mapping',
      ],
    ],
    [
      {
        rules: [
          {
            verbs: ['get'],
            apiGroups: [''],
            resources: ['pods'],
            resourceName: ['web'],
            namespace: ['x'],
            when: { folow: false, bogus: 1 },
          },
        ],
      },
      [
        'rules[0].resourceName: unknown field (did you mean resourceNames?)',
        'rules[0].namespace: unknown field (did you mean namespaces?)',
        'rules[0].when.folow: unknown condition (did you mean follow?)',
        'rules[0].when.bogus: unknown condition (expected dryRun, labelSelector, follow, containers, commands, stdin, tty, ports)',
      ],
    ],
    [{ rule: [] }, ['rule: unknown field (did you mean rules?)', 'rules: must be a list (empty allows nothing)']],
    [
      { rules: [{ verbs: ['get'], nonResourceURL: ['/version'] }] },
      [
        'rules[0].nonResourceURL: unknown field (did you mean nonResourceURLs?)',
        'rules[0]: needs resources (with apiGroups) or nonResourceURLs',
      ],
    ],
  ])('%j', (document, problems) => {
    expect(compilePolicy(document, 'policy.yaml', undefined)).toEqual({ ok: false, problem: problems });
  });

  it("names the caller's way of giving $(POD_NAMESPACE) when it has none", () => {
    const document = {
      rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'], namespaces: ['$(POD_NAMESPACE)'] }],
    };
    expect(compilePolicy(document, 'policy.yaml', undefined, '--pod-namespace NS')).toEqual({
      ok: false,
      problem: ['rules[0].namespaces: $(POD_NAMESPACE) needs --pod-namespace NS'],
    });
  });
});

describe('compilePolicy warns about verbs no request has, and keeps them (RBAC allows custom verbs)', () => {
  const RESOURCE_VERBS = 'Their verbs: get, list, watch, create, update, patch, delete, deletecollection, proxy';
  const URL_VERBS = 'Their verbs: get, post, put, patch, delete, head, options';
  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'request verbs',
      {
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy'],
        apiGroups: [''],
        resources: ['pods'],
      },
      [],
    ],
    ['every verb', { verbs: ['*'], apiGroups: [''], resources: ['pods'] }, []],
    ['non-resource verbs', { verbs: ['get', 'post', 'put', 'head', 'options'], nonResourceURLs: ['/version'] }, []],
    [
      'misspelt verbs',
      { verbs: ['get', 'lsit', 'wacth'], apiGroups: [''], resources: ['pods'] },
      [
        `rules[0].verbs: "lsit" is not the verb of any resource request (did you mean list?); it is kept, as RBAC keeps custom verbs, but allows nothing. ${RESOURCE_VERBS}`,
        `rules[0].verbs: "wacth" is not the verb of any resource request (did you mean watch?); it is kept, as RBAC keeps custom verbs, but allows nothing. ${RESOURCE_VERBS}`,
      ],
    ],
    [
      'a custom verb',
      { verbs: ['frobnicate'], apiGroups: ['example.com'], resources: ['widgets'] },
      [
        `rules[0].verbs: "frobnicate" is not the verb of any resource request; it is kept, as RBAC keeps custom verbs, but allows nothing. ${RESOURCE_VERBS}`,
      ],
    ],
    [
      'a resource verb on a URL',
      { verbs: ['list'], nonResourceURLs: ['/healthz'] },
      [
        `rules[0].verbs: "list" is not the verb of any request for a non-resource URL; it is kept, as RBAC keeps custom verbs, but allows nothing. ${URL_VERBS}`,
      ],
    ],
    [
      'an authorization-only verb',
      { verbs: ['impersonate'], apiGroups: [''], resources: ['serviceaccounts'] },
      [
        `rules[0].verbs: "impersonate" is checked by the API server on what a request carries, never a request's own verb: it allows nothing here`,
      ],
    ],
  ])('%s', (_, rule, warnings) => {
    const compiled = compilePolicy({ rules: [rule] }, 'policy.yaml', 'team-a');
    expect(compiled.ok && compiled.value.warnings).toEqual(warnings);
    expect(compiled.ok && compiled.value.policy.rules[0]?.verbs).toEqual(new Set(rule['verbs'] as string[]));
  });
});

describe('no spelling of a denied request gets through (property-based)', () => {
  const readOwnPods = policyOf([
    { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'], namespaces: ['team-a'] },
  ]);
  const DENIED_SEGMENTS = ['api', 'v1', 'namespaces', 'kube-system', 'secrets'];
  const ALLOWED_SEGMENTS = ['api', 'v1', 'namespaces', 'team-a', 'pods'];

  /** One way of writing a segment: some of its characters percent-encoded, in either hex case. */
  const spelledSegment = (segment: string): fc.Arbitrary<string> =>
    fc
      .array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: segment.length, maxLength: segment.length })
      .map((choices) =>
        // eslint-disable-next-line @typescript-eslint/no-misused-spread -- segments are ASCII path words, one code unit per character, as charCodeAt below assumes
        [...segment]
          .map((ch, i) => {
            const [encode, lower] = choices[i] ?? [false, false];
            if (!encode) return ch;
            const hex = ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
            return `%${lower ? hex.toLowerCase() : hex}`;
          })
          .join(''),
      );

  /** Whole targets: spelled segments, with tricks spliced in (dot segments, doubled or encoded slashes, …). */
  const spelledTarget = (segments: readonly string[]): fc.Arbitrary<string> =>
    fc
      .tuple(
        fc.tuple(...segments.map(spelledSegment)),
        fc.array(
          fc.tuple(
            fc.nat(segments.length),
            fc.constantFrom('.', '..', '', '%2e', '%2E%2e', 'x/..', '%2F', '\\', 'pods%2F..'),
          ),
          { maxLength: 2 },
        ),
        fc.constantFrom(
          '',
          '/',
          '?watch=1',
          '?watch=0&watch=1',
          '?watch',
          '?fieldSelector=metadata.name%3Dx',
          '#frag',
          '?a=1;watch=1',
        ),
      )
      .map(([spelled, tricks, suffix]) => {
        const parts = [...spelled];
        for (const [at, trick] of tricks) parts.splice(at, 0, trick);
        return '/' + parts.join('/') + suffix;
      });

  it('every spelling of list secrets in kube-system is refused, with 400 or 403', () => {
    fc.assert(
      fc.property(spelledTarget(DENIED_SEGMENTS), fc.constantFrom('GET', 'HEAD'), (target, method) => {
        expect(verdict(readOwnPods, method, target)).not.toBe('allow');
      }),
      { numRuns: 5000 },
    );
  });

  it('whatever is accepted is forwarded as the same segments the decision was made on', () => {
    fc.assert(
      fc.property(fc.oneof(spelledTarget(DENIED_SEGMENTS), spelledTarget(ALLOWED_SEGMENTS)), (target) => {
        const parsed = parseRequestTarget(target);
        if (!parsed.ok) return;
        // How Go's net/url (the API server) reads the forwarded path: split on "/", unescape each segment.
        const asGoReadsIt = parsed.value.path
          .split('/')
          .slice(1)
          .filter((s, i, all) => s !== '' || i < all.length - 1)
          .map((s) => decodeURIComponent(s));
        expect(asGoReadsIt).toEqual(parsed.value.segments);
        const decision = verdict(readOwnPods, 'GET', target);
        const isOwnPods = parsed.value.segments.join('/') === ALLOWED_SEGMENTS.join('/');
        expect(decision).toBe(isOwnPods ? 'allow' : 'deny');
      }),
      { numRuns: 5000 },
    );
  });
});
