/**
 * charts/: the kube-api-ambassador library chart and the example chart that uses it, linted and
 * rendered by a real Helm (test/support/helm.ts: the binary of a pinned devDependency), on a copy in
 * a temp folder, since `helm dependency update` writes the library's package into the example. The
 * rendered objects are validated like deploy-manifests.test.ts validates the manifests, the pod is
 * checked as it checks manifests/base (native sidecar, token in the sidecar alone, probes, security
 * contexts), and the whole is compared with manifests/base and manifests/legacy-sidecar so the chart
 * and the manifests cannot drift. Helm's own schema validation refuses wrong values; every value in
 * the library's values.yaml is shown to reach the output.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dump, load, loadAll } from 'js-yaml';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/options.ts';
import { parseOptions } from '../../src/config/parse-options.ts';
import { HELM_VERSION, startHelm, type Helm } from '../support/helm.ts';
import {
  configMapFile,
  container,
  expectTokenOnlyInSidecar,
  find,
  HARDENED,
  podSpec,
  renderKustomize,
  schemaProblems,
  type KubeObject,
} from '../support/kubernetes-schemas.ts';
import { release, removeDirectory } from '../support/teardown.ts';

const root = new URL('../../', import.meta.url).pathname;
const LIBRARY_DIR = join(root, 'charts/kube-api-ambassador');
const EXAMPLE_DIR = join(root, 'charts/example');
/** The dependency alias the library's templates read their values under (.Values.kubeApiAmbassador). */
const ALIAS = 'kubeApiAmbassador';
const SIDECAR = 'kube-api-ambassador';
const APP = 'analytics';
const RELEASE = APP;
const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

type Values = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Dependency {
  readonly name: string;
  readonly version: string;
  readonly repository: string;
  readonly alias?: string;
}

interface ChartMetadata {
  readonly apiVersion: string;
  readonly name: string;
  readonly type: string;
  readonly version: string;
  readonly appVersion: string;
  readonly description: string;
  readonly dependencies?: readonly Dependency[];
}

interface Chart {
  readonly dir: string;
  readonly metadata: ChartMetadata;
  readonly values: Values;
  /** templates/ files by name. */
  readonly templates: ReadonlyMap<string, string>;
}

async function loadChart(dir: string): Promise<Chart> {
  const read = (path: string) => readFile(join(dir, path), 'utf8');
  const values = load(await read('values.yaml'));
  if (!isRecord(values)) throw new Error(`${dir}/values.yaml is not a map`);
  const names = (await readdir(join(dir, 'templates'))).sort();
  return {
    dir,
    metadata: load(await read('Chart.yaml')) as ChartMetadata,
    values,
    templates: new Map(await Promise.all(names.map(async (name) => [name, await read(`templates/${name}`)] as const))),
  };
}

// --- values references --------------------------------------------------------------------------

/** The `.Values.a.b` paths the templates' actions read, as ['a', 'b']; comments do not count. */
function valuesReferences(sources: Iterable<string>): string[][] {
  const paths = new Map<string, string[]>();
  for (const source of sources) {
    const withoutComments = source.replaceAll(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '');
    for (const action of withoutComments.match(/\{\{[\s\S]*?\}\}/g) ?? []) {
      for (const match of action.matchAll(/\.Values((?:\.[A-Za-z_]\w*)+)/g)) {
        const path = (match[1] ?? '').split('.').slice(1);
        paths.set(path.join('.'), path);
      }
    }
  }
  return [...paths.values()];
}

function hasPath(values: unknown, path: readonly string[]): boolean {
  let current = values;
  for (const key of path) {
    if (!isRecord(current) || !(key in current)) return false;
    current = current[key];
  }
  return true;
}

/** Paths to the values.yaml entries that are not maps (or are empty maps). */
function leafPaths(values: Values, prefix: readonly string[] = []): string[][] {
  return Object.entries(values).flatMap(([key, value]) =>
    isRecord(value) && Object.keys(value).length > 0 ? leafPaths(value, [...prefix, key]) : [[...prefix, key]],
  );
}

/** References to absent values, and values no reference reads (a reference to a map reads all beneath it). */
function referenceProblems(references: readonly string[][], values: Values, available: Values = values): string[] {
  const missing = references
    .filter((path) => !hasPath(available, path))
    .map((path) => `.Values.${path.join('.')} is not in values.yaml`);
  const reads = (leaf: readonly string[]) =>
    references.some((path) => path.length <= leaf.length && path.every((key, i) => key === leaf[i]));
  const unused = leafPaths(values)
    .filter((leaf) => !reads(leaf))
    .map((leaf) => `${leaf.join('.')} is never read by a template`);
  return [...missing, ...unused];
}

// --- helm -----------------------------------------------------------------------------------------

let helm: Helm;
let work: string;
let library: Chart;
let example: Chart;
let schema: { required: string[]; properties: Record<string, unknown> };
let base: KubeObject[];
let legacy: KubeObject[];

/** `helm template` of the example (the copy whose dependency is built) with these values over its own. */
async function helmTemplate(values: Values = {}): Promise<{ code: number; objects: KubeObject[]; stderr: string }> {
  const valuesFile = join(work, `values-${randomUUID()}.yaml`);
  await writeFile(valuesFile, dump(values));
  const result = await helm.run([
    'template',
    RELEASE,
    join(work, 'example'),
    '--namespace',
    APP,
    '--values',
    valuesFile,
  ]);
  const objects = loadAll(result.stdout).filter((document): document is KubeObject => isRecord(document));
  return { code: result.code, objects, stderr: result.stderr };
}

async function rendered(values: Values = {}): Promise<KubeObject[]> {
  const result = await helmTemplate(values);
  if (result.code !== 0) throw new Error(`helm template exited ${result.code}: ${result.stderr}`);
  return result.objects;
}

/** The ambassador's options from the sidecar's args, with $(VAR) expanded as the kubelet does. */
function sidecarOptions(sidecar: IContainer): Config {
  const env: Readonly<Record<string, string | undefined>> = {
    POD_IP: '10.244.1.7',
    HOST_IP: '10.0.0.4',
    POD_NAMESPACE: APP,
    POD_NAME: 'analytics-5d8f-x2k4q',
  };
  const args = (sidecar.args ?? []).map((arg) =>
    arg.replaceAll(/\$\((\w+)\)/g, (_, name: string) => env[name] ?? `unexpanded ${name}`),
  );
  const parsed = parseOptions(args, env);
  if (parsed.kind !== 'run') throw new Error(`the sidecar's args do not parse: ${JSON.stringify(parsed)}`);
  return parsed.config;
}

function renderedDeployment(objects: readonly KubeObject[]): IPodSpec {
  return podSpec(find(objects, Deployment.is, APP));
}

beforeAll(async () => {
  helm = await startHelm();
  work = await mkdtemp(join(tmpdir(), 'helm-charts-'));
  await cp(join(root, 'charts'), work, { recursive: true });
  // The example's dependency is file://../kube-api-ambassador: this packages the copy next to it.
  await helm.ok(['dependency', 'update', join(work, 'example')]);
  [library, example] = await Promise.all([loadChart(LIBRARY_DIR), loadChart(EXAMPLE_DIR)]);
  schema = JSON.parse(await readFile(join(LIBRARY_DIR, 'values.schema.json'), 'utf8')) as typeof schema;
  [base, legacy] = await Promise.all([renderKustomize('manifests/base'), renderKustomize('manifests/legacy-sidecar')]);
}, 60_000);

afterAll(async () => {
  await release(helm);
  await removeDirectory(work);
});

// --- the tests ----------------------------------------------------------------------------------

describe('charts/: metadata and values', () => {
  it(`runs the pinned Helm, ${HELM_VERSION}`, async () => {
    expect(await helm.ok(['version', '--template', '{{.Version}}'])).toBe(HELM_VERSION);
  });

  it('has a v2 library chart and an application chart depending on it by the alias its templates read', async () => {
    const packageVersion = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(library.metadata).toMatchObject({
      apiVersion: 'v2',
      name: 'kube-api-ambassador',
      type: 'library',
      version: '0.1.0',
      appVersion: packageVersion,
    });
    expect(library.metadata.description).toEqual(expect.any(String));
    expect(library.values['image']).toMatchObject({
      repository: 'kube-api-ambassador',
      tag: library.metadata.appVersion,
    });
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toContain(
      `org.opencontainers.image.version="${library.metadata.appVersion}"`,
    );

    expect(example.metadata).toMatchObject({
      apiVersion: 'v2',
      name: 'example',
      type: 'application',
      version: expect.any(String) as unknown,
      appVersion: expect.any(String) as unknown,
    });
    expect(example.metadata.dependencies).toEqual([
      {
        name: library.metadata.name,
        version: library.metadata.version,
        repository: 'file://../kube-api-ambassador',
        alias: ALIAS,
      },
    ]);
    const repository = example.metadata.dependencies?.[0]?.repository.replace(/^file:\/\//, '') ?? '';
    expect(resolve(EXAMPLE_DIR, repository)).toBe(LIBRARY_DIR);
    // Helm needs the directory's name to be the chart's.
    expect([library.dir, example.dir].map((dir) => dir.split('/').at(-1))).toEqual([
      library.metadata.name,
      example.metadata.name,
    ]);
  });

  it('passes helm lint --strict, both charts', async () => {
    const result = await helm.run(['lint', '--strict', join(work, 'kube-api-ambassador'), join(work, 'example')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('2 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('has a schema that describes and requires every value of values.yaml (global aside)', () => {
    const described = Object.keys(schema.properties).filter((key) => key !== 'global');
    expect(described.sort()).toEqual(Object.keys(library.values).sort());
    expect([...schema.required].sort()).toEqual(Object.keys(library.values).sort());
    // The example overrides only keys the library has (also what additionalProperties: false enforces).
    const overridden = example.values[ALIAS];
    expect(
      isRecord(overridden) ? Object.keys(overridden).filter((key) => !(key in library.values)) : 'no overrides',
    ).toEqual([]);
  });

  it('is refused by helm template with values values.schema.json does not allow, each problem named', async () => {
    const result = await helmTemplate({
      [ALIAS]: {
        image: { tag: 0.1, pullPolicy: 'Sometimes' },
        auditLevel: 'RequestResponse',
        tokenExpirationSeconds: 60,
        adminPort: '8002',
        metricsPort: 9090,
        // null deletes a default in Helm: the schema then misses a required key.
        nativeSidecar: null,
        extraArgs: ['max-qps=5'],
        extraEnv: [{ value: 'no name' }],
        prometheusRule: { enabled: 'yes' },
      },
    });
    expect(result.code).toBe(1);
    expect(result.objects).toEqual([]);
    expect(result.stderr).toContain("values don't meet the specifications of the schema(s)");
    const problems = result.stderr
      .split('\n')
      .filter((line) => /^\s*- at /.test(line))
      .map((line) => line.trim())
      .sort();
    expect(problems).toEqual([
      "- at '': additional properties 'metricsPort' not allowed",
      "- at '': missing property 'nativeSidecar'",
      "- at '/adminPort': got string, want integer",
      "- at '/auditLevel': value must be one of 'Metadata', 'None'",
      "- at '/extraArgs/0': 'max-qps=5' does not match pattern '^--[a-z]'",
      "- at '/extraEnv/0': missing property 'name'",
      "- at '/image': validation failed",
      "- at '/image/pullPolicy': value must be one of '', 'Always', 'IfNotPresent', 'Never'",
      "- at '/image/tag': got number, want string",
      "- at '/prometheusRule/enabled': got string, want boolean",
      "- at '/tokenExpirationSeconds': minimum: got 60, want 600",
    ]);
  });

  it('reads every value of both values.yaml files, and only values that exist', () => {
    const libraryReferences = valuesReferences(library.templates.values());
    expect(libraryReferences.filter((path) => path[0] !== ALIAS)).toEqual([]);
    expect(
      referenceProblems(
        libraryReferences.map((path) => path.slice(1)),
        library.values,
      ),
    ).toEqual([]);
    // The example's own templates and the library's, over the library's values under the alias.
    const exampleReferences = valuesReferences([...example.templates.values(), ...library.templates.values()]);
    expect(
      referenceProblems(exampleReferences, example.values, { ...example.values, [ALIAS]: library.values }),
    ).toEqual([]);
  });

  it('would report a misspelt reference and a value no template reads, and ignores references in comments', () => {
    const source =
      '{{/* .Values.kubeApiAmbassador */}}{{ .Values.kubeApiAmbassador.image.pulPolicy }}{{ .Values.kubeApiAmbassador.image.tag }}';
    expect(
      referenceProblems(
        valuesReferences([source]).map((path) => path.slice(1)),
        { image: { tag: '1', pullPolicy: '' } },
      ),
    ).toEqual(['.Values.image.pulPolicy is not in values.yaml', 'image.pullPolicy is never read by a template']);
  });

  it('documents, above each public template, the include line the example uses', () => {
    const [helpers] = library.templates.values();
    const defines = [...(helpers ?? '').matchAll(/\{\{- define "([^"]+)"/g)].map((match) => match[1] ?? '');
    expect(defines.sort()).toEqual([
      'kube-api-ambassador.podAnnotations',
      'kube-api-ambassador.podLabels',
      'kube-api-ambassador.policyConfigMap',
      'kube-api-ambassador.policyConfigMapName',
      'kube-api-ambassador.prometheusRule',
      'kube-api-ambassador.sidecar',
      'kube-api-ambassador.volumes',
    ]);
    const exampleSources = [...example.templates.values()].join('\n');
    for (const name of defines.filter((define) => define !== 'kube-api-ambassador.policyConfigMapName')) {
      const comment =
        new RegExp(
          `\\{\\{/\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\}\\}\\s*\\{\\{- define "${name.replaceAll('.', '\\.')}"`,
        ).exec(helpers ?? '')?.[1] ?? '';
      const line = new RegExp(`^ *(\\{\\{-? include "${name.replaceAll('.', '\\.')}" \\. [^\\n]*\\}\\})$`, 'm').exec(
        comment,
      )?.[1];
      expect({ name, line }).toEqual({ name, line: expect.any(String) as unknown });
      expect(exampleSources).toContain(line);
    }
  });
});

describe('charts/example rendered by helm template', () => {
  it('gives the example objects, each valid against the Kubernetes API schemas', async () => {
    const objects = await rendered();
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()).toEqual([
      'ConfigMap/analytics-ambassador-policy',
      'ConfigMap/analytics-app',
      'Deployment/analytics',
      'Role/analytics',
      'RoleBinding/analytics',
      'ServiceAccount/analytics',
    ]);
    for (const object of objects) {
      const label = `${object.kind}/${object.metadata.name}`;
      expect({ label, problems: schemaProblems(object) }).toEqual({ label, problems: [] });
    }
    // The same checks fail on a broken sidecar.
    const broken = structuredClone(find(objects, Deployment.is, APP)) as unknown as KubeObject;
    const sidecar = container(podSpec(broken as unknown as IDeployment).initContainers, SIDECAR) as unknown as Record<
      string,
      unknown
    >;
    sidecar['restartPolcy'] = 'Always';
    expect(schemaProblems(broken)).toEqual([
      '/spec/template/spec/initContainers/0/restartPolcy: unknown field in V1Container',
    ]);
  });

  it('runs the ambassador as a native sidecar with probes on its admin port and hardened security contexts', async () => {
    const spec = renderedDeployment(await rendered());
    expect(spec.initContainers?.map((item) => item.name)).toEqual([SIDECAR]);
    const sidecar = container(spec.initContainers, SIDECAR);
    expect(sidecar.restartPolicy).toBe('Always');
    const options = sidecarOptions(sidecar);
    expect(options.adminAddress).toBe('10.244.1.7');
    expect(options.address).toBe('127.0.0.1');
    expect(sidecar.ports).toEqual([{ name: 'ambassador-admin', containerPort: options.adminPort, protocol: 'TCP' }]);
    expect(sidecar.startupProbe?.httpGet).toEqual({ path: '/livez', port: 'ambassador-admin' });
    expect(sidecar.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'ambassador-admin' });
    expect(sidecar.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'ambassador-admin' });
    expect(sidecar.securityContext).toEqual(HARDENED);
    expect(container(spec.containers, APP).securityContext).toEqual(HARDENED);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(sidecar.resources).toEqual({ requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '192Mi' } });
  });

  it('gives the token to the sidecar only: no automount, a projected volume mounted read-only in the sidecar alone', async () => {
    const objects = await rendered();
    const spec = renderedDeployment(objects);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(find(objects, ServiceAccount.is, APP).automountServiceAccountToken).toBe(false);
    expectTokenOnlyInSidecar(spec, SIDECAR, TOKEN_DIR);
    expect(sidecarOptions(container(spec.initContainers, SIDECAR)).serviceAccountDir).toBe(TOKEN_DIR);
  });

  it("matches manifests/base: the sidecar (its args meaning the same options), the volumes, the pod's settings, the app", async () => {
    const objects = await rendered();
    const chart = renderedDeployment(objects);
    const manifest = renderedDeployment(base);

    const { args: chartArgs, ...chartSidecar } = container(chart.initContainers, SIDECAR);
    const { args: manifestArgs, ...manifestSidecar } = container(manifest.initContainers, SIDECAR);
    expect(chartSidecar).toEqual(manifestSidecar);
    // The chart also spells out --policy-mode, --admin-port and --audit-level, at their defaults.
    expect(sidecarOptions({ ...chartSidecar, args: chartArgs })).toEqual(
      sidecarOptions({ ...manifestSidecar, args: manifestArgs }),
    );
    expect(chartArgs).toEqual(expect.arrayContaining(manifestArgs ?? []));

    // Only the policy ConfigMap's name differs: one per release.
    const renamed = (manifest.volumes ?? []).map((volume) =>
      volume.configMap?.name === 'ambassador-policy'
        ? { ...volume, configMap: { name: `${RELEASE}-ambassador-policy` } }
        : volume,
    );
    expect(chart.volumes).toEqual(renamed);
    expect(chart.containers).toEqual(manifest.containers);
    const settings = (spec: IPodSpec) => ({ ...spec, containers: [], initContainers: [], volumes: [] });
    expect(settings(chart)).toEqual(settings(manifest));

    const podMetadata = (objects: readonly KubeObject[]) => find(objects, Deployment.is, APP).spec?.template.metadata;
    expect(podMetadata(objects)?.annotations).toEqual(podMetadata(base)?.annotations);
    expect(podMetadata(objects)?.labels).toEqual({
      ...podMetadata(base)?.labels,
      'app.kubernetes.io/instance': RELEASE,
    });
    expect(find(objects, Role.is, APP).rules).toEqual(find(base, Role.is, APP).rules);
    expect(find(objects, RoleBinding.is, APP).subjects).toEqual(find(base, RoleBinding.is, APP).subjects);
  });

  it("carries manifests/base's policy (the same rules) and its program (the same bytes) in its ConfigMaps", async () => {
    const objects = await rendered();
    const policy = configMapFile(find(objects, ConfigMap.is, `${RELEASE}-ambassador-policy`), 'policy.yaml');
    expect(load(policy)).toEqual(load(await readFile(join(root, 'manifests/base/policy.yaml'), 'utf8')));
    expect(policy).toBe((example.values[ALIAS] as { policy: string }).policy);
    expect(configMapFile(find(objects, ConfigMap.is, `${RELEASE}-app`), 'analytics.py')).toBe(
      await readFile(join(root, 'manifests/base/app/analytics.py'), 'utf8'),
    );
  });

  it('with nativeSidecar: false, matches manifests/legacy-sidecar: the sidecar first in containers, without restartPolicy', async () => {
    const objects = await rendered({ [ALIAS]: { nativeSidecar: false } });
    const chart = renderedDeployment(objects);
    const manifest = renderedDeployment(legacy);
    expect(chart.initContainers ?? []).toEqual(manifest.initContainers ?? []);
    expect(chart.containers.map((item) => item.name)).toEqual([SIDECAR, APP]);
    // The chart's args also spell out defaults (compared as options in manifests/base's test); the rest must match.
    expect({ ...container(chart.containers, SIDECAR), args: [] }).toEqual({
      ...container(manifest.containers, SIDECAR),
      args: [],
    });
    expect(container(chart.containers, SIDECAR).restartPolicy).toBeUndefined();
    expect(schemaProblems(find(objects, Deployment.is, APP) as unknown as KubeObject)).toEqual([]);
  });

  it("without a policy, renders kubectl proxy's defaults: no --policy, no policy volume or mount, no ConfigMap", async () => {
    const objects = await rendered({ [ALIAS]: { policy: '' } });
    expect(objects.filter((object) => object.kind === 'ConfigMap').map((object) => object.metadata.name)).toEqual([
      `${RELEASE}-app`,
    ]);
    const spec = renderedDeployment(objects);
    const sidecar = container(spec.initContainers, SIDECAR);
    expect(sidecar.args).toEqual(['--admin-address=$(POD_IP)', '--admin-port=8002', '--audit-level=Metadata']);
    expect(sidecarOptions(sidecar).policyFile).toBe('');
    expect((sidecar.volumeMounts ?? []).map((mount) => mount.name)).toEqual(['service-account']);
    expect((spec.volumes ?? []).map((volume) => volume.name)).toEqual(['service-account', 'app']);
    for (const object of objects) expect(schemaProblems(object)).toEqual([]);
  });

  it('passes every value of values.yaml through: image, pull policy, policy mode, audit level, admin port, resources, token lifetime, extra flags and environment, the alerts', async () => {
    const overrides = {
      image: { repository: 'registry.example/kube-api-ambassador', tag: '0.2.0', pullPolicy: 'Always' },
      policy: 'rules: []\n',
      policyMode: 'log',
      auditLevel: 'None',
      adminPort: 9102,
      resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { cpu: 1, memory: '256Mi' } },
      tokenExpirationSeconds: 7200,
      nativeSidecar: false,
      extraArgs: [
        '--max-qps=50',
        '--audit-log-path=/var/log/ambassador/audit.log',
        '--log-level=debug',
        '--audit-level=Metadata',
      ],
      extraEnv: [
        { name: 'NODE_OPTIONS', value: '--max-old-space-size=96' },
        { name: 'TEAM', valueFrom: { configMapKeyRef: { name: 'team', key: 'name' } } },
      ],
      prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    };
    // Every value of the library's values.yaml is overridden here, so each is checked below.
    expect(
      leafPaths(library.values)
        .filter((path) => !hasPath(overrides, path))
        .map((path) => path.join('.')),
    ).toEqual([]);

    const objects = await rendered({ [ALIAS]: overrides });
    const deployment = find(objects, Deployment.is, APP);
    const spec = podSpec(deployment);
    const sidecar = container(spec.containers, SIDECAR);
    expect(sidecar).toMatchObject({
      image: 'registry.example/kube-api-ambassador:0.2.0',
      imagePullPolicy: 'Always',
      ports: [{ name: 'ambassador-admin', containerPort: 9102, protocol: 'TCP' }],
      resources: overrides.resources,
    });
    expect(sidecar.restartPolicy).toBeUndefined();
    // extraArgs come last, so --audit-level=Metadata there overrides auditLevel's --audit-level=None.
    expect(sidecar.args?.slice(-5)).toEqual(['--audit-level=None', ...overrides.extraArgs]);
    expect(sidecarOptions(sidecar)).toMatchObject({
      adminPort: 9102,
      auditLevel: 'Metadata',
      policyMode: 'log',
      policyFile: '/etc/ambassador/policy.yaml',
      maxQps: 50,
      auditLogPath: '/var/log/ambassador/audit.log',
      logLevel: 'debug',
    });
    expect(sidecar.env?.map((variable) => variable.name)).toEqual([
      'POD_IP',
      'HOST_IP',
      'POD_NAMESPACE',
      'POD_NAME',
      'KUBE_API_AMBASSADOR_MEMORY_LIMIT',
      'NODE_OPTIONS',
      'TEAM',
    ]);
    expect(sidecar.env?.slice(-2)).toEqual(overrides.extraEnv);
    expect(configMapFile(find(objects, ConfigMap.is, `${RELEASE}-ambassador-policy`), 'policy.yaml')).toBe(
      overrides.policy,
    );
    expect(deployment.spec?.template.metadata?.annotations?.['prometheus.io/port']).toBe('9102');
    expect(spec.volumes?.[0]?.projected?.sources?.[0]).toEqual({
      serviceAccountToken: { path: 'token', expirationSeconds: 7200 },
    });
    expect(schemaProblems(deployment as unknown as KubeObject)).toEqual([]);

    const rule = objects.find((object) => object.kind === 'PrometheusRule');
    const manifest = load(await readFile(join(root, 'manifests/monitoring/prometheusrule.yaml'), 'utf8')) as KubeObject;
    expect(rule?.apiVersion).toBe(manifest.apiVersion);
    expect(rule?.metadata).toEqual({
      name: `${RELEASE}-kube-api-ambassador`,
      labels: {
        'app.kubernetes.io/name': 'kube-api-ambassador',
        'app.kubernetes.io/instance': RELEASE,
        release: 'kube-prometheus-stack',
      },
    });
    expect(rule?.['spec']).toEqual(manifest['spec']);
  });

  it('renders no PrometheusRule unless prometheusRule.enabled', async () => {
    expect((await rendered()).filter((object) => object.kind === 'PrometheusRule')).toEqual([]);
  });
});
