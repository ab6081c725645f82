import { execFile } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cleanEnv, runAmbassador, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { curl, send } from '../support/http.ts';
import { kubectl, writeProxyKubeconfig } from '../support/kubectl.ts';
import { JOB_LAUNCHER_POLICY } from '../support/policies.ts';
import { release } from '../support/teardown.ts';

const execFileAsync = promisify(execFile);

/** The shared job-launcher policy, plus port-forward to port 8080 only. */
const JOB_LAUNCHER = `${JOB_LAUNCHER_POLICY}  - name: forward-http
    verbs: [get, create]
    apiGroups: [""]
    resources: [pods/portforward]
    namespaces: ["$(POD_NAMESPACE)"]
    when: { ports: [8080] }
`;

let cluster: TestCluster;
let policyFile: string;
let ambassador: RunningAmbassador;

async function writePolicy(text: string): Promise<void> {
  await writeFile(`${policyFile}.next`, text);
  await rename(`${policyFile}.next`, policyFile); // as a ConfigMap volume swaps its files: atomically
}

beforeAll(async () => {
  cluster = await startTestCluster();
  policyFile = join(cluster.dir, 'policy.yaml');
  await writePolicy(JOB_LAUNCHER);
  ambassador = await startAmbassador(
    [...cluster.ambassadorArgs, '--policy', policyFile, '--policy-reload-interval', '100ms'],
    cleanEnv({ POD_NAMESPACE: 'team-a' }),
  );
  cluster.api.putPod('team-a', 'web');
  // The start-up RBAC check sends its reviews once; let it finish before tests count requests.
  await ambassador.waitForLog((line) => /^(acting as|cannot check the policy against RBAC)/.test(String(line.msg)));
});

afterAll(() => release(ambassador, cluster));

/** The status of a response that does not end (a watch), read from its head; the request is then closed. */
function streamStatus(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ambassador.port, path, headers: { host: 'localhost' } }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject).end();
  });
}

describe('enforcing an allow-list', () => {
  it('allows what a rule covers and refuses the rest with a 403 naming verb, resource, namespace and policy', async () => {
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/team-a/pods')).status).toBe(200);
    const refused = await send(ambassador.port, 'GET', '/api/v1/namespaces/kube-system/secrets?policy=1');
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({
      kind: 'Status',
      reason: 'Forbidden',
      code: 403,
      message: `list on resource "secrets" in API group "" in the namespace "kube-system" is forbidden: no rule of ${policyFile} allows list on resource "secrets" in API group "" in the namespace "kube-system"`,
    });
    expect(cluster.api.requests.some((r) => r.url.endsWith('?policy=1'))).toBe(false);
    await ambassador.waitForLog((line) => line.msg === 'request denied by policy' && line['resource'] === 'secrets');
    const metrics = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^kube_api_ambassador_policy_denials_total\{rule="",mode="enforce"\} [1-9]/m);
    expect(metrics).toMatch(
      /^kube_api_ambassador_requests_total\{[^}]*resource="secrets"[^}]*decision="deny"\} [1-9]/m,
    );
  });

  it('decides a watch as a watch, however it is spelled', async () => {
    expect(await streamStatus('/api/v1/namespaces/team-a/pods?watch')).toBe(200);
    const otherNamespace = await send(ambassador.port, 'GET', '/api/v1/watch/namespaces/team-b/pods');
    expect(otherNamespace.status).toBe(403);
    expect(String(otherNamespace.json()['message'])).toContain('watch on resource "pods"');
  });

  it.each([
    '/api/v1/namespaces/team-a/pods/..%2F..%2Fkube-system%2Fsecrets',
    '/api/v1/namespaces/team-a/pods/../../kube-system/secrets',
    '/api/v1/namespaces/team-a/%2e%2e/kube-system/secrets',
    '/api/v1/namespaces/team-a//../kube-system/secrets',
    '/api/v1/namespaces/kube-system/%73ecrets',
    '/api/v1/namespaces/kube-system/SECRETS',
  ])('refuses %s, and nothing reaches the API server', async (target) => {
    const before = cluster.api.requests.length;
    const res = await curl([
      '--path-as-is',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${ambassador.url}${target}`,
    ]);
    expect(['400', '403']).toContain(res.stdout);
    expect(cluster.api.requests.length).toBe(before);
  });

  it('works with kubectl: allowed lists, and a refusal people can read', async () => {
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
    expect(await kubectl(kubeconfig, ['get', 'pods', '-n', 'team-a', '-o', 'name'])).toMatchObject({
      code: 0,
      stdout: 'pod/web\n',
    });
    const refused = await kubectl(kubeconfig, ['get', 'pods', '-n', 'kube-system']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'Error from server (Forbidden): list on resource "pods" in API group "" in the namespace "kube-system" is forbidden',
    );
  });

  it('lets exec run only the commands a rule names (and needs no --reject-paths change)', async () => {
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
    for (const env of [{}, { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }] as Record<string, string>[]) {
      expect(
        await kubectl(kubeconfig, ['exec', '-n', 'team-a', 'web', '--', 'echo', 'allowed'], { env }),
      ).toMatchObject({ code: 0, stdout: 'allowed\n' });
      const refused = await kubectl(kubeconfig, ['exec', '-n', 'team-a', 'web', '--', 'cat', '/etc/shadow'], { env });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('only the commands ["echo","allowed"]');
    }
  });

  it('refuses kubectl port-forward under a ports condition, saying why', async () => {
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
    const refused = await kubectl(kubeconfig, ['port-forward', '-n', 'team-a', 'pod/web', '8080'], {
      env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' },
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('kubectl names its ports inside the stream');
  });

  it('works with the Python client: creates a Job and reads it, and gets a 403 for the rest', async () => {
    const script = `
import json, sys
from kubernetes import client
from kubernetes.client.rest import ApiException
api = client.ApiClient(client.Configuration(host=sys.argv[1]))
batch = client.BatchV1Api(api)
job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "report"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}}}
batch.create_namespaced_job("team-a", job)
status = batch.read_namespaced_job("report", "team-a").status
try:
    client.CoreV1Api(api).list_namespaced_secret("team-a")
    refused = None
except ApiException as error:
    refused = [error.status, json.loads(error.body)["reason"]]
print(json.dumps({"active": status.active, "refused": refused}))
`;
    const { stdout } = await execFileAsync('/usr/bin/python3', ['-c', script, ambassador.url], { env: cleanEnv() });
    expect(JSON.parse(stdout)).toEqual({ active: 1, refused: [403, 'Forbidden'] });
  });
});

describe('changing the policy', () => {
  it('applies a changed file without a restart, and keeps the last good one when the new one is broken', async () => {
    const secretsUrl = '/api/v1/namespaces/team-a/secrets';
    expect((await send(ambassador.port, 'GET', secretsUrl)).status).toBe(403);
    const refusedByRule = await send(ambassador.port, 'POST', '/api/v1/namespaces/team-a/pods/web/exec?command=ls');
    expect(refusedByRule.status).toBe(403);
    expect(await (await fetch(`${ambassador.adminUrl}/metrics`)).text()).toMatch(
      /^kube_api_ambassador_policy_denials_total\{rule="\\"exec-echo\\" \(rules\[2\]\)",mode="enforce"\} [1-9]/m,
    );
    await writePolicy(
      `${JOB_LAUNCHER}\n  - { verbs: [list], apiGroups: [""], resources: [secrets], namespaces: [team-a] }\n`,
    );
    await ambassador.waitForLog((line) => line.msg === 'policy reloaded');
    expect((await send(ambassador.port, 'GET', secretsUrl)).status).not.toBe(403);

    await writePolicy('rules:\n  - verbs: [list]\n    resources: [secrets]\n');
    const rejected = await ambassador.waitForLog(
      (line) => line.msg === 'the changed policy is not valid; keeping the previous one in force',
    );
    const reloads = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
    expect(reloads).toMatch(/^kube_api_ambassador_policy_reloads_total\{result="success"\} [1-9]/m);
    expect(reloads).toMatch(/^kube_api_ambassador_policy_reloads_total\{result="failure"\} [1-9]/m);
    expect(String(rejected['problem'])).toContain('rules[0].apiGroups: required with resources');
    expect((await send(ambassador.port, 'GET', secretsUrl)).status).not.toBe(403);
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/kube-system/secrets')).status).toBe(403);
    await writePolicy(JOB_LAUNCHER);
  });
});

describe('trying a policy out', () => {
  it('--policy-mode log lets refused requests through and logs them', async () => {
    const trial = await startAmbassador(
      [...cluster.ambassadorArgs, '--policy', policyFile, '--policy-mode', 'log'],
      cleanEnv({ POD_NAMESPACE: 'team-a' }),
    );
    onTestFinished(async () => {
      await trial.stop();
    });
    expect((await send(trial.port, 'GET', '/api/v1/namespaces/kube-system/pods')).status).toBe(200);
    const logged = await trial.waitForLog((line) => line.msg === 'request denied by policy');
    expect(logged).toMatchObject({ mode: 'log', verb: 'list', namespace: 'kube-system', resource: 'pods' });
  });

  it('warns, at start and on reload, about verbs no request has, naming the verb meant', async () => {
    const typos = join(cluster.dir, 'typos.yaml');
    await writeFile(typos, 'rules:\n  - { name: read, verbs: [get, lsit], apiGroups: [""], resources: [pods] }\n');
    const typed = await startAmbassador([
      ...cluster.ambassadorArgs,
      '--policy',
      typos,
      '--policy-reload-interval',
      '100ms',
    ]);
    onTestFinished(async () => {
      await typed.stop();
    });
    const atStart = await typed.waitForLog(
      (line) => line.level === 'warn' && String(line.msg).startsWith('rules[0].verbs: "lsit"'),
    );
    expect(atStart).toMatchObject({ policy: typos, msg: expect.stringContaining('(did you mean list?)') as unknown });
    expect((await send(typed.port, 'GET', '/api/v1/namespaces/team-a/pods')).status).toBe(403); // "lsit" allows nothing
    await writeFile(
      `${typos}.next`,
      'rules:\n  - { name: read, verbs: [get, list, wacth], apiGroups: [""], resources: [pods] }\n',
    );
    await rename(`${typos}.next`, typos);
    const onReload = await typed.waitForLog(
      (line) => line.level === 'warn' && String(line.msg).startsWith('rules[0].verbs: "wacth"'),
    );
    expect(onReload.msg).toContain('(did you mean watch?)');
  });

  it('refuses to start with an invalid policy, listing every problem', async () => {
    const broken = join(cluster.dir, 'broken.yaml');
    await writeFile(
      broken,
      'rules:\n  - verb: [get]\n    resources: [pods]\n  - nonResourceURLs: [metrics]\n    verbs: [get]\n',
    );
    const { code, stderr } = await runAmbassador([...cluster.ambassadorArgs, '--policy', broken]);
    expect(code).toBe(2);
    for (const problem of [
      'rules[0].verb: unknown field (did you mean verbs?)',
      'rules[0].verbs: required',
      'rules[1].nonResourceURLs: "metrics" must start with "/"',
    ]) {
      expect(stderr).toContain(problem);
    }
  });

  it('policy check prints the attributes and decision without a cluster', async () => {
    const { code, stdout } = await runAmbassador([
      'policy',
      'check',
      '--policy',
      policyFile,
      '--pod-namespace',
      'team-a',
      'GET',
      '/api/v1/namespaces/team-a/pods?watch=1',
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(
      'request     GET /api/v1/namespaces/team-a/pods?watch=1\n' +
        'attributes  verb="watch" apiGroup="" apiVersion="v1" namespace="team-a" resource="pods" subresource="" name=""\n' +
        'decision    allowed by rule "observe" (rules[0])\n',
    );
    const refused = await runAmbassador([
      'policy',
      'check',
      '--policy',
      policyFile,
      '--pod-namespace',
      'team-a',
      'DELETE',
      '/api/v1/namespaces/team-a/pods/web',
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toContain('decision    refused with 403: no rule of');
  });
});
