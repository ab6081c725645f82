/**
 * Validation of Kubernetes objects as the API server would check them: kubernetes-models' JSON
 * schemas (types, required fields, enums, formats), plus unknown fields, which those schemas accept
 * but kubectl's strict field validation refuses. And `kubectl kustomize`, run hermetically, and
 * finding things in the objects it renders.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as clientNode from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { expect } from 'vitest';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

const execFileAsync = promisify(execFile);
const repository = new URL('../../', import.meta.url).pathname;

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [field: string]: unknown;
}

/** `kubectl kustomize DIR` (relative to the repository), with HOME and KUBECONFIG in a fresh folder so nothing of this machine's is read. */
export async function renderKustomize(dir: string): Promise<KubeObject[]> {
  const home = await mkdtemp(join(tmpdir(), 'kustomize-home-'));
  const { stdout } = await execFileAsync('kubectl', ['kustomize', join(repository, dir)], {
    env: { PATH: process.env['PATH'] ?? '', HOME: home, KUBECONFIG: join(home, 'none') },
  });
  return stdout.split(/^---$/m).map((text) => load(text) as KubeObject);
}

interface SchemaModel {
  validate(): void;
}

/** kubernetes-models' classes, each validating against its kind's JSON schema. */
const SCHEMAS = new Map<string, new (data: never) => SchemaModel>([
  ['v1 ServiceAccount', ServiceAccount],
  ['v1 ConfigMap', ConfigMap],
  ['rbac.authorization.k8s.io/v1 Role', Role],
  ['rbac.authorization.k8s.io/v1 RoleBinding', RoleBinding],
  ['apps/v1 Deployment', Deployment],
  ['batch/v1 Job', Job],
  ['networking.k8s.io/v1 NetworkPolicy', NetworkPolicy],
]);

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The field list client-node generated for a model type (V1Container, …), or undefined for primitives. */
function attributesOf(type: string): readonly Attribute[] | undefined {
  const model = (
    clientNode as unknown as Record<string, { getAttributeTypeMap?: () => readonly Attribute[] } | undefined>
  )[type];
  return model?.getAttributeTypeMap?.();
}

/**
 * The JSON schemas accept unknown fields (the API's OpenAPI has no additionalProperties: false), so
 * a misspelt field would pass them; the API server rejects it. This walks the object along the field
 * lists client-node generated from the same OpenAPI.
 */
function unknownFields(value: unknown, type: string, path: string, problems: string[]): void {
  const list = /^Array<(.+)>$/.exec(type)?.[1];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  if (list !== undefined && Array.isArray(value)) {
    value.forEach((item, index) => unknownFields(item, list, `${path}/${index}`, problems));
    return;
  }
  if (map !== undefined && isRecord(value)) {
    for (const [key, item] of Object.entries(value)) unknownFields(item, map, `${path}/${key}`, problems);
    return;
  }
  const attributes = attributesOf(type);
  if (attributes === undefined || !isRecord(value)) return;
  const fields = new Map(attributes.map((attribute) => [attribute.baseName, attribute.type]));
  for (const [key, item] of Object.entries(value)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined) problems.push(`${path}/${key}: unknown field in ${type}`);
    else unknownFields(item, fieldType, `${path}/${key}`, problems);
  }
}

/** Every reason the API server's schema would refuse the object; empty when it is valid. */
export function schemaProblems(object: KubeObject): string[] {
  const label = `${object.apiVersion} ${object.kind}`;
  const Model = SCHEMAS.get(label);
  if (Model === undefined) return [`${label}: no schema known to this test`];
  const problems: string[] = [];
  try {
    new Model(object as never).validate();
  } catch (error) {
    problems.push((error as Error).message);
  }
  const version = object.apiVersion.slice(object.apiVersion.lastIndexOf('/') + 1);
  const type = `${version[0]?.toUpperCase() ?? ''}${version.slice(1)}${object.kind}`;
  if (attributesOf(type) === undefined) problems.push(`${label}: client-node has no model ${type}`);
  unknownFields(object, type, '', problems);
  return problems;
}

export function find<T>(objects: readonly KubeObject[], guard: (value: unknown) => value is T, name: string): T {
  const found = objects.find((object) => guard(object) && object.metadata.name === name);
  if (found === undefined || !guard(found)) throw new Error(`no such object named ${name}`);
  return found;
}

export function podSpec(deployment: IDeployment): IPodSpec {
  const spec = deployment.spec?.template.spec;
  if (spec === undefined) throw new Error(`${deployment.metadata?.name ?? ''} has no pod spec`);
  return spec;
}

export function container(list: readonly IContainer[] | undefined, name: string): IContainer {
  const found = list?.find((item) => item.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
}

export function configMapFile(configMap: IConfigMap, key: string): string {
  const text = configMap.data?.[key];
  if (text === undefined) throw new Error(`ConfigMap ${configMap.metadata?.name ?? ''} has no key ${key}`);
  return text;
}

/** The volumes the container mounts, by volume name. */
export function mounts(item: IContainer): Map<string, { mountPath: string; readOnly?: boolean; subPath?: string }> {
  return new Map((item.volumeMounts ?? []).map((mount) => [mount.name, mount]));
}

/**
 * The pod's service-account token is a projected volume (token, cluster CA, namespace) mounted
 * read-only at `tokenDir` in the sidecar alone: the app cannot go around the ambassador with it.
 */
export function expectTokenOnlyInSidecar(spec: IPodSpec, sidecar: string, tokenDir: string): void {
  const tokenVolumes = (spec.volumes ?? []).filter((volume) =>
    volume.projected?.sources?.some((source) => source.serviceAccountToken !== undefined),
  );
  expect(tokenVolumes.map((volume) => volume.projected?.sources)).toEqual([
    [
      { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
    ],
  ]);
  const tokenVolume = tokenVolumes[0]?.name ?? '';
  const mountedBy = [...(spec.initContainers ?? []), ...spec.containers]
    .filter((item) => mounts(item).has(tokenVolume))
    .map((item) => item.name);
  expect(mountedBy).toEqual([sidecar]);
  expect(mounts(container(spec.initContainers, sidecar)).get(tokenVolume)).toEqual({
    name: tokenVolume,
    mountPath: tokenDir,
    readOnly: true,
  });
}

/** The security context of the sidecar (and the example app): the image's non-root user, nothing writable, no privileges. */
export const HARDENED = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};
