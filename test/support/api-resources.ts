/**
 * What the fake API server serves once a request is authenticated: discovery, and pods, jobs,
 * configmaps, token requests and self reviews kept in memory, with the routes that reach them.
 */
import type { ServerResponse } from 'node:http';
import { deleteIsDryRun, goBool, selector, writeIsDryRun } from './api-options.ts';
import {
  API_GROUP_LIST,
  apiVersions,
  BATCH_V1_RESOURCES,
  CORE_V1_RESOURCES,
  GROUP_VERSIONS,
  OPENAPI_V2_PROTOBUF,
  openApiDocument,
  openApiRoot,
  openApiV2Document,
  versionInfo,
} from './api-discovery.ts';
import { type Exchange, route, type Route, sendBytes, sendJson, startStream, type Target } from './api-http.ts';
import {
  alreadyExists,
  badRequest,
  conflict,
  type JsonObject,
  nameRequired,
  notFound,
  type Resource,
} from './api-status.ts';
import {
  applyPatch,
  asObject,
  CONFIGMAPS,
  defaultJob,
  defaultPod,
  isObject,
  JOBS,
  metadataOf,
  objectKey,
  ObjectStore,
  parseJson,
  PodLogs,
  PODS,
  ResourceVersions,
  serviceAccountGroups,
  stringField,
  timestamp,
  type WatchEvent,
} from './api-store.ts';

/** What a SelfSubjectRulesReview reports for one namespace, in its wire shape. */
export interface RbacRules {
  resourceRules?: { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
  nonResourceRules?: { verbs: string[]; nonResourceURLs?: string[] }[];
  incomplete?: boolean;
  evaluationError?: string;
}

export interface ResourceOptions {
  /** Reported by /version; default 'v1.33.0'. */
  gitVersion?: string;
  /** The username SelfSubjectReview reports; default 'system:serviceaccount:team-a:app'. */
  selfSubject?: string;
  /** What SelfSubjectRulesReview reports for a namespace without rules of its own. */
  rbacRules?: RbacRules;
}

export class ApiResources {
  /** `namespace/serviceaccount` of every token issued (TokenRequest). */
  readonly tokensIssued: string[] = [];
  readonly routes: readonly Route[];

  readonly #options: ResourceOptions;
  readonly #port: () => number;
  readonly #version: JsonObject;
  /** Open watch streams and how to release their subscription and timer. */
  readonly #watches = new Map<ServerResponse, () => void>();
  readonly #versions = new ResourceVersions();
  readonly #pods = new ObjectStore(PODS, this.#versions, defaultPod);
  readonly #jobs = new ObjectStore(JOBS, this.#versions, defaultJob);
  readonly #configMaps = new Map<string, Buffer>();
  readonly #logs = new PodLogs();
  readonly #rbacRules = new Map<string, RbacRules>();

  /** `port` is the server's, read when discovery names it. */
  constructor(options: ResourceOptions, port: () => number) {
    this.#options = options;
    this.#port = port;
    this.#version = versionInfo(options.gitVersion ?? 'v1.33.0');
    this.routes = this.#buildRoutes();
    this.#pods.subscribe(({ type, object }) => {
      const metadata = metadataOf(object);
      if (type === 'DELETED')
        this.#logs.forget(stringField(metadata, 'namespace') ?? '', stringField(metadata, 'name') ?? '');
    });
  }

  /** Ends every watch's subscription now: their responses only learn of destroyed sockets a few ticks later. */
  releaseWatches(): void {
    for (const release of this.#watches.values()) release();
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
      ...['/healthz', '/livez', '/readyz'].map((path) =>
        route('GET', path, ({ res }) => sendBytes(res, 200, 'text/plain', 'ok')),
      ),
      route('GET', '/api', ({ res }) => sendJson(res, 200, apiVersions(this.#port()))),
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
    if (goBool(exchange.query, 'watch')) {
      this.#watchPods(exchange, target);
      return;
    }
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
    if (expectedVersion !== undefined && expectedVersion !== metadataOf(current).resourceVersion)
      throw conflict(PODS, name);
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
    if (!goBool(query, 'follow')) {
      sendBytes(res, 200, 'text/plain', this.#logs.text(namespace, name));
      return;
    }
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
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, labels },
      data: { key: 'value' },
    };
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
