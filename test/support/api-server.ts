/**
 * An in-memory fake of the Kubernetes API server for the test suite: a real HTTPS server on 127.0.0.1
 * that authenticates like kube-apiserver (bearer token or client certificate), records every request,
 * serves enough discovery for real kubectl, stores pods, jobs and configmaps in memory, and answers
 * SelfSubjectReviews and SelfSubjectRulesReviews from settable RBAC rules.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import {
  bearerToken,
  commonName,
  type Exchange,
  ignoreError,
  listen,
  matchRoute,
  pathSegments,
  readBody,
  readToken,
  requestUrl,
  sendFailure,
  STREAMING_PATH,
} from './api-http.ts';
import { ApiResources, type RbacRules } from './api-resources.ts';
import { answerScripted, answerScriptedUpgrade, answerUpgradeFailure, type ScriptedBehaviour } from './api-scripts.ts';
import { ApiError, badRequest, METHOD_NOT_ALLOWED, PATH_NOT_FOUND, UNAUTHORIZED } from './api-status.ts';

export type { RbacRules } from './api-resources.ts';
export type { ScriptedBehaviour } from './api-scripts.ts';

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

  readonly #options: ApiServerOptions;
  readonly #resources: ApiResources;
  readonly protocol: ApiProtocol;
  readonly #server: HttpsServer | Http2SecureServer;
  readonly #sockets = new Set<Socket>();
  readonly #http2Sessions = new Set<ServerHttp2Session>();
  #http2SessionsAccepted = 0;
  #goawayAfterStreams: number | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #scripts: { match: (method: string, url: string) => boolean; behaviour: ScriptedBehaviour }[] = [];

  constructor(options: ApiServerOptions) {
    this.#options = options;
    this.#resources = new ApiResources(options, () => this.port);
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
    this.#resources.releaseWatches();
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
    const matching = this.#resources.routes.flatMap((candidate) => {
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

  // --- state, for tests ----------------------------------------------------------------------

  get tokensIssued(): string[] {
    return this.#resources.tokensIssued;
  }

  configMap(namespace: string, name: string): Buffer | undefined {
    return this.#resources.configMap(namespace, name);
  }

  putConfigMap(namespace: string, name: string, labels?: Record<string, string>): void {
    this.#resources.putConfigMap(namespace, name, labels);
  }

  putPod(namespace: string, name: string, extra?: Record<string, unknown>): Record<string, unknown> {
    return this.#resources.putPod(namespace, name, extra);
  }

  deletePod(namespace: string, name: string): void {
    this.#resources.deletePod(namespace, name);
  }

  appendLog(namespace: string, pod: string, line: string): void {
    this.#resources.appendLog(namespace, pod, line);
  }

  endLogs(namespace: string, pod: string): void {
    this.#resources.endLogs(namespace, pod);
  }

  openWatches(): number {
    return this.#resources.openWatches();
  }

  setRbacRules(namespace: string, rules: RbacRules): void {
    this.#resources.setRbacRules(namespace, rules);
  }
}
