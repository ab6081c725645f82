import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cleanEnv, startAmbassador, type LogLine, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { JOB_LAUNCHER_POLICY } from '../support/policies.ts';
import { release } from '../support/teardown.ts';

/** The job launcher of policy.test.ts. */

/** A Role that misses some of it (list on configmaps, get on pods/exec, /openapi/*) and lets the account read secrets. */
const TEAM_A_RBAC = {
  resourceRules: [
    { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] },
    { verbs: ['get', 'watch'], apiGroups: [''], resources: ['configmaps'] },
    { verbs: ['create', 'get'], apiGroups: ['batch'], resources: ['jobs'] },
    { verbs: ['create'], apiGroups: [''], resources: ['pods/exec'] },
    { verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets'] },
  ],
  nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/version', '/api', '/api/*', '/apis', '/apis/*'] }],
};

const REFUSED = "but the service account's RBAC does not: requests will get the API server's 403";

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster();
  cluster.api.setRbacRules('team-a', TEAM_A_RBAC);
});

afterAll(() => release(cluster));

async function startWithPolicy(name: string, policy: string): Promise<RunningAmbassador> {
  const file = join(cluster.dir, `${name}.yaml`);
  await writeFile(file, policy);
  const ambassador = await startAmbassador(
    [...cluster.ambassadorArgs, '--policy', file],
    cleanEnv({ POD_NAMESPACE: 'team-a' }),
  );
  onTestFinished(async () => {
    await ambassador.stop();
  });
  return ambassador;
}

function warning(msg: string): (line: LogLine) => boolean {
  return (line) => line.level === 'warn' && line.msg === msg;
}

describe('checking the policy against RBAC at start', () => {
  it('says who it acts as, which policy parts RBAC refuses, and which dangerous rights the policy never uses', async () => {
    const ambassador = await startWithPolicy('job-launcher', JOB_LAUNCHER_POLICY);
    const actingAs = await ambassador.waitForLog((line) => line.msg === 'acting as system:serviceaccount:team-a:app');
    expect(actingAs.level).toBe('info');
    await ambassador.waitForLog(
      warning(`policy rule "observe" (rules[0]) allows list on configmaps in team-a, ${REFUSED}`),
    );
    await ambassador.waitForLog(
      warning(`policy rule "exec-echo" (rules[2]) allows get on pods/exec in team-a, ${REFUSED}`),
    );
    await ambassador.waitForLog(warning(`policy rule rules[3] allows get on /openapi/*, ${REFUSED}`));
    const secrets = await ambassador.waitForLog(
      (line) => line.level === 'warn' && String(line.msg).startsWith("the service account's RBAC grants"),
    );
    expect(secrets.msg).toBe(
      "the service account's RBAC grants get, list on secrets in team-a, which the policy never uses: narrow the Role or ClusterRole " +
        '(RBAC rule verbs: [get, list], apiGroups: [""], resources: [secrets])',
    );
    // The secrets warning comes last: by now every warning has been logged.
    const warnings = ambassador.logs.filter((line) => line.level === 'warn').map((line) => line.msg);
    expect(warnings).toHaveLength(4);
    expect(JSON.stringify(ambassador.logs)).not.toContain('first-token');

    const review = await cluster.api.waitForRequest(
      (r) => r.url === '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
    );
    expect(review.method).toBe('POST');
    expect(review.headers['content-type']).toBe('application/json');
    expect(JSON.parse(review.body.toString())).toEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      spec: { namespace: 'team-a' },
    });
  });

  it('reviews every namespace the policy names, and says when a review is incomplete', async () => {
    cluster.api.setRbacRules('team-b', { incomplete: true, evaluationError: 'webhook: cannot list rules' });
    const ambassador = await startWithPolicy(
      'deployer',
      'rules:\n  - { name: deploy, verbs: [create, update], apiGroups: [apps], resources: [deployments], namespaces: [team-b] }\n',
    );
    await ambassador.waitForLog(
      warning(
        "the API server's rules review for team-b is incomplete (webhook: cannot list rules): the RBAC check may be incomplete, " +
          'and another authorizer may allow what is reported as refused here',
      ),
    );
    await ambassador.waitForLog(
      warning(
        `policy rule "deploy" (rules[0]) allows create, update on deployments.apps in team-b, but the service account's RBAC allows none of it: requests will get the API server's 403`,
      ),
    );
    const reviewed = cluster.api.requests
      .filter((r) => r.url === '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews')
      .map((r) => (JSON.parse(r.body.toString()) as { spec: { namespace: string } }).spec.namespace);
    expect(reviewed).toEqual(expect.arrayContaining(['team-a', 'team-b']));
  });

  it('logs one warning when the reviews are refused, and serves all the same', async () => {
    const forbidden = JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: 'forbidden by the test',
      reason: 'Forbidden',
      code: 403,
    });
    cluster.api.script((method, url) => method === 'POST' && url.includes('.k8s.io/v1/self'), {
      status: 403,
      body: forbidden,
    });
    onTestFinished(() => cluster.api.clearScripts());
    const ambassador = await startWithPolicy('job-launcher', JOB_LAUNCHER_POLICY);
    const cannot = await ambassador.waitForLog((line) =>
      String(line.msg).startsWith('cannot check the policy against RBAC'),
    );
    expect(cannot.level).toBe('warn');
    expect(cannot.msg).toMatch(
      /^cannot check the policy against RBAC: POST \/apis\/\S+ answered 403 Forbidden: forbidden by the test$/,
    );
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods')).status).toBe(200);
    // One warning for the check, and one because audit events cannot name the (opaque) token's user.
    expect(
      ambassador.logs.filter((line) => line.level === 'warn').map((line) => String(line.msg).replace(/:.*/, '')),
    ).toEqual([
      'cannot ask the API server who the credentials are, for the audit user',
      'cannot check the policy against RBAC',
    ]);
    expect(ambassador.logs.some((line) => String(line.msg).startsWith('acting as'))).toBe(false);
  });
});
