/**
 * The manifests users deploy (manifests/base, manifests/legacy-sidecar, manifests/network-policy):
 * rendered by the machine's real `kubectl kustomize`, every object validated against the
 * Kubernetes API schemas, cross-checked against the image, the ambassador's own options parser and
 * policy compiler, and the example program run for real through an ambassador that enforces the
 * rendered policy in front of the fake API server.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/parse-options.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest, type Policy } from '../../src/policy/policy.ts';
import { resolveTarget } from '../../src/request/resolve.ts';
import {
  BUDGETED_NODE_FLAGS,
  cleanEnv,
  IMAGE_NODE_FLAGS,
  MANIFEST_MEMORY_LIMIT_MIB,
  startAmbassador,
  type RunningAmbassador,
} from '../support/ambassador.ts';
import {
  configMapFile,
  container,
  expectTokenOnlyInSidecar,
  find,
  HARDENED,
  mounts,
  podSpec,
  renderKustomize,
  schemaProblems,
  type KubeObject,
} from '../support/kubernetes-schemas.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { release } from '../support/teardown.ts';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const SIDECAR = 'kube-api-ambassador';
const APP = 'analytics';
const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const POD_NAMESPACE = 'team-a';

// --- finding things in the rendered objects -------------------------------------------------

/** (apiGroup, resource, verb) triples, to compare RBAC rules with policy rules. */
function grants(
  rules: readonly { apiGroups?: readonly string[]; resources?: readonly string[]; verbs: readonly string[] }[],
): string[] {
  return rules
    .flatMap(({ apiGroups = [], resources = [], verbs }) =>
      apiGroups.flatMap((group) =>
        resources.flatMap((resource) => verbs.map((verb) => `${group}/${resource}:${verb}`)),
      ),
    )
    .sort();
}

function compiledPolicy(text: string): Policy {
  const compiled = compilePolicy(load(text), 'ambassador-policy/policy.yaml', POD_NAMESPACE);
  if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
  return compiled.value.policy;
}

function verdict(policy: Policy, method: string, target: string): 'allow' | 'deny' {
  const resolved = resolveTarget(method, target);
  if (!resolved.ok) throw new Error(resolved.problem.message);
  return decideRequest(policy, resolved.value, false).allowed ? 'allow' : 'deny';
}

let base: KubeObject[];
let legacy: KubeObject[];
let networkPolicy: KubeObject[];

beforeAll(async () => {
  [base, legacy, networkPolicy] = await Promise.all([
    renderKustomize('manifests/base'),
    renderKustomize('manifests/legacy-sidecar'),
    renderKustomize('manifests/network-policy'),
  ]);
});

describe('the rendered manifests', () => {
  it('render with kubectl kustomize: base, legacy-sidecar and network-policy', () => {
    const names = (objects: KubeObject[]) => objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();
    expect(names(base)).toEqual([
      'ConfigMap/ambassador-policy',
      'ConfigMap/analytics-app',
      'Deployment/analytics',
      'Role/analytics',
      'RoleBinding/analytics',
      'ServiceAccount/analytics',
    ]);
    expect(names(legacy)).toEqual(names(base));
    expect(names(networkPolicy)).toEqual(['NetworkPolicy/analytics']);
  });

  it('validate, every object, against the Kubernetes API schemas', () => {
    for (const object of [...base, ...legacy, ...networkPolicy]) {
      expect({ object: `${object.kind}/${object.metadata.name}`, problems: schemaProblems(object) }).toEqual({
        object: `${object.kind}/${object.metadata.name}`,
        problems: [],
      });
    }
  });

  it('would fail validation with a misspelt field, an unknown one or a wrongly typed value', () => {
    const deployment = find(base, Deployment.is, APP);
    const broken = (change: (sidecar: Record<string, unknown>) => void): KubeObject => {
      const copy = structuredClone(deployment) as unknown as KubeObject;
      change(
        container(podSpec(copy as unknown as IDeployment).initContainers, SIDECAR) as unknown as Record<
          string,
          unknown
        >,
      );
      return copy;
    };
    const misspelt = broken((sidecar) => {
      sidecar['restartPolcy'] = sidecar['restartPolicy'];
      delete sidecar['restartPolicy'];
    });
    expect(schemaProblems(misspelt)).toEqual([
      `/spec/template/spec/initContainers/0/restartPolcy: unknown field in V1Container`,
    ]);
    const unknown = broken(
      (sidecar) =>
        (sidecar['readinessProbe'] = { httpGet: { path: '/readyz', port: 'ambassador-admin', host: '' }, timeout: 1 }),
    );
    expect(schemaProblems(unknown)).toEqual([
      `/spec/template/spec/initContainers/0/readinessProbe/timeout: unknown field in V1Probe`,
    ]);
    const wrongType = broken((sidecar) => (sidecar['ports'] = [{ name: 'ambassador-admin', containerPort: '8002' }]));
    expect(schemaProblems(wrongType).join('\n')).toMatch(/initContainers\/0\/ports\/0\/containerPort must be integer/);
    const badEnum = broken((sidecar) => (sidecar['imagePullPolicy'] = 'Sometimes'));
    expect(schemaProblems(badEnum).join('\n')).toMatch(
      /initContainers\/0\/imagePullPolicy must be equal to one of the allowed values/,
    );
  });
});

describe('manifests/base', () => {
  it('runs the ambassador as a native sidecar whose args the ambassador parses, as the image expects', async () => {
    const spec = podSpec(find(base, Deployment.is, APP));
    const sidecar = container(spec.initContainers, SIDECAR);
    expect(sidecar.restartPolicy).toBe('Always');
    expect(spec.containers.map((item) => item.name)).toEqual([APP]);

    // The image's ENTRYPOINT is the program (exec form), so `args` are its flags and no `command` replaces it.
    const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \[.*"\/app\/dist\/main\.js"\]$/m);
    // The image sizes the V8 heap from the container's limit; the benchmarks stand in for it with the
    // same heap in the manifests' limit, which the sidecar's resources must be.
    expect(JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? '[]')).toEqual([
      '/nodejs/bin/node',
      ...IMAGE_NODE_FLAGS,
      '/app/dist/main.js',
    ]);
    const percentage = Number(/^--max-old-space-size-percentage=([\d.]+)$/.exec(IMAGE_NODE_FLAGS[1])?.[1]);
    expect(
      Math.abs((MANIFEST_MEMORY_LIMIT_MIB * percentage) / 100 - Number(BUDGETED_NODE_FLAGS[1].split('=')[1])),
    ).toBeLessThan(1);
    expect(sidecar.resources?.limits?.['memory']).toBe(`${MANIFEST_MEMORY_LIMIT_MIB}Mi`);
    expect(sidecar.command).toBeUndefined();
    expect(sidecar.args).toEqual(['--policy=/etc/ambassador/policy.yaml', '--admin-address=$(POD_IP)']);
    expect(/^USER (\d+):(\d+)$/m.exec(dockerfile)?.slice(1)).toEqual([
      String(sidecar.securityContext?.runAsUser),
      String(sidecar.securityContext?.runAsGroup),
    ]);
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${sidecar.ports?.[0]?.containerPort}$`, 'm'));

    // What the kubelet passes, with $(POD_IP) expanded from the container's own env.
    const env = new Map(
      (sidecar.env ?? []).map((variable) => [variable.name, variable.valueFrom?.fieldRef?.fieldPath]),
    );
    expect(Object.fromEntries(env)).toEqual({
      POD_IP: 'status.podIP',
      HOST_IP: 'status.hostIP',
      POD_NAMESPACE: 'metadata.namespace',
      POD_NAME: 'metadata.name',
    });
    const args = (sidecar.args ?? []).map((arg) =>
      arg.replaceAll(/\$\((\w+)\)/g, (_, name: string) => (env.has(name) ? '10.244.1.7' : `unexpanded ${name}`)),
    );
    const parsed = parseOptions(args, { POD_IP: '10.244.1.7', POD_NAMESPACE: POD_NAMESPACE });
    if (parsed.kind !== 'run') throw new Error(`the sidecar's args do not parse: ${JSON.stringify(parsed)}`);
    expect(parsed.config.adminAddress).toBe('10.244.1.7');
    // The memory budget is the container's own limit, in bytes, through the Downward API.
    const budget = sidecar.env?.find((variable) => variable.name === 'KUBE_API_AMBASSADOR_MEMORY_LIMIT');
    expect(budget?.valueFrom?.resourceFieldRef).toEqual({ containerName: SIDECAR, resource: 'limits.memory' });
    const withBudget = parseOptions(args, { KUBE_API_AMBASSADOR_MEMORY_LIMIT: String(192 * 2 ** 20) });
    expect(withBudget.kind === 'run' && withBudget.config.memoryLimitBytes).toBe(192 * 2 ** 20);
    expect(parsed.config.address).toBe('127.0.0.1');
    expect(sidecar.ports).toEqual([
      { name: 'ambassador-admin', containerPort: parsed.config.adminPort, protocol: 'TCP' },
    ]);
    expect(parsed.config.serviceAccountDir).toBe(TOKEN_DIR);
    const app = container(spec.containers, APP);
    expect(app.env?.find((variable) => variable.name === 'KUBERNETES_API')?.value).toBe(
      `http://localhost:${parsed.config.port}`,
    );

    // The probes are on the admin listener's port, at the paths it serves (the run below GETs them).
    expect(sidecar.startupProbe?.httpGet).toEqual({ path: '/livez', port: 'ambassador-admin' });
    expect(sidecar.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'ambassador-admin' });
    expect(sidecar.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'ambassador-admin' });
  });

  it('hardens both containers and sizes the sidecar from its measured footprint', () => {
    const spec = podSpec(find(base, Deployment.is, APP));
    const sidecar = container(spec.initContainers, SIDECAR);
    expect(sidecar.securityContext).toEqual(HARDENED);
    expect(container(spec.containers, APP).securityContext).toEqual(HARDENED);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(sidecar.resources).toEqual({ requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '192Mi' } });
  });

  it('gives the token to the sidecar only: no automount, a projected volume mounted read-only in the sidecar alone', () => {
    const deployment = find(base, Deployment.is, APP);
    const spec = podSpec(deployment);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(find(base, ServiceAccount.is, APP).automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBe(APP);

    expectTokenOnlyInSidecar(spec, SIDECAR, TOKEN_DIR);
  });

  it('mounts the policy ConfigMap as a directory the --policy flag points into, and the app from its ConfigMap', async () => {
    const spec = podSpec(find(base, Deployment.is, APP));
    const sidecar = container(spec.initContainers, SIDECAR);
    const policyVolume = spec.volumes?.find((volume) => volume.configMap?.name === 'ambassador-policy');
    const policyMount = mounts(sidecar).get(policyVolume?.name ?? '');
    // No subPath: a subPath mount never sees the kubelet's update of the ConfigMap.
    expect(policyMount).toEqual({ name: policyVolume?.name, mountPath: '/etc/ambassador', readOnly: true });
    expect(sidecar.args).toContain(`--policy=${policyMount?.mountPath}/policy.yaml`);
    expect(configMapFile(find(base, ConfigMap.is, 'ambassador-policy'), 'policy.yaml')).toBe(
      await readFile(join(root, 'manifests/base/policy.yaml'), 'utf8'),
    );

    const app = container(spec.containers, APP);
    const appVolume = spec.volumes?.find((volume) => volume.configMap?.name === 'analytics-app');
    const appMount = mounts(app).get(appVolume?.name ?? '');
    expect(app.command).toEqual(['python3', `${appMount?.mountPath}/analytics.py`]);
    expect(configMapFile(find(base, ConfigMap.is, 'analytics-app'), 'analytics.py')).toBe(
      await readFile(join(root, 'manifests/base/app/analytics.py'), 'utf8'),
    );
    expect(mounts(app).size).toBe(1);
  });

  it('labels and annotates the pods for manifests/monitoring and annotation-based scraping', async () => {
    const template = find(base, Deployment.is, APP).spec?.template;
    const [podMonitor] = await renderKustomize('manifests/monitoring');
    const selector = (podMonitor?.['spec'] as { selector: { matchLabels: Record<string, string> } }).selector
      .matchLabels;
    expect(template?.metadata?.labels).toMatchObject(selector);
    expect(template?.metadata?.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8002',
      'prometheus.io/path': '/metrics',
    });
  });

  it('binds the Role to the ServiceAccount, and the policy allows exactly what the Role grants', () => {
    const role = find(base, Role.is, APP);
    const binding = find(base, RoleBinding.is, APP);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: APP, namespace: binding.metadata?.namespace }]);
    expect(grants(role.rules ?? [])).toEqual([
      '/pods/log:get',
      '/pods/log:list',
      '/pods/log:watch',
      '/pods:get',
      '/pods:list',
      '/pods:watch',
      'batch/jobs:create',
      'batch/jobs:get',
      'batch/jobs:list',
      'batch/jobs:watch',
    ]);
    const document = load(configMapFile(find(base, ConfigMap.is, 'ambassador-policy'), 'policy.yaml')) as {
      rules: { apiGroups?: string[]; resources?: string[]; verbs: string[] }[];
    };
    expect(grants(document.rules)).toEqual(grants(role.rules ?? []));
  });

  it('has a policy that compiles, allows what analytics.py does and refuses the rest', () => {
    const policy = compiledPolicy(configMapFile(find(base, ConfigMap.is, 'ambassador-policy'), 'policy.yaml'));
    const jobs = `/apis/batch/v1/namespaces/${POD_NAMESPACE}/jobs`;
    const pods = `/api/v1/namespaces/${POD_NAMESPACE}/pods`;
    const cases: [string, string, 'allow' | 'deny'][] = [
      // analytics.py: create the Job, read it until it finishes, list its pods by label, read their logs.
      ['POST', jobs, 'allow'],
      ['GET', `${jobs}/report-20261122-101500`, 'allow'],
      ['GET', `${jobs}?watch=1&fieldSelector=metadata.name%3Dreport-20261122-101500`, 'allow'],
      ['GET', `${pods}?labelSelector=batch.kubernetes.io%2Fjob-name%3Dreport-20261122-101500`, 'allow'],
      ['GET', `${pods}/report-20261122-101500-x7k2p/log?container=report`, 'allow'],
      // Discovery, as kubectl and clients read it.
      ['GET', '/version', 'allow'],
      ['GET', '/api', 'allow'],
      ['GET', '/apis/batch/v1', 'allow'],
      ['GET', '/openapi/v3/apis/batch/v1', 'allow'],
      // Nothing else.
      ['GET', pods, 'deny'],
      ['GET', `/api/v1/namespaces/${POD_NAMESPACE}/secrets`, 'deny'],
      ['GET', `/api/v1/namespaces/${POD_NAMESPACE}/secrets/db-password`, 'deny'],
      ['GET', '/apis/batch/v1/namespaces/team-b/jobs', 'deny'],
      ['GET', '/apis/batch/v1/jobs', 'deny'],
      ['DELETE', `${jobs}/report-20261122-101500`, 'deny'],
      ['PATCH', `${jobs}/report-20261122-101500`, 'deny'],
      ['GET', `${jobs}/report-20261122-101500/status`, 'deny'],
      ['POST', pods, 'deny'],
      ['POST', `${pods}/web/exec?command=sh`, 'deny'],
      ['POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings', 'deny'],
      ['GET', '/metrics', 'deny'],
    ];
    expect(cases.map(([method, target]) => [method, target, verdict(policy, method, target)])).toEqual(cases);
  });
});

describe('manifests/legacy-sidecar', () => {
  it('moves the ambassador from initContainers to the front of containers, otherwise unchanged', () => {
    const before = podSpec(find(base, Deployment.is, APP));
    const after = podSpec(find(legacy, Deployment.is, APP));
    expect((after.initContainers ?? []).map((item) => item.name)).not.toContain(SIDECAR);
    expect(after.containers.map((item) => item.name)).toEqual([SIDECAR, APP]);
    const { restartPolicy, ...sidecar } = container(before.initContainers, SIDECAR);
    expect(restartPolicy).toBe('Always');
    expect(after.containers[0]).toEqual(sidecar);
    expect(after.containers[1]).toEqual(container(before.containers, APP));
    expect({ ...after, containers: [], initContainers: [] }).toEqual({ ...before, containers: [], initContainers: [] });
  });
});

describe('manifests/network-policy', () => {
  it('selects the example pods, lets in only Prometheus on 8002 and out only DNS and the API server', () => {
    const policy = find(networkPolicy, NetworkPolicy.is, APP);
    const template = find(base, Deployment.is, APP).spec?.template;
    expect(policy.metadata?.namespace).toBe(find(base, Deployment.is, APP).metadata?.namespace);
    expect(template?.metadata?.labels).toMatchObject(policy.spec?.podSelector?.matchLabels ?? { missing: 'selector' });
    expect(policy.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec?.ingress?.flatMap((rule) => rule.ports ?? [])).toEqual([{ protocol: 'TCP', port: 8002 }]);
    const egress = policy.spec?.egress ?? [];
    expect(egress.map((rule) => (rule.ports ?? []).map((port) => `${port.protocol}/${port.port}`))).toEqual([
      ['UDP/53', 'TCP/53'],
      ['TCP/443', 'TCP/6443'],
    ]);
    expect(egress[1]?.to).toEqual([{ ipBlock: { cidr: '10.96.0.1/32' } }]);
  });
});

describe('analytics.py through an ambassador enforcing the rendered policy', () => {
  let cluster: TestCluster;
  let ambassador: RunningAmbassador;

  beforeAll(async () => {
    cluster = await startTestCluster();
    // What the rendered Role, plus what every authenticated user holds, looks like to a SelfSubjectRulesReview.
    const role = find(base, Role.is, APP);
    cluster.api.setRbacRules(POD_NAMESPACE, {
      resourceRules: [
        ...(role.rules ?? []).map(({ verbs, apiGroups, resources }) => ({
          verbs,
          apiGroups: apiGroups ?? [],
          resources: resources ?? [],
        })),
        {
          verbs: ['create'],
          apiGroups: ['authorization.k8s.io'],
          resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
        },
        { verbs: ['create'], apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'] },
      ],
      nonResourceRules: [
        {
          verbs: ['get'],
          nonResourceURLs: [
            '/api',
            '/api/*',
            '/apis',
            '/apis/*',
            '/healthz',
            '/livez',
            '/openapi',
            '/openapi/*',
            '/readyz',
            '/version',
            '/version/',
          ],
        },
      ],
    });
    const policyFile = join(cluster.dir, 'policy.yaml');
    await writeFile(policyFile, configMapFile(find(base, ConfigMap.is, 'ambassador-policy'), 'policy.yaml'));
    ambassador = await startAmbassador(
      [...cluster.ambassadorArgs, `--policy=${policyFile}`],
      cleanEnv({ POD_NAMESPACE }),
    );
  });

  afterAll(() => release(ambassador, cluster));

  it("starts with the policy, which agrees with the Role, and serves the sidecar's probe paths", async () => {
    await ambassador.waitForLog((line) => line.msg === "the policy agrees with the service account's RBAC");
    const spec = podSpec(find(base, Deployment.is, APP));
    const sidecar = container(spec.initContainers, SIDECAR);
    for (const probe of [sidecar.startupProbe, sidecar.livenessProbe, sidecar.readinessProbe]) {
      const response = await fetch(new URL(probe?.httpGet?.path ?? '/missing', ambassador.adminUrl));
      expect({ path: probe?.httpGet?.path, status: response.status }).toEqual({
        path: probe?.httpGet?.path,
        status: 200,
      });
    }
    const refused = await fetch(`${ambassador.url}/api/v1/namespaces/${POD_NAMESPACE}/secrets`);
    expect(refused.status).toBe(403);
    // Waited for, so the next test's count of denials starts after it.
    await ambassador.waitForLog((line) => line.msg === 'request denied by policy' && line['resource'] === 'secrets');
  });

  it('creates a Job, follows it and prints its name and status, every request allowed', async () => {
    const api = cluster.api;
    const seenBefore = api.requests.length;
    const loggedBefore = ambassador.logs.length;
    const { stdout, stderr } = await execFileAsync(
      '/usr/bin/python3',
      [join(root, 'manifests/base/app/analytics.py'), '--max-wait-seconds', '1.5', '--poll-seconds', '0.5'],
      {
        env: cleanEnv({ KUBERNETES_API: ambassador.url, POD_NAMESPACE, PYTHONDONTWRITEBYTECODE: '1' }),
        timeout: 60_000,
      },
    );
    const name = /^job (report-\d{8}-\d{6}) created in team-a$/m.exec(stdout)?.[1];
    expect(name, `stdout: ${stdout}\nstderr: ${stderr}`).toBeDefined();
    // The fake API server's Jobs stay active, so the program stops at --max-wait-seconds.
    expect(stdout).toMatch(new RegExp(`^job ${name} still running after \\d+s: active=1 succeeded=0 failed=0$`, 'm'));

    const requests = api.requests.slice(seenBefore).map((request) => `${request.method} ${request.url.split('?')[0]}`);
    const jobs = `/apis/batch/v1/namespaces/${POD_NAMESPACE}/jobs`;
    expect(new Set(requests)).toEqual(
      new Set([`POST ${jobs}`, `GET ${jobs}/${name}`, `GET /api/v1/namespaces/${POD_NAMESPACE}/pods`]),
    );
    expect(
      ambassador.logs.slice(loggedBefore).filter((line) => typeof line.msg === 'string' && line.msg.includes('denied')),
    ).toEqual([]);

    // The Job the example creates is itself a valid object.
    const created = api.requests.slice(seenBefore).find((request) => request.method === 'POST');
    expect(schemaProblems(JSON.parse(created?.body.toString('utf8') ?? '{}') as KubeObject)).toEqual([]);
  });

  it("prints a finished Job's outcome and its pod's log", async () => {
    const api = cluster.api;
    // The fake API server's Jobs never finish by themselves: answer reads of a report Job as complete.
    const complete = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'report', namespace: POD_NAMESPACE },
      status: { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] },
    };
    api.script((method, url) => method === 'GET' && /\/jobs\/report-[^/?]+$/.test(url), {
      status: 200,
      body: JSON.stringify(complete),
    });
    // Its pod carries the Job's name in batch.kubernetes.io/job-name, as the Job controller labels it; the name is the example's to choose.
    const pods = {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: '1' },
      items: [{ metadata: { name: 'report-pod', namespace: POD_NAMESPACE }, status: { phase: 'Succeeded' } }],
    };
    api.script(
      (method, url) =>
        method === 'GET' && /\/pods\?labelSelector=batch\.kubernetes\.io%2Fjob-name%3Dreport-\d{8}-\d{6}$/.test(url),
      { status: 200, body: JSON.stringify(pods) },
    );
    api.putPod(POD_NAMESPACE, 'report-pod', { status: { phase: 'Succeeded' } });
    api.appendLog(POD_NAMESPACE, 'report-pod', 'report done');
    try {
      const { stdout } = await execFileAsync('/usr/bin/python3', [join(root, 'manifests/base/app/analytics.py')], {
        env: cleanEnv({ KUBERNETES_API: ambassador.url, POD_NAMESPACE, PYTHONDONTWRITEBYTECODE: '1' }),
        timeout: 60_000,
      });
      expect(stdout).toMatch(
        /^job report-\d{8}-\d{6} succeeded: active=0 succeeded=1 failed=0\npod report-pod Succeeded\n {2}\| report done$/m,
      );
    } finally {
      api.clearScripts();
      api.deletePod(POD_NAMESPACE, 'report-pod');
    }
  });
});
