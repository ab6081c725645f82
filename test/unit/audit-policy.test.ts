import { describe, expect, it } from 'vitest';
import { auditPolicyForLevel, auditVerdict, compileAuditPolicy, type AuditPolicy } from '../../src/audit/policy.ts';
import type { AuditLevel } from '../../src/config/kinds.ts';
import type { UserInfo } from '../../src/cluster/credentials.ts';
import { attributesOf } from '../support/requests.ts';

const APP: UserInfo = {
  username: 'system:serviceaccount:team-a:app',
  groups: ['system:serviceaccounts', 'system:authenticated'],
};

function compiled(document: unknown): AuditPolicy {
  const result = compileAuditPolicy(document, 'team-a');
  if (!result.ok) throw new Error(result.problem.join('\n'));
  return result.value;
}

function levelOf(policy: AuditPolicy, method: string, raw: string, user: UserInfo | undefined = APP): AuditLevel {
  return auditVerdict(policy, attributesOf(method, raw), user).level;
}

/** The shape of kube-apiserver's checker tests (apiserver/pkg/audit/policy/checker_test.go), one rule at a time. */
describe('auditVerdict: one rule, matched as kube-apiserver matches it', () => {
  it.each<[string, Record<string, unknown>, string, string, boolean]>([
    ['no conditions matches everything', {}, 'DELETE', '/api/v1/nodes/n1', true],
    ['no conditions matches a non-resource URL', {}, 'GET', '/version', true],
    ['no conditions matches an unparseable target', {}, 'GET', '/api/v1/%zz', true],
    ['verbs', { verbs: ['get'] }, 'GET', '/api/v1/namespaces/team-a/pods/web', true],
    ['verbs, other verb', { verbs: ['get'] }, 'GET', '/api/v1/namespaces/team-a/pods', false],
    ['verbs do not match an unparseable target', { verbs: ['get'] }, 'GET', '/api/v1/%zz', false],
    ['users', { users: ['system:serviceaccount:team-a:app'] }, 'GET', '/version', true],
    ['users, another user', { users: ['admin'] }, 'GET', '/version', false],
    ['userGroups', { userGroups: ['system:authenticated'] }, 'GET', '/version', true],
    ['userGroups, no shared group', { userGroups: ['system:masters'] }, 'GET', '/version', false],
    ['namespaces', { namespaces: ['team-a'] }, 'GET', '/api/v1/namespaces/team-a/pods', true],
    [
      'namespaces, $(POD_NAMESPACE)',
      { namespaces: ['$(POD_NAMESPACE)'] },
      'GET',
      '/api/v1/namespaces/team-a/pods',
      true,
    ],
    ['namespaces, another', { namespaces: ['team-a'] }, 'GET', '/api/v1/namespaces/team-b/pods', false],
    ['namespaces: "" is the cluster scope', { namespaces: [''] }, 'GET', '/api/v1/nodes', true],
    ['namespaces never match a non-resource URL', { namespaces: [''] }, 'GET', '/version', false],
    ['resources', { resources: [{ group: '', resources: ['pods'] }] }, 'GET', '/api/v1/namespaces/x/pods', true],
    [
      'resources: group defaults to core',
      { resources: [{ resources: ['pods'] }] },
      'GET',
      '/api/v1/namespaces/x/pods',
      true,
    ],
    [
      'resources: another group',
      { resources: [{ group: 'apps', resources: ['pods'] }] },
      'GET',
      '/api/v1/namespaces/x/pods',
      false,
    ],
    [
      'resources: a group with no resources is all of it',
      { resources: [{ group: 'batch' }] },
      'POST',
      '/apis/batch/v1/namespaces/x/jobs',
      true,
    ],
    [
      'resources: pods is not pods/log',
      { resources: [{ resources: ['pods'] }] },
      'GET',
      '/api/v1/namespaces/x/pods/web/log',
      false,
    ],
    [
      'resources: pods/log',
      { resources: [{ resources: ['pods/log'] }] },
      'GET',
      '/api/v1/namespaces/x/pods/web/log',
      true,
    ],
    [
      'resources: pods/*',
      { resources: [{ resources: ['pods/*'] }] },
      'GET',
      '/api/v1/namespaces/x/pods/web/exec',
      true,
    ],
    [
      'resources: */status',
      { resources: [{ group: 'batch', resources: ['*/status'] }] },
      'GET',
      '/apis/batch/v1/namespaces/x/jobs/j/status',
      true,
    ],
    ['resources: *', { resources: [{ resources: ['*'] }] }, 'GET', '/api/v1/namespaces/x/pods/web/log', true],
    [
      'resourceNames',
      { resources: [{ resources: ['configmaps'], resourceNames: ['settings'] }] },
      'GET',
      '/api/v1/namespaces/x/configmaps/settings',
      true,
    ],
    [
      'resourceNames, another name',
      { resources: [{ resources: ['configmaps'], resourceNames: ['settings'] }] },
      'GET',
      '/api/v1/namespaces/x/configmaps/other',
      false,
    ],
    ['resources never match a non-resource URL', { resources: [{ resources: ['*'] }] }, 'GET', '/version', false],
    ['nonResourceURLs', { nonResourceURLs: ['/version'] }, 'GET', '/version', true],
    ['nonResourceURLs: prefix*', { nonResourceURLs: ['/healthz*'] }, 'GET', '/healthz/etcd', true],
    ['nonResourceURLs never match a resource', { nonResourceURLs: ['*'] }, 'GET', '/api/v1/namespaces/x/pods', false],
  ])('%s', (_, conditions, method, raw, matches) => {
    const policy = compiled({ rules: [{ level: 'Request', ...conditions }] });
    expect(levelOf(policy, method, raw)).toBe(matches ? 'Request' : 'None');
  });

  it('needs a user for users and userGroups rules', () => {
    expect(levelOf(compiled({ rules: [{ level: 'Request', users: ['x'] }] }), 'GET', '/version', undefined)).toBe(
      'None',
    );
    expect(levelOf(compiled({ rules: [{ level: 'Request', userGroups: ['x'] }] }), 'GET', '/version', undefined)).toBe(
      'None',
    );
  });
});

describe('auditVerdict: a policy', () => {
  const policy = compiled({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    omitManagedFields: true,
    rules: [
      { level: 'None', nonResourceURLs: ['/healthz*', '/version'] },
      { level: 'Metadata', resources: [{ resources: ['secrets'] }] },
      {
        level: 'RequestResponse',
        verbs: ['create', 'update', 'patch'],
        namespaces: ['team-a'],
        omitStages: ['ResponseStarted'],
        omitManagedFields: false,
      },
      { level: 'Request', resources: [{ group: 'batch', resources: ['jobs'] }] },
      { level: 'Metadata' },
    ],
  });

  it.each<[string, string, AuditLevel]>([
    ['GET', '/healthz/ping', 'None'],
    ['GET', '/version', 'None'],
    ['POST', '/api/v1/namespaces/team-a/secrets', 'Metadata'], // the first matching rule wins
    ['POST', '/api/v1/namespaces/team-a/configmaps', 'RequestResponse'],
    ['POST', '/api/v1/namespaces/team-b/configmaps', 'Metadata'],
    ['GET', '/apis/batch/v1/namespaces/team-b/jobs', 'Request'],
    ['GET', '/api/v1/nodes', 'Metadata'],
  ])('%s %s: %s', (method, raw, level) => {
    expect(levelOf(policy, method, raw)).toBe(level);
  });

  it('adds the policy omitStages to each rule, and lets a rule override omitManagedFields', () => {
    const create = auditVerdict(policy, attributesOf('POST', '/api/v1/namespaces/team-a/configmaps'), APP);
    expect([...create.omitStages].sort()).toEqual(['RequestReceived', 'ResponseStarted']);
    expect(create.omitManagedFields).toBe(false);
    const list = auditVerdict(policy, attributesOf('GET', '/apis/batch/v1/namespaces/team-b/jobs'), APP);
    expect([...list.omitStages]).toEqual(['RequestReceived']);
    expect(list.omitManagedFields).toBe(true);
  });

  it('audits nothing a rule does not match, as kube-apiserver', () => {
    expect(levelOf(compiled({ rules: [{ level: 'Metadata', verbs: ['create'] }] }), 'GET', '/api/v1/pods')).toBe(
      'None',
    );
  });
});

describe('auditPolicyForLevel: --audit-level without --audit-policy', () => {
  it.each<[string, string, AuditLevel]>([
    ['GET', '/api/v1/pods', 'Metadata'],
    ['GET', '/version', 'Metadata'],
    ['GET', '/api/v1/%zz', 'Metadata'],
    ['GET', '/healthz', 'None'],
    ['GET', '/livez/ping', 'None'],
    ['GET', '/readyz', 'None'],
    ['GET', '/metrics', 'None'],
  ])('%s %s at Metadata: %s', (method, raw, level) => {
    expect(levelOf(auditPolicyForLevel('Metadata'), method, raw)).toBe(level);
  });

  it('applies Request and RequestResponse to the same requests', () => {
    expect(levelOf(auditPolicyForLevel('RequestResponse'), 'POST', '/api/v1/namespaces/x/configmaps')).toBe(
      'RequestResponse',
    );
    expect(levelOf(auditPolicyForLevel('Request'), 'GET', '/readyz')).toBe('None');
  });

  it('has no rules at None, so the audit log is not even opened', () => {
    expect(auditPolicyForLevel('None').rules).toEqual([]);
  });
});

describe('compileAuditPolicy: every problem, named by rule and field', () => {
  it.each<[string, unknown, string[]]>([
    ['not a mapping', 'rules', ['the audit policy must be a mapping with a "rules" list']],
    ['no rules', { kind: 'Policy' }, ['rules: must be a non-empty list']],
    [
      'wrong kind and version',
      { apiVersion: 'audit.k8s.io/v1beta1', kind: 'Role', rules: [{ level: 'None' }] },
      ['apiVersion: must be audit.k8s.io/v1', 'kind: must be Policy'],
    ],
    [
      'unknown top-level field',
      { rules: [{ level: 'None' }], rule: [] },
      ['rule: unknown field (did you mean rules?)'],
    ],
    [
      'no level',
      { rules: [{ verbs: ['get'] }] },
      ['rules[0].level: required, one of None, Metadata, Request, RequestResponse'],
    ],
    [
      'unknown level',
      { rules: [{ level: 'Everything' }] },
      ['rules[0].level: required, one of None, Metadata, Request, RequestResponse'],
    ],
    [
      'unknown rule field',
      { rules: [{ level: 'None', verb: ['get'] }] },
      ['rules[0].verb: unknown field (did you mean verbs?)'],
    ],
    [
      'unknown stage',
      { rules: [{ level: 'None', omitStages: ['RequestStarted'] }] },
      ['rules[0].omitStages: must be a list of RequestReceived, ResponseStarted, ResponseComplete, Panic'],
    ],
    [
      'resources not a list',
      { rules: [{ level: 'None', resources: 'pods' }] },
      ['rules[0].resources: must be a non-empty list of {group, resources, resourceNames}'],
    ],
    [
      'resources as RBAC writes them',
      { rules: [{ level: 'None', resources: [{ apiGroups: [''], resources: ['pods'] }] }] },
      ['rules[0].resources[0].apiGroups: unknown field (expected group, resources, resourceNames)'],
    ],
    [
      'URLs with resources',
      { rules: [{ level: 'None', resources: [{ resources: ['pods'] }], nonResourceURLs: ['/version'] }] },
      ['rules[0]: nonResourceURLs cannot be combined with resources or namespaces'],
    ],
    [
      'relative URL',
      { rules: [{ level: 'None', nonResourceURLs: ['version'] }] },
      ['rules[0].nonResourceURLs: "version" must start with "/"'],
    ],
    ['verbs not strings', { rules: [{ level: 'None', verbs: [1] }] }, ['rules[0].verbs: must be a list of strings']],
    [
      'omitManagedFields not a boolean',
      { rules: [{ level: 'None', omitManagedFields: 'yes' }] },
      ['rules[0].omitManagedFields: must be true or false'],
    ],
  ])('%s', (_, document, problems) => {
    expect(compileAuditPolicy(document, 'team-a')).toEqual({ ok: false, problem: problems });
  });

  it('needs a namespace for $(POD_NAMESPACE)', () => {
    expect(compileAuditPolicy({ rules: [{ level: 'None', namespaces: ['$(POD_NAMESPACE)'] }] }, undefined)).toEqual({
      ok: false,
      problem: [
        'rules[0].namespaces: $(POD_NAMESPACE) needs the POD_NAMESPACE variable or a service account namespace file',
      ],
    });
  });
});
