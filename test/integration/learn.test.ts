/**
 * The log-only workflow end to end: an app runs behind an ambassador in --policy-mode log with a
 * `rules: []` policy, `policy learn` (the real CLI) turns the audit log into a policy, and that
 * policy allows exactly the recorded requests: replayed through decideRequest, and through an
 * ambassador enforcing it.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { cleanEnv, NODE_FLAGS, runAmbassador, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { kubectl, writeProxyKubeconfig } from '../support/kubectl.ts';
import { release } from '../support/teardown.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest, type Policy } from '../../src/policy/policy.ts';
import { isStreamingSubresource, resolveAttributes } from '../../src/request/attributes.ts';
import { parseRequestTarget } from '../../src/request/target.ts';
import { resolveTarget } from '../../src/request/resolve.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const POD_NAMESPACE = 'team-a';
const CONFIGMAP = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"mode":"fast"}}';
const JOB =
  '{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"report"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"main","image":"busybox"}]}}}}';

/** What the app does through the ambassador, besides a watch and a kubectl exec. */
const APP_REQUESTS: readonly (readonly [method: string, target: string, body?: string])[] = [
  ['GET', '/api/v1/namespaces/team-a/pods'],
  ['GET', '/api/v1/namespaces/team-a/pods/web'],
  ['GET', '/api/v1/namespaces/team-a/pods/web/log'],
  ['POST', '/api/v1/namespaces/team-a/configmaps', CONFIGMAP],
  ['GET', '/api/v1/namespaces/team-a/configmaps/settings'],
  ['POST', '/apis/batch/v1/namespaces/team-a/jobs', JOB],
  ['GET', '/apis/batch/v1/namespaces/team-a/jobs/report'],
  ['GET', '/api/v1/namespaces/team-b/configmaps'],
  ['GET', '/api/v1/namespaces'],
  ['GET', '/api/v1/nodes'],
  ['GET', '/version'],
];
const WATCH = '/api/v1/namespaces/team-a/pods?watch=1';

/** Requests next to what the app did: another verb, namespace, resource, subresource, group or URL. */
const NEAR_MISSES: readonly (readonly [method: string, target: string])[] = [
  ['DELETE', '/api/v1/namespaces/team-a/pods/web'],
  ['PATCH', '/api/v1/namespaces/team-a/configmaps/settings'],
  ['DELETE', '/apis/batch/v1/namespaces/team-a/jobs/report'],
  ['GET', '/api/v1/namespaces/team-c/pods'],
  ['GET', '/api/v1/namespaces/team-b/pods'],
  ['POST', '/api/v1/namespaces/team-b/configmaps'],
  ['GET', '/api/v1/pods'],
  ['GET', '/api/v1/namespaces/team-a/secrets'],
  ['GET', '/api/v1/namespaces/team-a/pods/web/status'],
  ['GET', '/apis/batch/v1/namespaces/team-a/cronjobs'],
  ['POST', '/apis/example.com/v1/namespaces/team-a/jobs'],
  ['DELETE', '/api/v1/nodes/node-1'],
  ['POST', '/version'],
  ['GET', '/logs'],
];

/** The HTTP method that gives a resource request its audit verb. */
const METHOD_OF_VERB: Readonly<Record<string, string>> = {
  get: 'GET',
  list: 'GET',
  watch: 'GET',
  create: 'POST',
  update: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
  deletecollection: 'DELETE',
};

interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  objectRef?: Record<string, string>;
  annotations: Record<string, string>;
}

let cluster: TestCluster;
let auditFile: string;
let recorder: RunningAmbassador;
let execResult: { code: number; stdout: string; stderr: string };
let learned: { code: number | null; stdout: string; stderr: string };
let policy: Policy;

beforeAll(async () => {
  cluster = await startTestCluster();
  cluster.api.putPod('team-a', 'web');
  cluster.api.appendLog('team-a', 'web', 'started');
  const emptyPolicy = join(cluster.dir, 'empty-policy.yaml');
  await writeFile(emptyPolicy, 'rules: []\n');
  auditFile = join(cluster.dir, 'audit.log');
  recorder = await startAmbassador(
    [...cluster.ambassadorArgs, '--policy', emptyPolicy, '--policy-mode', 'log', '--audit-log-path', auditFile],
    cleanEnv({ POD_NAMESPACE }),
  );
  for (const [method, target, body] of APP_REQUESTS) {
    await send(
      recorder.port,
      method,
      target,
      body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } },
    );
  }
  expect(await watchStatus(recorder.port, WATCH)).toBe(200);
  execResult = await kubectl(await writeProxyKubeconfig(cluster.dir, recorder.url), [
    'exec',
    '-n',
    'team-a',
    'web',
    '--',
    'echo',
    'learned',
  ]);
  expect(await recorder.stop()).toBe(0); // writes what the audit log still buffers

  learned = await runAmbassador(['policy', 'learn', '--pod-namespace', POD_NAMESPACE, auditFile]);
  const compiled = compilePolicy(parseYaml(learned.stdout), 'learned.yaml', POD_NAMESPACE);
  if (!compiled.ok)
    throw new Error(`the learned policy does not compile: ${compiled.problem.join('; ')}\n${learned.stdout}`);
  policy = compiled.value.policy;
}, 60_000);

afterAll(() => release(recorder, cluster));

/** Opens a watch, resolves with its status once the head arrives, and closes it. */
function watchStatus(port: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: target, headers: { host: 'localhost' } }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject).end();
  });
}

async function auditEvents(file: string): Promise<AuditEvent[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  return lines.map((line) => JSON.parse(line) as AuditEvent);
}

function decides(method: string, target: string, isUpgrade = false): boolean {
  const resolved = resolveTarget(method, target);
  if (!resolved.ok) throw new Error(resolved.problem.message);
  return decideRequest(policy, resolved.value, isUpgrade).allowed;
}

describe('--policy-mode log with rules: []', () => {
  it('lets every request through, exec included, and records each as would_deny', async () => {
    expect(execResult).toMatchObject({ code: 0, stdout: 'learned\n' });
    const completed = (await auditEvents(auditFile)).filter((event) => event.stage === 'ResponseComplete');
    expect(completed.length).toBeGreaterThanOrEqual(APP_REQUESTS.length + 2);
    expect(new Set(completed.map((event) => event.annotations['kube-api-ambassador/decision']))).toEqual(
      new Set(['would_deny']),
    );
    expect(completed.find((event) => event.objectRef?.['subresource'] === 'exec')).toMatchObject({
      verb: 'get',
      objectRef: { resource: 'pods', name: 'web' },
    });
    expect(
      recorder.logs.find((line) => line.msg === 'request denied by policy' && line['subresource'] === 'exec'),
    ).toMatchObject({ mode: 'log', resource: 'pods' });
  });
});

describe('policy learn', () => {
  it('prints a policy with a header saying what it learned from', () => {
    expect(learned.code).toBe(0);
    expect(learned.stderr).toBe('');
    expect(learned.stdout).toContain(
      `# Learned by kube-api-ambassador policy learn from ${auditFile}; review it before enforcing it.`,
    );
    expect(learned.stdout).toMatch(/^# \d+ audit events, \d{4}-\d\d-\d\dT[\d:.]+Z to \d{4}-\d\d-\d\dT[\d:.]+Z\.$/m);
    expect(learned.stdout).toMatch(
      /^# Learned from \d+ requests: 0 allowed, \d+ would have been denied \(--policy-mode log\), 0 throttled\.$/m,
    );
    expect(learned.stdout).toMatch(
      /^# Skipped: \d+ ResponseStarted events? \(each request counts once, at its last stage\)/m,
    );
  });

  it('groups by namespace and resource, merges verbs, and writes the pod namespace as $(POD_NAMESPACE)', () => {
    const { rules } = parseYaml(learned.stdout) as { rules: Record<string, string[]>[] };
    expect(rules).toContainEqual({
      verbs: ['get', 'list', 'watch'],
      apiGroups: [''],
      resources: ['pods'],
      namespaces: ['$(POD_NAMESPACE)'],
    });
    expect(rules).toContainEqual({
      verbs: ['get'],
      apiGroups: [''],
      resources: ['pods/log'],
      namespaces: ['$(POD_NAMESPACE)'],
    });
    // exec over WebSocket is a GET that also needs create: the same verbs as the configmaps the app reads and creates.
    expect(rules).toContainEqual({
      verbs: ['get', 'create'],
      apiGroups: [''],
      resources: ['configmaps', 'pods/exec'],
      namespaces: ['$(POD_NAMESPACE)'],
    });
    expect(rules).toContainEqual({
      verbs: ['list'],
      apiGroups: [''],
      resources: ['configmaps'],
      namespaces: ['team-b'],
    });
    expect(rules).toContainEqual({
      verbs: ['list'],
      apiGroups: [''],
      resources: ['namespaces', 'nodes'],
      namespaces: [''],
    });
    expect(rules.find((rule) => rule['apiGroups']?.includes('batch'))).toEqual({
      verbs: ['get', 'create'],
      apiGroups: ['batch'],
      resources: ['jobs'],
      namespaces: ['$(POD_NAMESPACE)'],
    });
    expect(rules.find((rule) => rule['nonResourceURLs']?.includes('/version'))).toMatchObject({ verbs: ['get'] });
    expect(learned.stdout).not.toContain('resourceNames:');
  });

  it('reads the log from stdin with -', async () => {
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, MAIN, 'policy', 'learn', '--pod-namespace', POD_NAMESPACE, '-'],
      { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stdin.end(await readFile(auditFile));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toBe(learned.stdout.replace(`from ${auditFile};`, 'from stdin;'));
  });

  it('says what is wrong with its input, with exit code 1 or 2', async () => {
    const operationalOnly = join(cluster.dir, 'operational.log');
    await writeFile(operationalOnly, '{"level":"info","msg":"serving"}\n');
    expect(await runAmbassador(['policy', 'learn', operationalOnly])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: expect.stringContaining(`no audit events in ${operationalOnly}`) as unknown,
    });
    expect(await runAmbassador(['policy', 'learn', join(cluster.dir, 'missing.log')])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('cannot read') as unknown,
    });
    expect(await runAmbassador(['policy', 'learn', '--policy', 'x.yaml', auditFile])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--policy is for policy check') as unknown,
    });
    expect(await runAmbassador(['policy', 'learn', '--pod-namespace', 'Team_A', auditFile])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('"Team_A" is not a namespace name') as unknown,
    });
  });
});

describe('the learned policy allows exactly the recorded requests', () => {
  it('allows every recorded request, replayed through decideRequest', async () => {
    const completed = (await auditEvents(auditFile)).filter((event) => event.stage === 'ResponseComplete');
    for (const event of completed) {
      const method = event.objectRef === undefined ? event.verb.toUpperCase() : (METHOD_OF_VERB[event.verb] ?? '');
      const parsed = parseRequestTarget(event.requestURI);
      if (!parsed.ok) throw new Error(parsed.problem);
      const attributes = resolveAttributes(method, parsed.value);
      expect(attributes.verb, event.requestURI).toBe(event.verb);
      expect(
        decides(method, event.requestURI, isStreamingSubresource(attributes)),
        `${method} ${event.requestURI}`,
      ).toBe(true);
    }
  });

  it.each(NEAR_MISSES)('refuses the near miss %s %s', (method, target) => {
    expect(decides(method, target)).toBe(false);
  });

  it('refuses attach, which the app never used, next to the exec it did', () => {
    expect(decides('GET', '/api/v1/namespaces/team-a/pods/web/exec?command=ls', true)).toBe(true);
    expect(decides('GET', '/api/v1/namespaces/team-a/pods/web/attach?stdout=1', true)).toBe(false);
    expect(decides('GET', '/api/v1/namespaces/team-b/pods/web/exec?command=ls', true)).toBe(false);
  });

  it('serves the app again from an ambassador enforcing it, and refuses the near misses', async () => {
    const policyFile = join(cluster.dir, 'learned.yaml');
    await writeFile(policyFile, learned.stdout);
    const enforcing = await startAmbassador(
      [...cluster.ambassadorArgs, '--policy', policyFile, '--policy-mode', 'enforce'],
      cleanEnv({ POD_NAMESPACE }),
    );
    onTestFinished(() => enforcing.stop().then(() => undefined));

    for (const [method, target, body] of APP_REQUESTS) {
      const res = await send(
        enforcing.port,
        method,
        target,
        body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } },
      );
      expect(res.status, `${method} ${target}: ${res.text}`).not.toBe(403);
    }
    expect(await watchStatus(enforcing.port, WATCH)).toBe(200);
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, enforcing.url);
    expect(await kubectl(kubeconfig, ['exec', '-n', 'team-a', 'web', '--', 'echo', 'enforced'])).toMatchObject({
      code: 0,
      stdout: 'enforced\n',
    });
    expect(enforcing.logs.filter((line) => line.msg === 'request denied by policy')).toEqual([]);

    for (const [method, target] of NEAR_MISSES) {
      const res = await send(enforcing.port, method, target);
      expect(res.status, `${method} ${target}`).toBe(403);
      expect(String(res.json()['message'])).toContain(`no rule of ${policyFile} allows`);
    }
  });
});
