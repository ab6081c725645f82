/** The fake API server's resources: an in-memory object store with resource versions and watches, pod logs, and the patch types it applies. */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { ApiError, apiVersionOf, badRequest, type JsonObject, type Resource } from './api-status.ts';

export const PODS: Resource = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };
export const CONFIGMAPS: Resource = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
export const JOBS: Resource = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' };

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  type: WatchEventType;
  object: JsonObject;
}

/** The global resourceVersion counter shared by every kind, like etcd's revision. */
export class ResourceVersions {
  #current = 1000;

  next(): string {
    this.#current += 1;
    return this.current();
  }

  current(): string {
    return String(this.#current);
  }
}

/** Objects of one resource, keyed by namespace and name, with defaulting and change notifications. */
export class ObjectStore {
  readonly #resource: Resource;
  readonly #versions: ResourceVersions;
  readonly #defaults: (namespace: string, name: string) => JsonObject;
  readonly #objects = new Map<string, JsonObject>();
  readonly #listeners = new Set<(event: WatchEvent) => void>();

  constructor(
    resource: Resource,
    versions: ResourceVersions,
    defaults: (namespace: string, name: string) => JsonObject,
  ) {
    this.#resource = resource;
    this.#versions = versions;
    this.#defaults = defaults;
  }

  get(namespace: string, name: string): JsonObject | undefined {
    return this.#objects.get(objectKey(namespace, name));
  }

  /** Objects of one namespace, or of all namespaces when `namespace` is '', sorted like etcd keys. */
  list(namespace: string, filter: (object: JsonObject) => boolean = () => true): JsonObject[] {
    const prefix = namespace === '' ? '' : objectKey(namespace, '');
    return [...this.#objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, object]) => object)
      .filter(filter);
  }

  listObject(items: JsonObject[]): JsonObject {
    return {
      kind: `${this.#resource.kind}List`,
      apiVersion: apiVersionOf(this.#resource),
      metadata: { resourceVersion: this.#versions.current() },
      items,
    };
  }

  /** Creates or replaces the object: applies defaults, then stamps identity and a new resourceVersion. */
  save(namespace: string, name: string, object: JsonObject): JsonObject {
    const previous = this.get(namespace, name);
    const previousMetadata = previous === undefined ? undefined : metadataOf(previous);
    const defaulted = asObject(mergePatch(this.#defaults(namespace, name), structuredClone(object)));
    // The placeholders give the key order of the real server's JSON: apiVersion, kind, metadata, then the rest.
    const stored: JsonObject = { apiVersion: '', kind: '', metadata: {}, ...defaulted };
    stored.apiVersion = apiVersionOf(this.#resource);
    stored.kind = this.#resource.kind;
    stored.metadata = {
      ...metadataOf(defaulted),
      name,
      namespace,
      uid: previousMetadata?.uid ?? randomUUID(),
      creationTimestamp: previousMetadata?.creationTimestamp ?? timestamp(),
      resourceVersion: this.#versions.next(),
    };
    this.#objects.set(objectKey(namespace, name), stored);
    this.#emit({ type: previous === undefined ? 'ADDED' : 'MODIFIED', object: stored });
    return stored;
  }

  /** Deletes the object and returns it with the deletion's resourceVersion, as watchers see it. */
  remove(namespace: string, name: string): JsonObject | undefined {
    const previous = this.get(namespace, name);
    if (previous === undefined) return undefined;
    this.#objects.delete(objectKey(namespace, name));
    const removed = { ...previous, metadata: { ...metadataOf(previous), resourceVersion: this.#versions.next() } };
    this.#emit({ type: 'DELETED', object: removed });
    return removed;
  }

  subscribe(listener: (event: WatchEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: WatchEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** RFC 3339 without fractional seconds, as metav1.Time serializes. */
export function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A running pod with one container named `main`, so kubectl exec, attach and port-forward accept it. */
export function defaultPod(namespace: string, name: string): JsonObject {
  const now = timestamp();
  return {
    metadata: { name, namespace },
    spec: {
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }],
      restartPolicy: 'Always',
      nodeName: 'fake-node',
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      hostIP: '10.0.0.1',
      podIP: '10.244.0.2',
      startTime: now,
    },
  };
}

/** The groups kube-apiserver gives a service account's token: all accounts, those of its namespace, authenticated. */
export function serviceAccountGroups(username: string): string[] {
  const account = /^system:serviceaccount:([^:]+):[^:]+$/.exec(username);
  const namespace = account?.[1];
  return namespace === undefined
    ? ['system:authenticated']
    : ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}

export function defaultJob(namespace: string, name: string): JsonObject {
  return {
    metadata: { name, namespace },
    spec: { parallelism: 1, completions: 1, backoffLimit: 6 },
    status: { active: 1, startTime: timestamp() },
  };
}

export interface PodLog {
  text: string[];
  /** Set once the (imaginary) container has exited: follows then end after the lines so far. */
  ended: boolean;
  followers: Set<ServerResponse>;
}

export class PodLogs {
  readonly #logs = new Map<string, PodLog>();

  text(namespace: string, pod: string): string {
    return this.#log(namespace, pod).text.join('');
  }

  append(namespace: string, pod: string, line: string): void {
    const log = this.#log(namespace, pod);
    const text = `${line}\n`;
    log.text.push(text);
    for (const follower of log.followers) follower.write(text);
  }

  end(namespace: string, pod: string): void {
    const log = this.#log(namespace, pod);
    log.ended = true;
    for (const follower of log.followers) follower.end();
    log.followers.clear();
  }

  /** Ends the log of a deleted pod and forgets it, so a new pod of that name starts afresh. */
  forget(namespace: string, pod: string): void {
    this.end(namespace, pod);
    this.#logs.delete(objectKey(namespace, pod));
  }

  /** Streams the lines so far, then every appended line until the log ends or the client leaves. */
  follow(namespace: string, pod: string, response: ServerResponse): void {
    const log = this.#log(namespace, pod);
    response.write(log.text.join(''));
    if (log.ended) {
      response.end();
      return;
    }
    log.followers.add(response);
    response.once('close', () => log.followers.delete(response));
  }

  #log(namespace: string, pod: string): PodLog {
    const key = objectKey(namespace, pod);
    let log = this.#logs.get(key);
    if (log === undefined) {
      log = { text: [], ended: false, followers: new Set() };
      this.#logs.set(key, log);
    }
    return log;
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asObject(value: unknown): JsonObject {
  if (!isObject(value)) throw badRequest('the body must be a JSON object');
  return value;
}

export function metadataOf(object: JsonObject): JsonObject {
  return isObject(object.metadata) ? object.metadata : {};
}

export function stringField(object: JsonObject, field: string): string | undefined {
  const value = object[field];
  return typeof value === 'string' ? value : undefined;
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`the body of the request is not valid JSON: ${(error as Error).message}`);
  }
}

/** RFC 7386: objects merge recursively, null deletes a member, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a JSON object member, removed as RFC 7386 says; the document must stay a plain object
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** RFC 6902 with the add, replace and remove operations. */
export function applyJsonPatch(document: JsonObject, operations: unknown): JsonObject {
  if (!Array.isArray(operations)) throw badRequest('a JSON patch must be an array of operations');
  const patched = structuredClone(document);
  for (const operation of operations) applyJsonPatchOperation(patched, asObject(operation));
  return patched;
}

export function applyJsonPatchOperation(document: JsonObject, operation: JsonObject): void {
  const { op, path, value } = operation;
  if (typeof path !== 'string') throw badRequest('a JSON patch operation needs a string path');
  const tokens = parseJsonPointer(path);
  const key = tokens.pop();
  if (key === undefined) throw badRequest('JSON patch operations on the whole document are not supported');
  const parent = resolveJsonPointer(document, tokens, path);
  switch (op) {
    case 'add': {
      addMember(parent, key, value, path);
      return;
    }
    case 'replace': {
      replaceMember(parent, key, value, path);
      return;
    }
    case 'remove': {
      removeMember(parent, key, path);
      return;
    }
    default:
      throw badRequest(`unsupported JSON patch operation: ${String(op)}`);
  }
}

export function parseJsonPointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The container (object or array) that holds the member the pointer's last token names. */
export function resolveJsonPointer(document: JsonObject, tokens: string[], path: string): JsonObject | unknown[] {
  let current: unknown = document;
  for (const token of tokens) {
    if (Array.isArray(current)) current = current[arrayIndex(current, token, path, false)];
    else if (isObject(current)) current = current[token];
    else break;
  }
  if (!isObject(current) && !Array.isArray(current)) throw pathNotFound(path);
  return current;
}

/** An existing element's index, or with `inserting` also the end of the array (`-` or the length). */
export function arrayIndex(array: unknown[], token: string, path: string, inserting: boolean): number {
  const index = inserting && token === '-' ? array.length : /^(0|[1-9]\d*)$/.test(token) ? Number(token) : -1;
  const last = inserting ? array.length : array.length - 1;
  if (index < 0 || index > last) throw pathNotFound(path);
  return index;
}

export function pathNotFound(path: string): ApiError {
  return badRequest(`JSON patch path not found: ${path}`);
}

export function addMember(parent: JsonObject | unknown[], key: string, value: unknown, path: string): void {
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
  else parent[key] = value;
}

export function replaceMember(parent: JsonObject | unknown[], key: string, value: unknown, path: string): void {
  if (Array.isArray(parent)) {
    parent[arrayIndex(parent, key, path, false)] = value;
  } else {
    if (!Object.hasOwn(parent, key)) throw pathNotFound(path);
    parent[key] = value;
  }
}

export function removeMember(parent: JsonObject | unknown[], key: string, path: string): void {
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, key, path, false), 1);
  } else {
    if (!Object.hasOwn(parent, key)) throw pathNotFound(path);
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- JSON Patch remove (RFC 6902) on the member the pointer names, inside a plain-object document
    delete parent[key];
  }
}

export function applyPatch(current: JsonObject, contentType: string | undefined, body: Buffer): JsonObject {
  switch (contentType?.split(';')[0]?.trim().toLowerCase()) {
    case 'application/merge-patch+json':
    case 'application/strategic-merge-patch+json': // applied as a merge patch: lists are replaced, not merged
      return asObject(mergePatch(current, asObject(parseJson(body))));
    case 'application/json-patch+json':
      return applyJsonPatch(current, parseJson(body));
    default:
      throw new ApiError({
        code: 415,
        reason: 'UnsupportedMediaType',
        message:
          'the body of the request was in an unknown format - accepted media types include: ' +
          'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json',
      });
  }
}
