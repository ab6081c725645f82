/**
 * An in-memory fake of the Kubernetes API server for the test suite: a real HTTPS server on 127.0.0.1
 * that authenticates like kube-apiserver (bearer token or client certificate), records every request,
 * serves enough discovery for real kubectl, stores pods, jobs and configmaps in memory, and answers
 * SelfSubjectReviews and SelfSubjectRulesReviews from settable RBAC rules.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import {
  constants as http2Constants,
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type ServerHttp2Session,
} from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { deleteIsDryRun, goBool, labelSelector, writeIsDryRun } from './api-options.ts';
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
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  type JsonObject,
  METHOD_NOT_ALLOWED,
  nameRequired,
  notFound,
  PATH_NOT_FOUND,
  type Resource,
  type StatusFailure,
  statusJson,
  UNAUTHORIZED,
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
  return isObject(labels)
    ? Object.fromEntries(
        Object.entries(labels).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      )
    : {};
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
  if (req.httpVersion === '2.0')
    (req as unknown as Http2ServerRequest).stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
  else req.socket.destroy();
}

/** The same behaviours for an upgrade request, whose socket no longer belongs to the HTTP server. */
function answerScriptedUpgrade(socket: Duplex, behaviour: ScriptedBehaviour): void {
  if (behaviour === 'hang' || behaviour === 'stall-body') return;
  if (typeof behaviour === 'object' && 'respond' in behaviour) {
    answerUpgradeFailure(socket, {
      code: 500,
      reason: 'InternalError',
      message: 'a respond script cannot answer an upgrade',
    });
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

/** For 'error' events a client's reset raises: with no listener they would crash the process. */
const ignoreError = (): undefined => undefined;

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
const GO_LIKE_RESET_LIMITS = {
  streamResetBurst: 1_000_000,
  streamResetRate: 1_000_000,
  maxSessionInvalidFrames: 1_000_000,
  maxSessionRejectedStreams: 1_000_000,
};

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
      this.protocol === 'h2'
        ? createSecureServer({ ...tlsOptions, allowHTTP1: true, ...GO_LIKE_RESET_LIMITS })
        : createServer(tlsOptions);
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
      if (type === 'DELETED')
        this.#logs.forget(stringField(metadata, 'namespace') ?? '', stringField(metadata, 'name') ?? '');
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
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- both servers are TLS-only: Node gives each request a TLSSocket (over HTTP/2, a proxy to the session's)
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
    if (user === undefined) {
      sendFailure(res, UNAUTHORIZED);
      return;
    }
    const behaviour = this.#scriptFor(req);
    if (behaviour !== undefined) {
      answerScripted(req, res, behaviour);
      return;
    }
    const url = requestUrl(req);
    this.#dispatch(url.pathname, { req, res, body, query: url.searchParams });
  }

  #dispatch(pathname: string, exchange: Exchange): void {
    const segments = pathSegments(pathname);
    const matching = this.#routes.flatMap((candidate) => {
      const target = matchRoute(candidate.pattern, segments);
      return target === undefined ? [] : [{ candidate, target }];
    });
    if (matching.length === 0) {
      sendFailure(exchange.res, PATH_NOT_FOUND);
      return;
    }
    const matched = matching.find(({ candidate }) => candidate.method === exchange.req.method);
    if (matched === undefined) {
      sendFailure(exchange.res, METHOD_NOT_ALLOWED);
      return;
    }
    matched.candidate.handle(exchange, matched.target);
  }

  #answerError(res: ServerResponse, error: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const failure =
      error instanceof ApiError
        ? error.failure
        : { code: 500, reason: 'InternalError', message: `fake API server bug: ${String(error)}` };
    sendFailure(res, failure);
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until onUpgrade takes the socket over nobody else listens for its errors, which would crash the process.
    socket.on('error', ignoreError);
    const user = await this.#authenticate(req);
    this.#record(req, Buffer.alloc(0), user, true);
    if (user === undefined) {
      answerUpgradeFailure(socket, UNAUTHORIZED);
      return;
    }
    const behaviour = this.#scriptFor(req);
    if (behaviour !== undefined) {
      answerScriptedUpgrade(socket, behaviour);
      return;
    }
    if (!STREAMING_PATH.test(requestUrl(req).pathname)) {
      answerUpgradeFailure(socket, PATH_NOT_FOUND);
      return;
    }
    const { onUpgrade } = this.#options;
    if (onUpgrade === undefined) {
      answerUpgradeFailure(socket, badRequest('the fake API server has no streaming handler').failure);
      return;
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
      ...['/healthz', '/livez', '/readyz'].map((path) =>
        route('GET', path, ({ res }) => sendBytes(res, 200, 'text/plain', 'ok')),
      ),
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
