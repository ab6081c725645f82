/**
 * An in-memory fake of the Kubernetes API server for the test suite: a real HTTPS server on 127.0.0.1
 * that authenticates like kube-apiserver (bearer token or client certificate), records every request,
 * serves enough discovery for real kubectl, stores pods, jobs and configmaps in memory, and answers
 * SelfSubjectReviews and SelfSubjectRulesReviews from settable RBAC rules.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { constants as http2Constants, createSecureServer, type Http2SecureServer, type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { deleteIsDryRun, goBool, labelSelector, OptionsError, writeIsDryRun } from './api-options.ts';

export interface ApiServerOptions {
  tls: { certPem: string; keyPem: string };
  /** The accepted bearer token is the trimmed content of this file, re-read on every request. */
  tokenFile?: string;
  /** Also accept client certificates signed by this CA; the user is then the certificate's CN. */
  clientCaPem?: string;
  /** Reported by /version; default 'v1.33.0'. */
  gitVersion?: string;
  /** Called for authenticated upgrade requests to pods/{name}/exec|attach|portforward. */
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The username SelfSubjectReview reports; default 'system:serviceaccount:team-a:app'. */
  selfSubject?: string;
  /**
   * What SelfSubjectRulesReview reports for a namespace without rules of its own (setRbacRules).
   * Default: none at all, though the server lets its token do anything (it enforces no RBAC).
   */
  rbacRules?: RbacRules;
  /**
   * 'h2': HTTP/2 and HTTP/1.1 on one port, chosen by ALPN (as kube-apiserver); 'h1': HTTP/1.1 only.
   * Default: the TEST_API_PROTOCOL environment variable, else 'h2', so the suite runs either way.
   */
  protocol?: ApiProtocol;
}

export type ApiProtocol = 'h2' | 'h1';

/** The fake API server's protocol when a test does not choose one. */
export function defaultApiProtocol(): ApiProtocol {
  return process.env.TEST_API_PROTOCOL === 'h1' ? 'h1' : 'h2';
}

/** What a SelfSubjectRulesReview reports for one namespace, in its wire shape. */
export interface RbacRules {
  resourceRules?: { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
  nonResourceRules?: { verbs: string[]; nonResourceURLs?: string[] }[];
  incomplete?: boolean;
  evaluationError?: string;
}

export interface RecordedRequest {
  method: string;
  /** The request target exactly as received. */
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** Hex SHA-256 of the body. */
  sha256: string;
  upgrade: boolean;
  /** The client's port: requests that share it came over one connection. */
  clientPort: number | undefined;
  /** '2.0' for HTTP/2 streams, '1.1' otherwise. */
  httpVersion: string;
  /** 'token', the client certificate's CN, or undefined when unauthenticated. */
  user: string | undefined;
}

export type ScriptedBehaviour =
  | { status: number; body?: string | Buffer; headers?: Record<string, string> }
  /** Read the request and never answer; the connection stays open until the client goes away. */
  | 'hang'
  /**
   * Read neither the body nor anything after it, and never answer: an upload stalls against the
   * server's flow control. Chosen before authentication; the request is not recorded, never arriving whole.
   */
  | 'stall-body'
  /** Destroy the socket without answering. */
  | 'reset'
  /** Send 200 headers and part of a body, then destroy the socket. */
  | 'reset-mid-body'
  /** The test answers an ordinary request itself (a slow answer, an endless body); upgrades then get a 500. */
  | { respond: (request: IncomingMessage, response: ServerResponse) => void };

export interface ApiServer {
  /** https://127.0.0.1:PORT */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** `namespace/serviceaccount` of every token the server issued (TokenRequest). */
  readonly tokensIssued: string[];
  /** The stored body of a ConfigMap, or undefined when there is none. */
  configMap(namespace: string, name: string): Buffer | undefined;
  /** Stores a ConfigMap with these labels. */
  putConfigMap(namespace: string, name: string, labels?: Record<string, string>): void;
  /** Resolves with the first recorded request, past or future, that matches; rejects after the timeout. */
  waitForRequest(predicate: (request: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** The first matching script answers the request; scripts apply after authentication, before routing. */
  script(match: (method: string, url: string) => boolean, behaviour: ScriptedBehaviour): void;
  clearScripts(): void;
  /** Serves this certificate on new connections; established connections keep the old one. */
  setCertificate(certPem: string, keyPem: string): void;
  /** Stops listening and destroys every open connection (the upstream goes down); the state is kept. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Final shutdown: destroys every connection and rejects pending waitForRequest calls. */
  close(): Promise<void>;
  /** Creates or replaces a pod; `extra` is merged (JSON merge patch) over the defaults. */
  putPod(namespace: string, name: string, extra?: Record<string, unknown>): Record<string, unknown>;
  deletePod(namespace: string, name: string): void;
  /** Appends one line (a newline is added) to the pod's log and pushes it to open follow streams. */
  appendLog(namespace: string, pod: string, line: string): void;
  /** Ends the pod's log: open follow streams end, later ones end after the lines so far. */
  endLogs(namespace: string, pod: string): void;
  /** Number of currently open watch streams. */
  openWatches(): number;
  /** 'h2' or 'h1' (see ApiServerOptions.protocol). */
  readonly protocol: ApiProtocol;
  /** HTTP/2 connections accepted so far, and open now. */
  http2SessionsAccepted(): number;
  openHttp2Sessions(): number;
  /**
   * From now on, each HTTP/2 connection is closed gracefully (GOAWAY, its streams finish) once it
   * has carried this many streams, as nginx's keepalive_requests; undefined: never.
   */
  setGoawayAfterStreams(streams: number | undefined): void;
  /** Sends GOAWAY on every open HTTP/2 connection now, as kube-apiserver's --goaway-chance does. */
  goawayAll(): void;
  /** The rules SelfSubjectRulesReview reports for the namespace from now on; default: none at all. */
  setRbacRules(namespace: string, rules: RbacRules): void;
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const apiServer = new FakeApiServer(options);
  await apiServer.start();
  return apiServer;
}

type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// metav1.Status failures

interface StatusFailure {
  code: number;
  reason: string;
  message: string;
  details?: JsonObject;
}

class ApiError extends Error {
  readonly failure: StatusFailure;

  constructor(failure: StatusFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

function statusJson(failure: StatusFailure): string {
  const { code, reason, message, details } = failure;
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code });
}

const UNAUTHORIZED: StatusFailure = { code: 401, reason: 'Unauthorized', message: 'Unauthorized' };
const PATH_NOT_FOUND: StatusFailure = {
  code: 404,
  reason: 'NotFound',
  message: 'the server could not find the requested resource',
  details: {},
};
const METHOD_NOT_ALLOWED: StatusFailure = {
  code: 405,
  reason: 'MethodNotAllowed',
  message: 'the server does not allow this method on the requested resource',
  details: {},
};

function badRequest(message: string): ApiError {
  return new ApiError({ code: 400, reason: 'BadRequest', message });
}

function nameRequired(resource: Resource): ApiError {
  const message = `${resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required`;
  return new ApiError({ code: 422, reason: 'Invalid', message, details: { kind: resource.kind } });
}

function notFound(resource: Resource, name: string): ApiError {
  return resourceError(resource, name, 404, 'NotFound', `${qualifiedResource(resource)} "${name}" not found`);
}

function alreadyExists(resource: Resource, name: string): ApiError {
  return resourceError(resource, name, 409, 'AlreadyExists', `${qualifiedResource(resource)} "${name}" already exists`);
}

function conflict(resource: Resource, name: string): ApiError {
  const message =
    `Operation cannot be fulfilled on ${qualifiedResource(resource)} "${name}": ` +
    'the object has been modified; please apply your changes to the latest version and try again';
  return resourceError(resource, name, 409, 'Conflict', message);
}

function resourceError(resource: Resource, name: string, code: number, reason: string, message: string): ApiError {
  const group = resource.group === '' ? {} : { group: resource.group };
  return new ApiError({ code, reason, message, details: { name, ...group, kind: resource.plural } });
}

// ---------------------------------------------------------------------------------------------
// Resources and the in-memory object store

interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

const PODS: Resource = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };
const CONFIGMAPS: Resource = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
const JOBS: Resource = { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' };

function apiVersionOf(resource: Resource): string {
  return resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
}

function qualifiedResource(resource: Resource): string {
  return resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
}

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface WatchEvent {
  type: WatchEventType;
  object: JsonObject;
}

/** The global resourceVersion counter shared by every kind, like etcd's revision. */
class ResourceVersions {
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
class ObjectStore {
  readonly #resource: Resource;
  readonly #versions: ResourceVersions;
  readonly #defaults: (namespace: string, name: string) => JsonObject;
  readonly #objects = new Map<string, JsonObject>();
  readonly #listeners = new Set<(event: WatchEvent) => void>();

  constructor(resource: Resource, versions: ResourceVersions, defaults: (namespace: string, name: string) => JsonObject) {
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

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** RFC 3339 without fractional seconds, as metav1.Time serializes. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A running pod with one container named `main`, so kubectl exec, attach and port-forward accept it. */
function defaultPod(namespace: string, name: string): JsonObject {
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
function serviceAccountGroups(username: string): string[] {
  const account = /^system:serviceaccount:([^:]+):[^:]+$/.exec(username);
  const namespace = account?.[1];
  return namespace === undefined ? ['system:authenticated'] : ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}

function defaultJob(namespace: string, name: string): JsonObject {
  return {
    metadata: { name, namespace },
    spec: { parallelism: 1, completions: 1, backoffLimit: 6 },
    status: { active: 1, startTime: timestamp() },
  };
}

interface PodLog {
  text: string[];
  /** Set once the (imaginary) container has exited: follows then end after the lines so far. */
  ended: boolean;
  followers: Set<ServerResponse>;
}

class PodLogs {
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

// ---------------------------------------------------------------------------------------------
// JSON helpers, merge patch (RFC 7386) and JSON patch (RFC 6902)

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): JsonObject {
  if (!isObject(value)) throw badRequest('the body must be a JSON object');
  return value;
}

function metadataOf(object: JsonObject): JsonObject {
  return isObject(object.metadata) ? object.metadata : {};
}

function stringField(object: JsonObject, field: string): string | undefined {
  const value = object[field];
  return typeof value === 'string' ? value : undefined;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`the body of the request is not valid JSON: ${(error as Error).message}`);
  }
}

/** RFC 7386: objects merge recursively, null deletes a member, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** RFC 6902 with the add, replace and remove operations. */
function applyJsonPatch(document: JsonObject, operations: unknown): JsonObject {
  if (!Array.isArray(operations)) throw badRequest('a JSON patch must be an array of operations');
  const patched = structuredClone(document);
  for (const operation of operations) applyJsonPatchOperation(patched, asObject(operation));
  return patched;
}

function applyJsonPatchOperation(document: JsonObject, operation: JsonObject): void {
  const { op, path, value } = operation;
  if (typeof path !== 'string') throw badRequest('a JSON patch operation needs a string path');
  const tokens = parseJsonPointer(path);
  const key = tokens.pop();
  if (key === undefined) throw badRequest('JSON patch operations on the whole document are not supported');
  const parent = resolveJsonPointer(document, tokens, path);
  switch (op) {
    case 'add':
      return addMember(parent, key, value, path);
    case 'replace':
      return replaceMember(parent, key, value, path);
    case 'remove':
      return removeMember(parent, key, path);
    default:
      throw badRequest(`unsupported JSON patch operation: ${String(op)}`);
  }
}

function parseJsonPointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The container (object or array) that holds the member the pointer's last token names. */
function resolveJsonPointer(document: JsonObject, tokens: string[], path: string): JsonObject | unknown[] {
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
function arrayIndex(array: unknown[], token: string, path: string, inserting: boolean): number {
  const index = inserting && token === '-' ? array.length : /^(0|[1-9]\d*)$/.test(token) ? Number(token) : -1;
  const last = inserting ? array.length : array.length - 1;
  if (index < 0 || index > last) throw pathNotFound(path);
  return index;
}

function pathNotFound(path: string): ApiError {
  return badRequest(`JSON patch path not found: ${path}`);
}

function addMember(parent: JsonObject | unknown[], key: string, value: unknown, path: string): void {
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, value);
  else parent[key] = value;
}

function replaceMember(parent: JsonObject | unknown[], key: string, value: unknown, path: string): void {
  if (Array.isArray(parent)) {
    parent[arrayIndex(parent, key, path, false)] = value;
  } else {
    if (!Object.hasOwn(parent, key)) throw pathNotFound(path);
    parent[key] = value;
  }
}

function removeMember(parent: JsonObject | unknown[], key: string, path: string): void {
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(parent, key, path, false), 1);
  } else {
    if (!Object.hasOwn(parent, key)) throw pathNotFound(path);
    delete parent[key];
  }
}

function applyPatch(current: JsonObject, contentType: string | undefined, body: Buffer): JsonObject {
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

// ---------------------------------------------------------------------------------------------
// Query parameters

const SELECTABLE_FIELDS = new Map<string, (object: JsonObject) => string | undefined>([
  ['metadata.name', (object) => stringField(metadataOf(object), 'name')],
  ['metadata.namespace', (object) => stringField(metadataOf(object), 'namespace')],
]);

function fieldSelector(query: URLSearchParams): (object: JsonObject) => boolean {
  const selector = query.get('fieldSelector');
  if (!selector) return () => true;
  const requirements = selector.split(',').map(fieldRequirement);
  return (object) => requirements.every((requirement) => requirement(object));
}

/** ListOptions' label and field selectors together, as a list, watch or deletecollection applies them. */
function selector(query: URLSearchParams): (object: JsonObject) => boolean {
  const byFields = fieldSelector(query);
  const byLabels = labelSelector(query);
  return (object) => byFields(object) && byLabels(labelsOf(object));
}

function labelsOf(object: JsonObject): Record<string, string> {
  const labels = metadataOf(object).labels;
  return isObject(labels) ? Object.fromEntries(Object.entries(labels).filter((entry): entry is [string, string] => typeof entry[1] === 'string')) : {};
}

function fieldRequirement(term: string): (object: JsonObject) => boolean {
  const match = /^([^!=]+)(==|!=|=)(.*)$/.exec(term);
  if (match === null) throw badRequest(`invalid field selector: ${term}`);
  const [, field = '', operator, expected = ''] = match;
  const read = SELECTABLE_FIELDS.get(field);
  if (read === undefined) throw badRequest(`field label not supported: ${field}`);
  return operator === '!=' ? (object) => read(object) !== expected : (object) => read(object) === expected;
}

// ---------------------------------------------------------------------------------------------
// Discovery

function versionInfo(gitVersion: string): JsonObject {
  const match = /^v(\d+)\.(\d+)\./.exec(gitVersion);
  if (match === null) throw new Error(`gitVersion must look like v1.33.0: ${gitVersion}`);
  return {
    major: match[1],
    minor: match[2],
    gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-04-23T00:00:00Z',
    goVersion: 'go1.24.2',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

function apiVersions(port: number): JsonObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }],
  };
}

const API_GROUP_LIST: JsonObject = {
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [
    {
      name: 'batch',
      versions: [{ groupVersion: 'batch/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'batch/v1', version: 'v1' },
    },
  ],
};

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function apiResource(name: string, kind: string, verbs: string[], extra: JsonObject = {}): JsonObject {
  const singularName = name.includes('/') ? '' : kind.toLowerCase();
  return { name, singularName, namespaced: true, kind, verbs, ...extra };
}

const CORE_V1_RESOURCES: JsonObject = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    apiResource('configmaps', 'ConfigMap', ALL_VERBS, { shortNames: ['cm'] }),
    apiResource('namespaces', 'Namespace', ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], {
      namespaced: false,
      shortNames: ['ns'],
    }),
    apiResource('pods', 'Pod', ALL_VERBS, { shortNames: ['po'], categories: ['all'] }),
    apiResource('pods/attach', 'PodAttachOptions', ['create', 'get']),
    apiResource('pods/exec', 'PodExecOptions', ['create', 'get']),
    apiResource('pods/log', 'Pod', ['get']),
    apiResource('pods/portforward', 'PodPortForwardOptions', ['create', 'get']),
    apiResource('pods/status', 'Pod', ['get', 'patch', 'update']),
  ],
};

const BATCH_V1_RESOURCES: JsonObject = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'batch/v1',
  resources: [
    apiResource('jobs', 'Job', ALL_VERBS, { categories: ['all'] }),
    apiResource('jobs/status', 'Job', ['get', 'patch', 'update']),
  ],
};

const GROUP_VERSIONS: { path: string; resources: Resource[] }[] = [
  { path: 'api/v1', resources: [PODS, CONFIGMAPS] },
  { path: 'apis/batch/v1', resources: [JOBS] },
];

function objectPath(groupVersionPath: string, resource: Resource): string {
  return `/${groupVersionPath}/namespaces/{namespace}/${resource.plural}/{name}`;
}

function openApiRoot(): JsonObject {
  const paths = GROUP_VERSIONS.map(({ path }) => [path, { serverRelativeURL: `/openapi/v3/${path}` }]);
  return { paths: Object.fromEntries(paths) };
}

/**
 * Just enough OpenAPI v3 for kubectl's default --validate=strict: the PATCH operation of each object declares
 * the fieldValidation query parameter, so kubectl leaves validation to the server instead of demanding schemas.
 */
function openApiDocument(groupVersionPath: string, resources: Resource[]): JsonObject {
  const paths = resources.map((resource) => [
    objectPath(groupVersionPath, resource),
    {
      patch: {
        'x-kubernetes-group-version-kind': { group: resource.group, version: resource.version, kind: resource.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
      },
    },
  ]);
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'unversioned' }, paths: Object.fromEntries(paths) };
}

const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** A protobuf message whose fields are all length-delimited: strings or nested messages. */
type ProtoMessage = [field: number, value: string | ProtoMessage][];

function encodeProto(message: ProtoMessage): Buffer {
  return Buffer.concat(
    message.map(([field, value]) => {
      const payload = typeof value === 'string' ? Buffer.from(value) : encodeProto(value);
      return Buffer.concat([protoVarint((field << 3) | 2), protoVarint(payload.length), payload]);
    }),
  );
}

function protoVarint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * kubectl 1.27 and 1.28 check fieldValidation support in the protobuf /openapi/v2 instead of OpenAPI v3, so the
 * same PATCH declarations are encoded here; field numbers are those of gnostic's OpenAPIv2.proto.
 */
function openApiV2Document(): Buffer {
  const paths: ProtoMessage = GROUP_VERSIONS.flatMap(({ path, resources }) =>
    resources.map((resource): [number, ProtoMessage] => [
      2, // Paths.path: NamedPathItem
      [
        [1, objectPath(path, resource)], // NamedPathItem.name
        [2, [[8, patchOperationV2(resource)]]], // NamedPathItem.value: PathItem, PathItem.patch: Operation
      ],
    ]),
  );
  return encodeProto([
    [1, '2.0'], // Document.swagger
    [8, paths], // Document.paths
  ]);
}

function patchOperationV2(resource: Resource): ProtoMessage {
  // QueryParameterSubSchema: in, name, type
  const fieldValidation: ProtoMessage = [[2, 'query'], [4, 'fieldValidation'], [6, 'string']];
  const groupVersionKind = `group: "${resource.group}"\nkind: ${resource.kind}\nversion: ${resource.version}\n`;
  return [
    // Operation.parameters: ParametersItem.parameter: Parameter.non_body_parameter: NonBodyParameter.query_parameter_sub_schema
    [8, [[1, [[2, [[3, fieldValidation]]]]]]],
    // Operation.vendor_extension: NamedAny { name, value: Any { yaml } }
    [13, [[1, 'x-kubernetes-group-version-kind'], [2, [[2, groupVersionKind]]]]],
  ];
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  query: URLSearchParams;
}

/** Path parameters of a route; '' when the route has none (an empty namespace means all namespaces). */
interface Target {
  namespace: string;
  name: string;
}

interface Route {
  method: string;
  pattern: string[];
  handle: (exchange: Exchange, target: Target) => void;
}

function route(method: string, path: string, handle: Route['handle']): Route {
  return { method, pattern: path.split('/').filter(Boolean), handle };
}

function matchRoute(pattern: string[], segments: string[]): Target | undefined {
  if (pattern.length !== segments.length) return undefined;
  const target: Target = { namespace: '', name: '' };
  const matches = pattern.every((part, index) => {
    const segment = segments[index] ?? '';
    if (part === ':namespace') target.namespace = segment;
    else if (part === ':name') target.name = segment;
    else return part === segment;
    return true;
  });
  return matches ? target : undefined;
}

function pathSegments(pathname: string): string[] {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed path: ${pathname}`);
  }
}

const STREAMING_PATH = /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/(exec|attach|portforward)$/;

function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'https://127.0.0.1');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

function commonName(socket: TLSSocket): string | undefined {
  const cn: string | string[] | undefined = socket.getPeerCertificate().subject.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

async function readToken(tokenFile: string): Promise<string | undefined> {
  try {
    const token = (await readFile(tokenFile, 'utf8')).trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, code: number, value: unknown): void {
  sendBytes(res, code, 'application/json', JSON.stringify(value));
}

function sendBytes(res: ServerResponse, code: number, contentType: string, body: string | Buffer): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendFailure(res: ServerResponse, failure: StatusFailure): void {
  sendBytes(res, failure.code, 'application/json', statusJson(failure));
}

/** Starts a chunked response whose headers reach the client at once, for watches and log follows. */
function startStream(res: ServerResponse, contentType: string): void {
  // Over HTTP/2 (the compatibility API), writeHead sends the headers at once.
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache, private' });
  res.flushHeaders();
}

/** Prefix of the body that 'reset-mid-body' sends before cutting the connection. */
const PARTIAL_BODY = '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":';

function answerScripted(req: IncomingMessage, res: ServerResponse, behaviour: ScriptedBehaviour): void {
  if (behaviour === 'hang' || behaviour === 'stall-body') return;
  if (typeof behaviour === 'object' && 'respond' in behaviour) {
    behaviour.respond(req, res);
  } else if (behaviour === 'reset') {
    cut(req);
  } else if (behaviour === 'reset-mid-body') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(PARTIAL_BODY, () => cut(req));
  } else {
    res.setHeader('content-type', 'application/json');
    for (const [name, value] of Object.entries(behaviour.headers ?? {})) res.setHeader(name, value);
    res.writeHead(behaviour.status);
    res.end(behaviour.body ?? '');
  }
}

/**
 * Cuts the request off: its connection over HTTP/1.1; over HTTP/2 its stream, reset with
 * INTERNAL_ERROR as Go's server (kube-apiserver) does for an aborted handler. (Node's compatibility
 * socket.destroy() would reset it with NO_ERROR, which a client reads as a complete response.)
 */
function cut(req: IncomingMessage): void {
  if (req.httpVersion === '2.0') (req as unknown as Http2ServerRequest).stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
  else req.socket.destroy();
}

/** The same behaviours for an upgrade request, whose socket no longer belongs to the HTTP server. */
function answerScriptedUpgrade(socket: Duplex, behaviour: ScriptedBehaviour): void {
  if (behaviour === 'hang' || behaviour === 'stall-body') return;
  if (typeof behaviour === 'object' && 'respond' in behaviour) {
    answerUpgradeFailure(socket, { code: 500, reason: 'InternalError', message: 'a respond script cannot answer an upgrade' });
  } else if (behaviour === 'reset') {
    socket.destroy();
  } else if (behaviour === 'reset-mid-body') {
    const chunk = `${PARTIAL_BODY.length.toString(16)}\r\n${PARTIAL_BODY}\r\n`;
    const head = rawResponseHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    socket.write(head + chunk, () => socket.destroy());
  } else {
    const body = behaviour.body ?? '';
    const headers = {
      'content-type': 'application/json',
      ...lowercaseKeys(behaviour.headers ?? {}),
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    socket.write(rawResponseHead(behaviour.status, headers));
    socket.end(body);
  }
}

function answerUpgradeFailure(socket: Duplex, failure: StatusFailure): void {
  answerScriptedUpgrade(socket, { status: failure.code, body: statusJson(failure) });
}

function lowercaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function rawResponseHead(code: number, headers: Record<string, string>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}\r\n${lines.join('')}\r\n`;
}

function listen(server: HttpsServer | Http2SecureServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function ignoreError(): void {}

// ---------------------------------------------------------------------------------------------
// The server

interface Waiter {
  predicate: (request: RecordedRequest) => boolean;
  resolve: (request: RecordedRequest) => void;
  reject: (reason: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * Node's HTTP/2 server (nghttp2) closes a connection whose client resets more than 1,000 streams in
 * a burst (then 33 a second), against the "rapid reset" attack; kube-apiserver (Go) does not: it
 * bounds running handlers instead, and a cancelled request's handler ends. Clients aborting
 * thousands of requests (hardening.test.ts) would otherwise see the shared connection torn down.
 */
const GO_LIKE_RESET_LIMITS = { streamResetBurst: 1_000_000, streamResetRate: 1_000_000, maxSessionInvalidFrames: 1_000_000, maxSessionRejectedStreams: 1_000_000 };

class FakeApiServer implements ApiServer {
  url = '';
  port = 0;
  readonly requests: RecordedRequest[] = [];
  readonly tokensIssued: string[] = [];

  readonly #options: ApiServerOptions;
  readonly #version: JsonObject;
  readonly protocol: ApiProtocol;
  readonly #server: HttpsServer | Http2SecureServer;
  readonly #sockets = new Set<Socket>();
  readonly #http2Sessions = new Set<ServerHttp2Session>();
  #http2SessionsAccepted = 0;
  #goawayAfterStreams: number | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #scripts: { match: (method: string, url: string) => boolean; behaviour: ScriptedBehaviour }[] = [];
  /** Open watch streams and how to release their subscription and timer. */
  readonly #watches = new Map<ServerResponse, () => void>();
  readonly #versions = new ResourceVersions();
  readonly #pods = new ObjectStore(PODS, this.#versions, defaultPod);
  readonly #jobs = new ObjectStore(JOBS, this.#versions, defaultJob);
  readonly #configMaps = new Map<string, Buffer>();
  readonly #logs = new PodLogs();
  readonly #rbacRules = new Map<string, RbacRules>();
  readonly #routes: Route[];

  constructor(options: ApiServerOptions) {
    this.#options = options;
    this.#version = versionInfo(options.gitVersion ?? 'v1.33.0');
    this.#routes = this.#buildRoutes();
    const verifyClients = options.clientCaPem !== undefined;
    this.protocol = options.protocol ?? defaultApiProtocol();
    const tlsOptions = {
      ...this.#secureContext(options.tls.certPem, options.tls.keyPem),
      // Unverified clients may still present a token, so the handshake must not fail for them.
      requestCert: verifyClients,
      rejectUnauthorized: false,
    };
    // Node's HTTP/2 compatibility API hands the same (req, res) pair, and HTTP/1.1 clients still
    // get 'upgrade' events with allowHTTP1 (checked by the streaming suites, which run over it).
    const server: HttpsServer | Http2SecureServer =
      this.protocol === 'h2' ? createSecureServer({ ...tlsOptions, allowHTTP1: true, ...GO_LIKE_RESET_LIMITS }) : createServer(tlsOptions);
    this.#server = server;
    server.on('connection', (socket: Socket) => this.#track(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#onRequest(req, res).catch((error: unknown) => this.#answerError(res, error));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onUpgrade(req, socket, head).catch(() => socket.destroy());
    });
    server.on('session', (session: ServerHttp2Session) => this.#trackSession(session));
    this.#pods.subscribe(({ type, object }) => {
      const metadata = metadataOf(object);
      if (type === 'DELETED') this.#logs.forget(stringField(metadata, 'namespace') ?? '', stringField(metadata, 'name') ?? '');
    });
  }

  // --- lifecycle ---------------------------------------------------------------------------

  async start(): Promise<void> {
    await listen(this.#server, this.port);
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the API server has no TCP address');
    this.port = address.port;
    this.url = `https://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Release the watches now: their responses only learn about the destroyed sockets a few ticks later.
    for (const release of this.#watches.values()) release();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  async close(): Promise<void> {
    const closed = new Error('the fake API server was closed before a matching request arrived');
    for (const waiter of this.#waiters) this.#settle(waiter, () => waiter.reject(closed));
    await this.stop();
  }

  http2SessionsAccepted(): number {
    return this.#http2SessionsAccepted;
  }

  openHttp2Sessions(): number {
    return this.#http2Sessions.size;
  }

  setGoawayAfterStreams(streams: number | undefined): void {
    this.#goawayAfterStreams = streams;
  }

  goawayAll(): void {
    for (const session of this.#http2Sessions) if (!session.closed) session.close();
  }

  #trackSession(session: ServerHttp2Session): void {
    this.#http2SessionsAccepted++;
    this.#http2Sessions.add(session);
    session.on('error', ignoreError);
    session.once('close', () => this.#http2Sessions.delete(session));
    let streams = 0;
    session.on('stream', () => {
      streams++;
      const limit = this.#goawayAfterStreams;
      // Graceful, as nginx: GOAWAY names the last stream served; later ones are refused.
      if (limit !== undefined && streams >= limit && !session.closed) session.close();
    });
  }

  setCertificate(certPem: string, keyPem: string): void {
    this.#server.setSecureContext(this.#secureContext(certPem, keyPem));
  }

  #secureContext(cert: string, key: string): SecureContextOptions {
    const ca = this.#options.clientCaPem;
    return ca === undefined ? { cert, key } : { cert, key, ca };
  }

  #track(socket: Socket): void {
    // node:https servers set this by default, Http2SecureServer does not for its HTTP/1.1 clients:
    // without it, Nagle's algorithm and delayed ACKs hold a watch's first event back 40 ms.
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  // --- recording and scripts -----------------------------------------------------------------

  waitForRequest(predicate: (request: RecordedRequest) => boolean, timeoutMs = 5000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`no matching request arrived within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
      for (const request of this.requests) {
        if (!this.#waiters.has(waiter)) break;
        this.#offer(waiter, request);
      }
    });
  }

  script(match: (method: string, url: string) => boolean, behaviour: ScriptedBehaviour): void {
    this.#scripts.push({ match, behaviour });
  }

  clearScripts(): void {
    this.#scripts.length = 0;
  }

  #record(req: IncomingMessage, body: Buffer, user: string | undefined, upgrade: boolean): void {
    const request: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
      sha256: createHash('sha256').update(body).digest('hex'),
      upgrade,
      clientPort: req.socket.remotePort,
      httpVersion: req.httpVersion,
      user,
    };
    this.requests.push(request);
    for (const waiter of this.#waiters) this.#offer(waiter, request);
  }

  /** Settles the waiter if the request matches; a throwing predicate fails its waiter, not the server. */
  #offer(waiter: Waiter, request: RecordedRequest): void {
    let matches: boolean;
    try {
      matches = waiter.predicate(request);
    } catch (error) {
      this.#settle(waiter, () => waiter.reject(error));
      return;
    }
    if (matches) this.#settle(waiter, () => waiter.resolve(request));
  }

  #settle(waiter: Waiter, settle: () => void): void {
    clearTimeout(waiter.timer);
    this.#waiters.delete(waiter);
    settle();
  }

  #scriptFor(req: IncomingMessage): ScriptedBehaviour | undefined {
    return this.#scripts.find((script) => script.match(req.method ?? '', req.url ?? ''))?.behaviour;
  }

  async #authenticate(req: IncomingMessage): Promise<string | undefined> {
    const socket = req.socket as TLSSocket;
    if (socket.authorized) return commonName(socket); // only true for a certificate signed by clientCaPem
    const presented = bearerToken(req.headers.authorization);
    const { tokenFile } = this.#options;
    if (presented === undefined || tokenFile === undefined) return undefined;
    return presented === (await readToken(tokenFile)) ? 'token' : undefined;
  }

  // --- request handling ----------------------------------------------------------------------

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#scriptFor(req) === 'stall-body') return;
    let user: string | undefined;
    let body: Buffer;
    try {
      [user, body] = await Promise.all([this.#authenticate(req), readBody(req)]);
    } catch {
      res.destroy(); // the client went away mid-request
      return;
    }
    this.#record(req, body, user, false);
    if (user === undefined) return sendFailure(res, UNAUTHORIZED);
    const behaviour = this.#scriptFor(req);
    if (behaviour !== undefined) return answerScripted(req, res, behaviour);
    const url = requestUrl(req);
    this.#dispatch(url.pathname, { req, res, body, query: url.searchParams });
  }

  #dispatch(pathname: string, exchange: Exchange): void {
    const segments = pathSegments(pathname);
    const matching = this.#routes.flatMap((candidate) => {
      const target = matchRoute(candidate.pattern, segments);
      return target === undefined ? [] : [{ candidate, target }];
    });
    if (matching.length === 0) return sendFailure(exchange.res, PATH_NOT_FOUND);
    const matched = matching.find(({ candidate }) => candidate.method === exchange.req.method);
    if (matched === undefined) return sendFailure(exchange.res, METHOD_NOT_ALLOWED);
    matched.candidate.handle(exchange, matched.target);
  }

  #answerError(res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const failure =
      error instanceof ApiError || error instanceof OptionsError
        ? error.failure
        : { code: 500, reason: 'InternalError', message: `fake API server bug: ${String(error)}` };
    sendFailure(res, failure);
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until onUpgrade takes the socket over nobody else listens for its errors, which would crash the process.
    socket.on('error', ignoreError);
    const user = await this.#authenticate(req);
    this.#record(req, Buffer.alloc(0), user, true);
    if (user === undefined) return answerUpgradeFailure(socket, UNAUTHORIZED);
    const behaviour = this.#scriptFor(req);
    if (behaviour !== undefined) return answerScriptedUpgrade(socket, behaviour);
    if (!STREAMING_PATH.test(requestUrl(req).pathname)) return answerUpgradeFailure(socket, PATH_NOT_FOUND);
    const { onUpgrade } = this.#options;
    if (onUpgrade === undefined) {
      return answerUpgradeFailure(socket, badRequest('the fake API server has no streaming handler').failure);
    }
    onUpgrade(req, socket, head);
  }

  #buildRoutes(): Route[] {
    const pods = '/api/v1/namespaces/:namespace/pods';
    const jobs = '/apis/batch/v1/namespaces/:namespace/jobs';
    const configMaps = '/api/v1/namespaces/:namespace/configmaps';
    const upgradeRequired = () => {
      throw badRequest('Upgrade request required');
    };
    return [
      route('GET', '/version', ({ res }) => sendJson(res, 200, this.#version)),
      ...['/healthz', '/livez', '/readyz'].map((path) => route('GET', path, ({ res }) => sendBytes(res, 200, 'text/plain', 'ok'))),
      route('GET', '/api', ({ res }) => sendJson(res, 200, apiVersions(this.port))),
      route('GET', '/apis', ({ res }) => sendJson(res, 200, API_GROUP_LIST)),
      route('GET', '/api/v1', ({ res }) => sendJson(res, 200, CORE_V1_RESOURCES)),
      route('GET', '/apis/batch/v1', ({ res }) => sendJson(res, 200, BATCH_V1_RESOURCES)),
      route('GET', '/openapi/v2', ({ res }) => sendBytes(res, 200, OPENAPI_V2_PROTOBUF, openApiV2Document())),
      route('GET', '/openapi/v3', ({ res }) => sendJson(res, 200, openApiRoot())),
      ...GROUP_VERSIONS.map(({ path, resources }) =>
        route('GET', `/openapi/v3/${path}`, ({ res }) => sendJson(res, 200, openApiDocument(path, resources))),
      ),

      route('GET', '/api/v1/pods', this.#listOrWatchPods.bind(this)),
      route('GET', '/api/v1/watch/pods', this.#watchPods.bind(this)),
      route('GET', '/api/v1/watch/namespaces/:namespace/pods', this.#watchPods.bind(this)),
      route('GET', pods, this.#listOrWatchPods.bind(this)),
      route('POST', pods, this.#createPod.bind(this)),
      route('DELETE', pods, this.#deletePods.bind(this)),
      route('GET', `${pods}/:name`, ({ res }, { namespace, name }) => {
        sendJson(res, 200, this.#existingPod(namespace, name));
      }),
      route('PUT', `${pods}/:name`, this.#replacePod.bind(this)),
      route('PATCH', `${pods}/:name`, this.#patchPod.bind(this)),
      route('DELETE', `${pods}/:name`, this.#deletePod.bind(this)),
      route('GET', `${pods}/:name/log`, this.#podLog.bind(this)),
      ...['exec', 'attach', 'portforward'].flatMap((subresource) => [
        route('GET', `${pods}/:name/${subresource}`, upgradeRequired),
        route('POST', `${pods}/:name/${subresource}`, upgradeRequired),
      ]),

      route('POST', configMaps, this.#createConfigMap.bind(this)),
      route('GET', `${configMaps}/:name`, ({ res }, { namespace, name }) => this.#getConfigMap(res, namespace, name)),
      route('PUT', `${configMaps}/:name`, this.#replaceConfigMap.bind(this)),
      route('DELETE', `${configMaps}/:name`, this.#deleteConfigMap.bind(this)),
      route('POST', '/api/v1/namespaces/:namespace/serviceaccounts/:name/token', this.#createToken.bind(this)),

      route('GET', jobs, ({ res }, { namespace }) => {
        sendJson(res, 200, this.#jobs.listObject(this.#jobs.list(namespace)));
      }),
      route('POST', jobs, this.#createJob.bind(this)),
      ...[`${jobs}/:name`, `${jobs}/:name/status`].map((path) =>
        route('GET', path, ({ res }, { namespace, name }) => sendJson(res, 200, this.#existingJob(namespace, name))),
      ),

      route('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', this.#selfSubjectReview.bind(this)),
      route('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', this.#selfSubjectRulesReview.bind(this)),
    ];
  }

  // --- pods ----------------------------------------------------------------------------------

  #existingPod(namespace: string, name: string): JsonObject {
    const pod = this.#pods.get(namespace, name);
    if (pod === undefined) throw notFound(PODS, name);
    return pod;
  }

  #listOrWatchPods(exchange: Exchange, target: Target): void {
    if (goBool(exchange.query, 'watch')) return this.#watchPods(exchange, target);
    const items = this.#pods.list(target.namespace, selector(exchange.query));
    sendJson(exchange.res, 200, this.#pods.listObject(items));
  }

  #watchPods({ res, query }: Exchange, { namespace }: Target): void {
    const selected = selector(query);
    const send = (event: WatchEvent) => {
      const inNamespace = namespace === '' || metadataOf(event.object).namespace === namespace;
      if (inNamespace && selected(event.object) && res.writable) res.write(`${JSON.stringify(event)}\n`);
    };
    startStream(res, 'application/json');
    // Like the real server, a watch without a resourceVersion (or "0") starts with the current state.
    const resourceVersion = query.get('resourceVersion') ?? '';
    if (resourceVersion === '' || resourceVersion === '0') {
      for (const object of this.#pods.list(namespace)) send({ type: 'ADDED', object });
    }
    const unsubscribe = this.#pods.subscribe(send);
    const timeoutSeconds = Number(query.get('timeoutSeconds'));
    // At its timeout the watch stops listening first: between end() and 'close', a write would throw.
    const timer = timeoutSeconds > 0 ? setTimeout(() => (release(), res.end()), timeoutSeconds * 1000) : undefined;
    const release = () => {
      unsubscribe();
      clearTimeout(timer);
      this.#watches.delete(res);
    };
    this.#watches.set(res, release);
    res.once('close', release);
  }

  #createPod({ res, body, query }: Exchange, { namespace }: Target): void {
    const pod = asObject(parseJson(body));
    const name = this.#nameForWrite(PODS, pod, namespace, undefined);
    if (this.#pods.get(namespace, name) !== undefined) throw alreadyExists(PODS, name);
    sendJson(res, 201, writeIsDryRun(query) ? pod : this.#pods.save(namespace, name, pod));
  }

  #replacePod({ res, body, query }: Exchange, { namespace, name }: Target): void {
    const pod = asObject(parseJson(body));
    this.#nameForWrite(PODS, pod, namespace, name);
    const current = this.#existingPod(namespace, name);
    const expectedVersion = stringField(metadataOf(pod), 'resourceVersion');
    if (expectedVersion !== undefined && expectedVersion !== metadataOf(current).resourceVersion) throw conflict(PODS, name);
    sendJson(res, 200, writeIsDryRun(query) ? pod : this.#pods.save(namespace, name, pod));
  }

  #patchPod({ req, res, body, query }: Exchange, { namespace, name }: Target): void {
    const patched = applyPatch(this.#existingPod(namespace, name), req.headers['content-type'], body);
    sendJson(res, 200, writeIsDryRun(query) ? patched : this.#pods.save(namespace, name, patched));
  }

  /** DeleteOptions come from a non-empty body, else from the query (delete.go). */
  #deletePod({ req, res, body, query }: Exchange, { namespace, name }: Target): void {
    const pod = this.#existingPod(namespace, name);
    sendJson(res, 200, deleteIsDryRun(req, body, query) ? pod : this.#pods.remove(namespace, name));
  }

  #deletePods({ req, res, body, query }: Exchange, { namespace }: Target): void {
    const selected = selector(query);
    const dryRun = deleteIsDryRun(req, body, query);
    const doomed = this.#pods.list(namespace, selected);
    const removed = dryRun
      ? doomed
      : doomed.flatMap<JsonObject>((pod) => {
          const name = stringField(metadataOf(pod), 'name') ?? '';
          return this.#pods.remove(namespace, name) ?? [];
        });
    sendJson(res, 200, this.#pods.listObject(removed));
  }

  #podLog({ res, query }: Exchange, { namespace, name }: Target): void {
    this.#existingPod(namespace, name);
    if (!goBool(query, 'follow')) return sendBytes(res, 200, 'text/plain', this.#logs.text(namespace, name));
    startStream(res, 'text/plain');
    this.#logs.follow(namespace, name, res);
  }

  /**
   * The object's name, checked like the API server does: it is required, must match the URL when the URL
   * names the object, and the object's namespace (if any) must match the URL's.
   */
  #nameForWrite(resource: Resource, object: JsonObject, namespace: string, urlName: string | undefined): string {
    const metadata = metadataOf(object);
    const name = stringField(metadata, 'name');
    const objectNamespace = stringField(metadata, 'namespace');
    if (objectNamespace !== undefined && objectNamespace !== '' && objectNamespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (name === undefined || name === '') throw nameRequired(resource);
    if (urlName !== undefined && name !== urlName) {
      throw badRequest(`the name of the object (${name}) does not match the name on the URL (${urlName})`);
    }
    return name;
  }

  // --- configmaps: a byte-exact store --------------------------------------------------------

  #createConfigMap({ res, body, query }: Exchange, { namespace }: Target): void {
    const name = this.#nameForWrite(CONFIGMAPS, asObject(parseJson(body)), namespace, undefined);
    const key = objectKey(namespace, name);
    if (this.#configMaps.has(key)) throw alreadyExists(CONFIGMAPS, name);
    if (!writeIsDryRun(query)) this.#configMaps.set(key, body);
    sendBytes(res, 201, 'application/json', body);
  }

  /** Unlike the real server, PUT also creates, so a test can store bytes with a single request. */
  #replaceConfigMap({ res, body, query }: Exchange, { namespace, name }: Target): void {
    this.#nameForWrite(CONFIGMAPS, asObject(parseJson(body)), namespace, name);
    const key = objectKey(namespace, name);
    const existed = this.#configMaps.has(key);
    if (!writeIsDryRun(query)) this.#configMaps.set(key, body);
    sendBytes(res, existed ? 200 : 201, 'application/json', body);
  }

  #deleteConfigMap({ req, res, body, query }: Exchange, { namespace, name }: Target): void {
    const key = objectKey(namespace, name);
    const stored = this.#configMaps.get(key);
    if (stored === undefined) throw notFound(CONFIGMAPS, name);
    if (!deleteIsDryRun(req, body, query)) this.#configMaps.delete(key);
    sendBytes(res, 200, 'application/json', stored);
  }

  /** TokenREST.Create: it never reads dryRun, so a token is issued whatever the query says. */
  #createToken({ res, body }: Exchange, { namespace, name }: Target): void {
    const request = asObject(parseJson(body));
    this.tokensIssued.push(`${namespace}/${name}`);
    sendJson(res, 201, {
      ...request,
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      status: { token: `issued-token-for-${namespace}-${name}`, expirationTimestamp: timestamp() },
    });
  }

  #getConfigMap(res: ServerResponse, namespace: string, name: string): void {
    const stored = this.#configMaps.get(objectKey(namespace, name));
    if (stored === undefined) throw notFound(CONFIGMAPS, name);
    sendBytes(res, 200, 'application/json', stored);
  }

  // --- jobs ----------------------------------------------------------------------------------

  #existingJob(namespace: string, name: string): JsonObject {
    const job = this.#jobs.get(namespace, name);
    if (job === undefined) throw notFound(JOBS, name);
    return job;
  }

  #createJob({ res, body }: Exchange, { namespace }: Target): void {
    const job = asObject(parseJson(body));
    const name = this.#nameForWrite(JOBS, job, namespace, undefined);
    if (this.#jobs.get(namespace, name) !== undefined) throw alreadyExists(JOBS, name);
    sendJson(res, 201, this.#jobs.save(namespace, name, job));
  }

  // --- self reviews: who the caller is and what RBAC lets it do -------------------------------

  #selfSubjectReview({ res, body }: Exchange): void {
    asObject(parseJson(body));
    const username = this.#options.selfSubject ?? 'system:serviceaccount:team-a:app';
    sendJson(res, 201, {
      kind: 'SelfSubjectReview',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { creationTimestamp: null },
      status: { userInfo: { username, groups: serviceAccountGroups(username) } },
    });
  }

  /** Reports the rules set for the namespace (else options.rbacRules, else none); like the real server, it needs a namespace. */
  #selfSubjectRulesReview({ res, body }: Exchange): void {
    const spec = asObject(parseJson(body)).spec;
    const namespace = isObject(spec) ? stringField(spec, 'namespace') : undefined;
    if (namespace === undefined || namespace === '') throw badRequest('no namespace on request');
    const rules = this.#rbacRules.get(namespace) ?? this.#options.rbacRules ?? {};
    sendJson(res, 201, {
      kind: 'SelfSubjectRulesReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec: { namespace },
      status: {
        resourceRules: rules.resourceRules ?? [],
        nonResourceRules: rules.nonResourceRules ?? [],
        incomplete: rules.incomplete ?? false,
        ...(rules.evaluationError === undefined ? {} : { evaluationError: rules.evaluationError }),
      },
    });
  }

  // --- state helpers for tests ---------------------------------------------------------------

  configMap(namespace: string, name: string): Buffer | undefined {
    return this.#configMaps.get(objectKey(namespace, name));
  }

  putConfigMap(namespace: string, name: string, labels: Record<string, string> = {}): void {
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data: { key: 'value' } };
    this.#configMaps.set(objectKey(namespace, name), Buffer.from(JSON.stringify(configMap)));
  }

  putPod(namespace: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return structuredClone(this.#pods.save(namespace, name, extra));
  }

  deletePod(namespace: string, name: string): void {
    this.#pods.remove(namespace, name);
  }

  appendLog(namespace: string, pod: string, line: string): void {
    this.#logs.append(namespace, pod, line);
  }

  endLogs(namespace: string, pod: string): void {
    this.#logs.end(namespace, pod);
  }

  openWatches(): number {
    return this.#watches.size;
  }

  setRbacRules(namespace: string, rules: RbacRules): void {
    this.#rbacRules.set(namespace, structuredClone(rules));
  }
}
