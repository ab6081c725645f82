/**
 * The request path, top to bottom: accept → check host → resolve attributes → decide → forward → record.
 * Ordinary requests and upgrades share `admit`, so both are decided on the same canonical target,
 * and what is forwarded is exactly what was decided on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { auditVerdict, type AuditPolicy } from '../audit/policy.ts';
import type { PolicyMode } from '../config/options.ts';
import { failure, success, type Failure, type Result } from '../config/result.ts';
import { decideRequest, describeRequest, type PolicyDecision } from '../policy/policy.ts';
import type { PolicyStore } from '../policy/store.ts';
import { arrivalOf, type Arrival, type AuditVerdict, type Decision, type Tracing } from '../request/record.ts';
import { isLongRunning, isStreamingSubresource, type RequestAttributes } from '../request/attributes.ts';
import { DELETE_OPTIONS_BODY_LIMIT } from '../request/delete-options.ts';
import { isDryRun } from '../request/dry-run.ts';
import { resolveRequest, type RequestContent, type ResolvedRequest, type ResolveProblem } from '../request/resolve.ts';
import { parseRequestTarget, type RequestTarget } from '../request/target.ts';
import { hostRefusal, pathRefusal, type RequestFilter } from './filter.ts';
import type { Admitted, ForwardDeps } from './admitted.ts';
import { Exchange, takeConnectionBytes } from './forward.ts';
import { replaceTraceContext, upstreamRequestHeaders } from './headers.ts';
import type { TokenBucket } from './rate-limit.ts';
import type { InFlight } from './in-flight.ts';
import type { MemoryGate } from './memory-budget.ts';
import { hasBody, readBoundedBody } from './read-body.ts';
import { Tunnel, upgradeProtocol } from './upgrade.ts';
import {
  badRequest,
  forbidden,
  headersTooLarge,
  internalError,
  notFound,
  requestTimeout,
  tooManyRequests,
  unsupportedMediaType,
  writeStatus,
  writeStatusToSocket,
  ProxyStatus,
} from './status.ts';

export interface PolicyGate {
  readonly store: PolicyStore;
  readonly mode: PolicyMode;
}

/** Concurrency limits like kube-apiserver's max-in-flight filter; 0 is no limit. */
export interface InFlightLimits {
  readonly ordinary: number;
  readonly longRunning: number;
}

/** kube-apiserver answers max-in-flight rejections with Retry-After: 1. */
const RETRY_AFTER_SECONDS = 1;

export interface ProxyDeps extends ForwardDeps {
  readonly filter: RequestFilter;
  readonly limits: InFlightLimits;
  /** The client-side rate limit, when one is set. */
  readonly rateLimit: TokenBucket | undefined;
  /** The allow-list, when one is configured; both it and the filter must allow a request. */
  readonly policy: PolicyGate | undefined;
  /** `/` by default; always ends with `/`. */
  readonly apiPrefix: string;
  /** Which requests are audited, at which level. */
  readonly auditPolicy: AuditPolicy;
  /** Spans for requests, when tracing is on. */
  readonly tracing?: Tracing | undefined;
  /** The memory budget's gate, when there is a budget. */
  readonly memory: MemoryGate | undefined;
}

/** A request the ambassador answers itself, with what was resolved of it before it was refused. */
interface Refusal {
  readonly status: ProxyStatus;
  readonly attributes: RequestAttributes | undefined;
  readonly query: string;
  readonly dryRun: boolean;
}

function refusal(status: ProxyStatus, request?: ResolvedRequest): Refusal {
  return request === undefined
    ? { status, attributes: undefined, query: '', dryRun: false }
    : { status, attributes: request.attributes, query: request.query, dryRun: isDryRun(request) };
}

function refuse(status: ProxyStatus, request?: ResolvedRequest): Failure<Refusal> {
  return failure(refusal(status, request));
}

/** A request whose options cannot be read as the API server would read them: a 400 naming what it read. */
function unresolvable({ attributes, message }: ResolveProblem, query: string): Failure<Refusal> {
  return failure({ status: badRequest(message), attributes, query, dryRun: false });
}

/**
 * Everything a request must pass before anything is sent upstream. `body` is the body already read
 * whole (a delete's), which is then what is forwarded.
 */
function admit(
  deps: ProxyDeps,
  req: IncomingMessage,
  upgrade: string | undefined,
  arrival: Arrival,
  body?: Buffer,
): Result<Admitted, Refusal> {
  const method = req.method ?? '';
  const hostProblem = hostRefusal(deps.filter, req.headers.host, req.headers.origin);
  if (hostProblem !== undefined) return refuse(forbidden(hostProblem));

  const requestTarget = stripApiPrefix(req.url ?? '', deps.apiPrefix);
  if (requestTarget === undefined) return refuse(notFound(`the path is outside the API prefix ${deps.apiPrefix}`));
  const parsed = parseRequestTarget(requestTarget);
  if (!parsed.ok)
    return refuse(badRequest(`${parsed.problem}; the ambassador only forwards unambiguous request targets`));
  const target = parsed.value;
  const resolution = resolveRequest(method, target, contentOf(req, body));
  if (!resolution.ok) return unresolvable(resolution.problem, target.query);
  const request = resolution.value;
  const { attributes, query } = request;

  const refusal = pathRefusal(deps.filter, method, target.decodedPath);
  if (refusal !== undefined) return refuse(forbidden(refusal), request);
  if (upgrade !== undefined && !isStreamingSubresource(attributes)) {
    return refuse(badRequest('only exec, attach and portforward on a pod can be upgraded'), request);
  }
  const verdict = policyVerdict(deps, request, upgrade !== undefined);
  if (verdict instanceof ProxyStatus) return refuse(verdict, request);

  const overLimit =
    limitRefusal(deps, upgrade !== undefined || isLongRunning(attributes)) ??
    memoryRefusal(deps.memory, deps.inFlight) ??
    rateRefusal(deps.rateLimit);
  if (overLimit !== undefined) return refuse(overLimit, request);

  const headers = upstreamRequestHeaders(req.rawHeaders, upgrade);
  if (headers instanceof ProxyStatus) return refuse(headers, request);
  // kube-apiserver adopts a request's Audit-ID as its own: the two audit logs join on it.
  headers.push('audit-id', arrival.auditId);
  if (arrival.span !== undefined) replaceTraceContext(headers, arrival.span.traceparent, arrival.span.tracestate);
  return success({
    attributes,
    query,
    pathAndQuery: forwardedTarget(target, request),
    headers,
    decision: verdict.decision,
    reason: verdict.reason,
    body,
    dryRun: isDryRun(request),
    arrival,
    audit: auditOf(deps, attributes),
  });
}

/** What the allow-list makes of a request: allowed, allowed though it would deny it (log mode), or the Status refusing it. */
function policyVerdict(
  deps: ProxyDeps,
  request: ResolvedRequest,
  upgrade: boolean,
): { readonly decision: Decision; readonly reason: string | undefined } | ProxyStatus {
  if (deps.policy === undefined) return ALLOWED;
  const verdict = decideRequest(deps.policy.store.current, request, upgrade);
  if (verdict.allowed) return ALLOWED;
  const { mode } = deps.policy;
  const { attributes, query } = request;
  deps.recorder.policyDenied(verdict.rule, mode);
  deps.log.info({ ...attributes, query, rule: verdict.rule, mode, reason: verdict.reason }, 'request denied by policy');
  if (mode === 'enforce') return policyRefusal(verdict, attributes);
  return { decision: 'would_deny', reason: verdict.reason };
}

const ALLOWED = { decision: 'allow', reason: undefined } as const;

function contentOf(req: IncomingMessage, bytes: Buffer | undefined): RequestContent {
  return { contentType: req.headers['content-type'], contentEncoding: req.headers['content-encoding'], bytes };
}

/** A policy refusal: 403, or 400/415 when a rule could not be checked against an unreadable body. */
function policyRefusal(verdict: PolicyDecision, attributes: RequestAttributes): ProxyStatus {
  const message = `${describeRequest(attributes)} is forbidden: ${verdict.reason}`;
  if (verdict.code === 415) return unsupportedMediaType(message);
  return verdict.code === 400 ? badRequest(message) : forbidden(message);
}

/**
 * The canonical path and the query decided on. A proxy request's query is not read by the API
 * server but passed on to the pod, service or node behind it, whose parser may not be Go's (a
 * literal `+`, say): nothing is decided on it, so it goes as the client sent it.
 */
function forwardedTarget(target: RequestTarget, request: ResolvedRequest): string {
  const { attributes } = request;
  const query = attributes.verb === 'proxy' || attributes.subresource === 'proxy' ? target.rawQuery : request.query;
  return query === '' ? target.path : `${target.path}?${query}`;
}

/** The 429 for a request past its concurrency limit, or undefined when there is room. */
function limitRefusal(deps: ProxyDeps, longRunning: boolean): ProxyStatus | undefined {
  const { ordinary, longRunning: longRunningLimit } = deps.limits;
  if (longRunning) {
    if (longRunningLimit > 0 && deps.inFlight.longRunningCount >= longRunningLimit) {
      return tooManyRequests(
        `too many watches, logs and sessions open (--max-long-running-requests=${longRunningLimit}); try again later`,
        RETRY_AFTER_SECONDS,
      );
    }
  } else if (ordinary > 0 && deps.inFlight.ordinaryCount >= ordinary) {
    return tooManyRequests(
      `too many requests in flight (--max-requests-in-flight=${ordinary}); try again later`,
      RETRY_AFTER_SECONDS,
    );
  }
  return undefined;
}

/**
 * The 429 for a request while memory is over budget. A request still goes through when no ordinary
 * request is in flight: memory that no request holds (what the heap and malloc keep after a burst)
 * does not shrink by waiting, and must not lock every client out.
 */
function memoryRefusal(memory: MemoryGate | undefined, inFlight: InFlight): ProxyStatus | undefined {
  if (memory === undefined || !memory.shedding || inFlight.ordinaryCount === 0) return undefined;
  const mib = Math.round(memory.budget.limitBytes / 2 ** 20);
  return tooManyRequests(`the ambassador is near its memory limit of ${mib} MiB; try again later`, RETRY_AFTER_SECONDS);
}

function rateRefusal(bucket: TokenBucket | undefined): ProxyStatus | undefined {
  const wait = bucket?.take(Date.now()) ?? 0;
  if (bucket === undefined || wait === 0) return undefined;
  return tooManyRequests(
    `more than --max-qps=${bucket.qps} requests per second (burst ${bucket.burst}); retry in ${wait}s`,
    wait,
  );
}

const DECISION_BY_CODE: ReadonlyMap<number, Decision> = new Map([
  [403, 'deny'],
  [429, 'throttled'],
]);

/** The audit level and options for a request, decided as soon as its attributes are known. */
function auditOf(deps: ProxyDeps, attributes: RequestAttributes | undefined): AuditVerdict {
  return auditVerdict(deps.auditPolicy, attributes, deps.credentials.current.identity);
}

/** Records a refused request as the API server would label it, with the ambassador's decision. */
function recordRefusal(
  deps: ProxyDeps,
  req: IncomingMessage,
  refusal: Refusal,
  arrival: Arrival,
  panicked = false,
): void {
  const [bytesFromClient, bytesToClient] = takeConnectionBytes(req.socket);
  deps.recorder.requestCompleted({
    arrival,
    attributes: refusal.attributes,
    query: refusal.query,
    dryRun: refusal.dryRun,
    contentType: req.headers['content-type'],
    statusCode: refusal.status.code,
    decision: DECISION_BY_CODE.get(refusal.status.code) ?? 'invalid',
    reason: refusal.status.message,
    bytesFromClient,
    bytesToClient,
    audit: auditOf(deps, refusal.attributes),
    panicked,
  });
}

/**
 * kubectl proxy's --api-prefix: requests must start with it; a prefix that does not itself start
 * with /api is removed before forwarding (`/k8s/api/v1` → `/api/v1`).
 */
function stripApiPrefix(url: string, prefix: string): string | undefined {
  if (prefix === '/') return url;
  if (!url.startsWith(prefix)) return undefined;
  return prefix.startsWith('/api') ? url : url.slice(prefix.length - 1);
}

export class ProxyHandler {
  readonly #deps: ProxyDeps;

  constructor(deps: ProxyDeps) {
    this.#deps = deps;
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const arrival = arrivalOf(req, this.#deps.tracing);
    if (req.method === 'DELETE' && hasBody(req)) {
      // kube-apiserver reads a delete's options from its body: read it whole before deciding.
      readBoundedBody(req, DELETE_OPTIONS_BODY_LIMIT, this.#deps.requestBodyTimeoutMs, 'DeleteOptions body')
        .then((body) => {
          if (body instanceof ProxyStatus) this.#refuseUnread(req, res, body, arrival);
          else this.#serve(req, res, arrival, body);
        })
        .catch((error: unknown) => {
          this.#panic(req, res, arrival, error);
        });
      return;
    }
    this.#serve(req, res, arrival, undefined);
  };

  /** A request whose body could not be read within its bounds. */
  #refuseUnread(req: IncomingMessage, res: ServerResponse, status: ProxyStatus, arrival: Arrival): void {
    res.shouldKeepAlive = false;
    writeStatus(res, status);
    recordRefusal(this.#deps, req, refusal(status), arrival);
  }

  #serve(req: IncomingMessage, res: ServerResponse, arrival: Arrival, body: Buffer | undefined): void {
    let exchange: Exchange | undefined;
    try {
      const admission = admit(this.#deps, req, undefined, arrival, body);
      if (!admission.ok) {
        writeStatus(res, admission.problem.status);
        recordRefusal(this.#deps, req, admission.problem, arrival);
        return;
      }
      exchange = new Exchange(this.#deps, admission.value, req, res);
      exchange.forward();
    } catch (error) {
      // Once forwarding began, the exchange answers, and records itself when the response closes.
      if (exchange === undefined) this.#panic(req, res, arrival, error);
      else exchange.onFailure(error);
    }
  }

  /** The ambassador failed before an exchange took the request over: a 500 Status and the audit stage Panic. */
  #panic(req: IncomingMessage, res: ServerResponse, arrival: Arrival, error: unknown): void {
    this.#deps.log.error({ err: error }, 'unexpected error handling a request');
    const status = internalError('the ambassador failed to handle the request; see its log');
    writeStatus(res, status);
    recordRefusal(this.#deps, req, refusal(status), arrival, true);
  }

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroyOnError);
    const arrival = arrivalOf(req, this.#deps.tracing);
    try {
      const protocol = upgradeProtocol(req.method ?? '', req.headers.upgrade);
      const admission = protocol instanceof ProxyStatus ? refuse(protocol) : admit(this.#deps, req, protocol, arrival);
      if (!admission.ok) {
        writeStatusToSocket(socket, admission.problem.status);
        recordRefusal(this.#deps, req, admission.problem, arrival);
        return;
      }
      new Tunnel(this.#deps, admission.value, socket, head).start();
    } catch (error) {
      this.#deps.log.error({ err: error }, 'unexpected error handling an upgrade');
      const status = internalError('the ambassador failed to handle the upgrade; see its log');
      writeStatusToSocket(socket, status);
      recordRefusal(this.#deps, req, refusal(status), arrival, true);
    }
  };

  /** CONNECT asks for a forward-proxy tunnel; the ambassador is not one. */
  readonly handleConnect = (_req: IncomingMessage, socket: Duplex): void => {
    socket.on('error', destroyOnError);
    writeStatusToSocket(socket, badRequest('CONNECT is not supported: the ambassador is not a forward proxy'));
  };

  /** Requests Node could not parse: answer with a Status instead of Node's bare 400. */
  readonly handleClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? headersTooLarge()
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? requestTimeout('the request headers did not arrive within --request-header-timeout')
          : badRequest(`the request is not valid HTTP/1.1 (${error.code ?? 'parse error'})`);
    writeStatusToSocket(socket, status);
  };
}

/**
 * Node hands upgrade and CONNECT sockets over without its own 'error' listener: a client that
 * resets the connection after reading a refusal would otherwise crash the process.
 */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Only WebSocket and SPDY upgrades are treated as upgrades; other Upgrade headers are ignored. */
export function isProxiedUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined) return false;
  const protocol = upgrade.trim().toLowerCase();
  return protocol === 'websocket' || protocol === 'spdy/3.1';
}
