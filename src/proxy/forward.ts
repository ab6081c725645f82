/**
 * Forwarding of ordinary (non-upgrade) requests: the body streams up and the response streams back
 * with back-pressure, never buffered; long-running responses (watch, log, proxy) get their headers
 * at once and no timeout; a client that leaves tears the upstream request down, and so does an
 * ordinary request's body that stops moving for --request-body-timeout.
 * Upstream, a request is an HTTP/2 stream when the API server speaks HTTP/2, else an HTTP/1.1
 * request; both paths meet in `answered` and `relay`.
 * Listeners are module-level functions that find their exchange through a symbol, so a request
 * costs no closures.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2Constants, type ClientHttp2Stream, type IncomingHttpStatusHeader } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { CredentialStore } from '../cluster/credentials.ts';
import {
  CLIENT_CLOSED_REQUEST,
  type Arrival,
  type AuditVerdict,
  type CompletedRequest,
  type Decision,
  type Recorder,
} from '../request/record.ts';
import { longRunningKind, type RequestAttributes } from '../request/attributes.ts';
import type { Upstream } from '../cluster/upstream.ts';
import { BodyCapture } from '../request/body-capture.ts';
import { clientResponseHeaders } from './headers.ts';
import type { InFlight } from './in-flight.ts';
import { hasBody } from './read-body.ts';
import { bodyStall, bodyTimeout, gatewayTimeout, upstreamFailure, writeStatus } from './status.ts';

export interface ForwardDeps {
  readonly upstream: Upstream;
  readonly credentials: CredentialStore;
  readonly inFlight: InFlight;
  readonly upstreamTimeoutMs: number;
  /** Longest an ordinary request's body may go without moving (`--request-body-timeout`). */
  readonly requestBodyTimeoutMs: number;
  readonly log: Logger;
  readonly recorder: Recorder;
  /** At the Request levels, bodies longer than this are not logged. */
  readonly auditBodyLimit: number;
}

/** A request that passed every check, with what it was decided on and what will be sent. */
export interface Admitted {
  readonly attributes: RequestAttributes;
  readonly query: string;
  /** Canonical path plus the original query: what is forwarded. */
  readonly pathAndQuery: string;
  readonly headers: string[];
  readonly decision: Decision;
  /** Why the policy would have refused it (in log mode). */
  readonly reason: string | undefined;
  /** The body, when it was read whole to decide on it (a delete's DeleteOptions): sent as it is. */
  readonly body: Buffer | undefined;
  /** Whether the API server will carry the request out as a dry run. */
  readonly dryRun: boolean;
}

const EXCHANGE = Symbol('kube-api-ambassador.exchange');
type Tagged<T> = T & { [EXCHANGE]?: Exchange };

/** One client request and its upstream counterpart(s); also what the recorder reads when it ends. */
export class Exchange implements CompletedRequest {
  readonly deps: ForwardDeps;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly arrival: Arrival;
  readonly attributes: RequestAttributes;
  readonly query: string;
  readonly pathAndQuery: string;
  readonly headers: string[];
  readonly decision: Decision;
  readonly dryRun: boolean;
  /** The body already read whole, sent instead of piping the request. */
  readonly readBody: Buffer | undefined;
  /** Why the policy would refuse it (log mode), or why the ambassador answered with an error. */
  reason: string | undefined;
  /** Set for watches, logs and other long-running requests: they get no timeout. */
  readonly longRunningKind: string | undefined;
  readonly hasBody: boolean;
  /** How many entries of `headers` came from the client; credentials are appended after them. */
  readonly clientHeaderCount: number;
  readonly audit: AuditVerdict;
  readonly requestBody: BodyCapture | undefined;
  responseBody: BodyCapture | undefined;
  panicked = false;
  bytesFromClient = 0;
  bytesToClient = 0;
  /** The request upstream: an HTTP/1.1 request, or an HTTP/2 stream. */
  upstreamRequest: ClientRequest | undefined;
  upstreamStream: ClientHttp2Stream | undefined;
  /** The response body being relayed (the HTTP/2 stream itself, or the HTTP/1.1 response). */
  upstreamResponse: Readable | undefined;
  sentAuthorization: string | undefined;
  sentMark = 0;
  /** The body deadline while an ordinary request's body streams up, then the upstream timeout. */
  timer: NodeJS.Timeout | undefined;
  retried = false;
  /** The API server's status code once its answer started; 0 before. */
  upstreamStatus = 0;
  /** Resent once after the API server refused its HTTP/2 stream unprocessed (GOAWAY, REFUSED_STREAM). */
  resent = false;
  timedOut = false;
  /** The client's socket while it is corked, until the I/O that produced the pending chunks is done (`batchWrites`). */
  corkedSocket: Socket | undefined;

  constructor(
    deps: ForwardDeps,
    req: IncomingMessage,
    res: ServerResponse,
    admitted: Admitted,
    arrival: Arrival,
    audit: AuditVerdict,
  ) {
    this.deps = deps;
    this.req = req;
    this.res = res;
    this.arrival = arrival;
    this.attributes = admitted.attributes;
    this.query = admitted.query;
    this.pathAndQuery = admitted.pathAndQuery;
    this.headers = admitted.headers;
    this.decision = admitted.decision;
    this.dryRun = admitted.dryRun;
    this.readBody = admitted.body;
    this.reason = admitted.reason;
    this.longRunningKind = longRunningKind(admitted.attributes);
    this.hasBody = hasBody(req);
    this.clientHeaderCount = admitted.headers.length;
    this.audit = audit;
    this.requestBody =
      this.hasBody && this.longRunningKind === undefined && audit.level !== 'None' && audit.level !== 'Metadata'
        ? new BodyCapture(deps.auditBodyLimit, req.headers['content-type'], req.headers['content-encoding'])
        : undefined;
  }

  get contentType(): string | undefined {
    return this.req.headers['content-type'];
  }

  get statusCode(): number {
    return this.res.headersSent ? this.res.statusCode : CLIENT_CLOSED_REQUEST;
  }

  /** Ends a long-running response cleanly (the client sees the stream end, as at a watch timeout). */
  endStream(): void {
    this.upstreamResponse?.unpipe(this.res);
    cancelUpstream(this);
    this.res.end();
  }
}

/** Tears the upstream request down: an HTTP/2 stream is reset with CANCEL, as Go's client does. */
function cancelUpstream(exchange: Exchange): void {
  exchange.upstreamRequest?.destroy();
  const stream = exchange.upstreamStream;
  if (stream !== undefined && !stream.destroyed) {
    // Its close is ours, not the API server's failure: onStreamClose ignores it.
    (stream as Tagged<ClientHttp2Stream>)[EXCHANGE] = undefined;
    stream.close(http2Constants.NGHTTP2_CANCEL);
  }
}

const ACCOUNTED = Symbol('kube-api-ambassador.accounted-bytes');
type AccountedSocket = Socket & { [ACCOUNTED]?: [number, number] };

/**
 * The bytes a connection carried, each way, since the last time they were taken: a keep-alive
 * connection serves many requests, so each request takes the counters' growth since the previous.
 */
export function takeConnectionBytes(socket: AccountedSocket): [number, number] {
  const [read, written] = socket[ACCOUNTED] ?? [0, 0];
  socket[ACCOUNTED] = [socket.bytesRead, socket.bytesWritten];
  return [socket.bytesRead - read, socket.bytesWritten - written];
}

export function forward(exchange: Exchange): void {
  (exchange.res as Tagged<ServerResponse>)[EXCHANGE] = exchange;
  exchange.res.on('close', onClientClose);
  exchange.deps.inFlight.add(exchange);
  if (exchange.readBody !== undefined) {
    exchange.requestBody?.add(exchange.readBody);
  } else if (exchange.hasBody && exchange.longRunningKind === undefined) {
    // Long-running requests are exempt, as from the upstream timeout and from kube-apiserver's request
    // deadline (WithRequestDeadline, k8s.io/apiserver/pkg/endpoints/filters/request_deadline.go).
    (exchange.req as Tagged<IncomingMessage>)[EXCHANGE] = exchange;
    exchange.timer = setTimeout(onBodyTimeout, exchange.deps.requestBodyTimeoutMs, exchange);
    exchange.req.on('data', onRequestChunk);
  }
  sendUpstream(exchange);
}

/**
 * Each chunk that moves restarts the body deadline, so an upload that keeps moving is never cut;
 * the chunk is also seen going by for the audit log. A cleared timer ignores `refresh`.
 */
function onRequestChunk(this: Tagged<IncomingMessage>, chunk: Buffer): void {
  const exchange = this[EXCHANGE];
  if (exchange === undefined) return;
  exchange.timer?.refresh();
  exchange.requestBody?.add(chunk);
}

/**
 * The body stopped moving. Without its end the request cannot be acted on, nor the connection
 * read past it: answer, close the connection, and abandon the upstream request half-sent.
 */
function onBodyTimeout(exchange: Exchange): void {
  exchange.timer = undefined;
  exchange.timedOut = true;
  const upstream = exchange.upstreamRequest ?? exchange.upstreamStream;
  const stall = bodyStall(exchange.req.complete, upstream?.writableNeedDrain === true);
  if (stall === 'upstream') exchange.deps.recorder.upstreamError('timeout');
  const status = bodyTimeout(stall, exchange.deps.requestBodyTimeoutMs);
  exchange.reason = status.message;
  exchange.res.shouldKeepAlive = false;
  writeStatus(exchange.res, status);
  cancelUpstream(exchange);
}

function onResponseChunk(this: Tagged<Readable>, chunk: Buffer): void {
  this[EXCHANGE]?.responseBody?.add(chunk);
}

function sendUpstream(exchange: Exchange): void {
  const { upstream } = exchange.deps;
  exchange.sentAuthorization = upstream.authorization;
  exchange.sentMark = exchange.deps.credentials.reloadMark;
  const stream: Tagged<ClientHttp2Stream> | undefined = upstream.stream(
    exchange.arrival.method,
    exchange.pathAndQuery,
    exchange.headers,
    !exchange.hasBody,
  );
  if (stream !== undefined) {
    stream[EXCHANGE] = exchange;
    exchange.upstreamStream = stream;
    stream.on('response', onStreamResponse);
    stream.on('error', ignoreStreamError);
    stream.on('close', onStreamClose);
    if (exchange.hasBody) {
      if (exchange.longRunningKind === undefined) stream.on('finish', startHeaderTimer);
      sendBody(exchange, stream);
    } else if (exchange.longRunningKind === undefined) {
      exchange.timer = setTimeout(onHeaderTimeout, exchange.deps.upstreamTimeoutMs, exchange);
    }
    return;
  }
  const request: Tagged<ClientRequest> = upstream.request(
    exchange.arrival.method,
    exchange.pathAndQuery,
    exchange.headers,
  );
  request[EXCHANGE] = exchange;
  exchange.upstreamRequest = request;
  request.on('response', onUpstreamResponse);
  request.on('error', onUpstreamError);
  if (exchange.longRunningKind === undefined) request.on('finish', startHeaderTimer);
  if (exchange.hasBody) sendBody(exchange, request);
  else request.end();
}

/** The body goes up exactly as it was read (and decided on), or streams from the client. */
function sendBody(exchange: Exchange, upstream: ClientRequest | ClientHttp2Stream): void {
  if (exchange.readBody === undefined) exchange.req.pipe(upstream);
  else upstream.end(exchange.readBody);
}

/** The whole request is sent: the body deadline, if any, gives way to the upstream timeout. */
function startHeaderTimer(this: Tagged<ClientRequest | ClientHttp2Stream>): void {
  const exchange = this[EXCHANGE];
  if (exchange === undefined) return;
  clearTimeout(exchange.timer);
  if (exchange.upstreamResponse === undefined) {
    exchange.timer = setTimeout(onHeaderTimeout, exchange.deps.upstreamTimeoutMs, exchange);
  }
}

function onHeaderTimeout(exchange: Exchange): void {
  exchange.timer = undefined;
  exchange.timedOut = true;
  exchange.deps.recorder.upstreamError('timeout');
  const seconds = exchange.deps.upstreamTimeoutMs / 1000;
  const status = gatewayTimeout(`the API server did not start answering within ${seconds}s (--upstream-timeout)`);
  exchange.reason = status.message;
  writeStatus(exchange.res, status);
  cancelUpstream(exchange);
}

function onUpstreamResponse(this: Tagged<ClientRequest>, response: IncomingMessage): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined)
    answered(
      exchange,
      response,
      response.statusCode ?? 502,
      response.statusMessage,
      response.rawHeaders,
      response.headers,
    );
}

function onStreamResponse(
  this: Tagged<ClientHttp2Stream>,
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader,
  _flags: number,
  rawHeaders: string[],
): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined) answered(exchange, this, headers[':status'] ?? 502, undefined, rawHeaders, headers);
}

/** The API server's answer started: HTTP/1.1 and HTTP/2 alike from here. */
function answered(
  exchange: Exchange,
  body: Readable,
  statusCode: number,
  statusMessage: string | undefined,
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
): void {
  clearTimeout(exchange.timer);
  exchange.upstreamStatus = statusCode;
  exchange.deps.upstream.lastContactAt = Date.now();
  if (statusCode === 401) {
    if (!exchange.hasBody && !exchange.retried) {
      exchange.retried = true;
      void retryAfterUnauthorized(exchange, body, statusMessage, rawHeaders, headers);
      return;
    }
    void exchange.deps.credentials.refreshAfterUnauthorized(exchange.sentAuthorization, exchange.sentMark);
  }
  relay(exchange, body, statusCode, statusMessage, rawHeaders, headers);
}

/**
 * The token may have rotated since it was last read: re-read it and, if it changed, send the
 * request again. Only bodiless requests are retried: their bytes are all still at hand, and the
 * API server refuses a 401 before acting, so nothing happens twice.
 */
async function retryAfterUnauthorized(
  exchange: Exchange,
  response: Readable,
  statusMessage: string | undefined,
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
): Promise<void> {
  const changed = await exchange.deps.credentials.refreshAfterUnauthorized(
    exchange.sentAuthorization,
    exchange.sentMark,
  );
  if (exchange.res.destroyed) {
    response.destroy();
    return;
  }
  if (!changed) {
    relay(exchange, response, 401, statusMessage, rawHeaders, headers);
    return;
  }
  // The first answer is dropped: its stream or request no longer speaks for this exchange.
  (response as Tagged<Readable>)[EXCHANGE] = undefined;
  if (exchange.upstreamStream !== undefined)
    (exchange.upstreamStream as Tagged<ClientHttp2Stream>)[EXCHANGE] = undefined;
  if (exchange.upstreamRequest !== undefined) (exchange.upstreamRequest as Tagged<ClientRequest>)[EXCHANGE] = undefined;
  exchange.upstreamStream = undefined;
  exchange.upstreamRequest = undefined;
  exchange.upstreamStatus = 0;
  response.resume();
  exchange.headers.length = exchange.clientHeaderCount;
  sendUpstream(exchange);
}

function relay(
  exchange: Exchange,
  response: Tagged<Readable>,
  statusCode: number,
  statusMessage: string | undefined,
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
): void {
  const { res } = exchange;
  exchange.upstreamResponse = response;
  response[EXCHANGE] = exchange;
  if (exchange.deps.inFlight.draining) res.shouldKeepAlive = false;
  res.writeHead(statusCode, statusMessage, clientResponseHeaders(rawHeaders));
  if (exchange.longRunningKind !== undefined) {
    // Long-running responses may wait minutes for their first byte; the client must see the headers now.
    res.flushHeaders();
    exchange.deps.recorder.firstByte(exchange);
  }
  // An HTTP/2 stream's errors and end are handled by onStreamClose.
  if (exchange.upstreamStream === undefined) response.on('error', onUpstreamBodyError);
  if (exchange.audit.level === 'RequestResponse' && exchange.longRunningKind === undefined) {
    exchange.responseBody = new BodyCapture(
      exchange.deps.auditBodyLimit,
      headers['content-type'],
      headers['content-encoding'],
    );
    response.on('data', onResponseChunk);
  }
  // A watch event is one DATA frame, written at once as one chunk: nothing to batch.
  if (exchange.longRunningKind === undefined) response.on('data', batchWrites);
  response.pipe(res);
}

/**
 * One socket read from the API server carries several HTTP/2 DATA frames (nginx sends 8 KiB ones),
 * each delivered by its own callback. Written as they come, each costs a system call to the client
 * socket, which dominated the CPU profile of large lists (900 writes per 5 MB); corked until the
 * check phase, after the reads of this loop iteration, they go out as one writev (80 per 5 MB).
 * process.nextTick would not do: Node drains the tick queue after each of those callbacks.
 * The socket is corked, not the response: a corked chunked ServerResponse holds its chunks back,
 * and an end() before the uncork writes the final chunk ahead of them (Node 24; the soak saw
 * events after a watch's end, and the client's "Data after Connection: close").
 */
function batchWrites(this: Tagged<Readable>): void {
  const exchange = this[EXCHANGE];
  const socket = exchange?.res.socket;
  if (exchange === undefined || exchange.corkedSocket !== undefined || socket == null) return;
  exchange.corkedSocket = socket;
  socket.cork();
  setImmediate(uncorkSocket, exchange);
}

function uncorkSocket(exchange: Exchange): void {
  exchange.corkedSocket?.uncork();
  exchange.corkedSocket = undefined;
}

function onUpstreamBodyError(this: Tagged<IncomingMessage>): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined) endBrokenResponse(exchange);
}

/**
 * The API server went away after the response started. A watch then ends cleanly, as at the API
 * server's own timeouts, so clients simply watch again; any other body is cut off, since ending it
 * would pass a truncated answer for a whole one.
 */
function endBrokenResponse(exchange: Exchange): void {
  if (exchange.longRunningKind === 'watch' && !exchange.res.destroyed) {
    exchange.upstreamResponse?.unpipe(exchange.res);
    exchange.res.end();
    return;
  }
  exchange.res.destroy();
}

function onUpstreamError(this: Tagged<ClientRequest>, error: NodeJS.ErrnoException): void {
  const exchange = this[EXCHANGE];
  if (exchange !== undefined) upstreamFailed(exchange, error);
}

/** The stream's error, if any, is read from `stream.errored` when it closes. */
function ignoreStreamError(): void {
  // Listening keeps an errored stream from throwing; the error is handled on close.
}

/**
 * An HTTP/2 stream closed. Ended normally, the pipe has finished the response; otherwise this is
 * where a reset, a GOAWAY or a dead connection is handled. A stream the API server refused before
 * processing it (REFUSED_STREAM, or past a GOAWAY's last stream) is sent again once when bodiless.
 */
function onStreamClose(this: Tagged<ClientHttp2Stream>): void {
  const exchange = this[EXCHANGE];
  if (exchange?.upstreamStream !== this || exchange.res.writableEnded) return;
  if (exchange.upstreamStatus !== 0) {
    // Answered: either relayed (a whole body has been piped) or a 401 whose retry decides.
    if (
      exchange.upstreamResponse === undefined ||
      (this.readableEnded && this.rstCode === http2Constants.NGHTTP2_NO_ERROR)
    )
      return;
  } else if (
    this.rstCode === http2Constants.NGHTTP2_REFUSED_STREAM &&
    !exchange.hasBody &&
    !exchange.resent &&
    !exchange.timedOut &&
    !exchange.res.destroyed
  ) {
    exchange.resent = true;
    this[EXCHANGE] = undefined;
    clearTimeout(exchange.timer);
    exchange.upstreamStream = undefined;
    exchange.headers.length = exchange.clientHeaderCount;
    sendUpstream(exchange);
    return;
  }
  upstreamFailed(exchange, this.errored ?? streamClosedError(this.rstCode));
}

function streamClosedError(rstCode: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`HTTP/2 stream closed with code ${rstCode}`);
  error.code = 'ERR_HTTP2_STREAM_ERROR';
  return error;
}

function upstreamFailed(exchange: Exchange, error: NodeJS.ErrnoException): void {
  clearTimeout(exchange.timer);
  if (exchange.timedOut || exchange.res.destroyed) return;
  if (exchange.upstreamResponse !== undefined) {
    endBrokenResponse(exchange);
    return;
  }
  const { cause, status } = upstreamFailure(error, exchange.deps.upstream.hostHeader);
  exchange.deps.recorder.upstreamError(cause);
  const rstCode = exchange.upstreamStream?.rstCode;
  exchange.deps.log.warn(
    {
      code: error.code,
      status: status.code,
      path: exchange.pathAndQuery,
      ...(rstCode === undefined ? {} : { rstCode }),
    },
    status.message,
  );
  exchange.reason = status.message;
  writeStatus(exchange.res, status);
}

function onClientClose(this: Tagged<ServerResponse>): void {
  const exchange = this[EXCHANGE];
  if (exchange === undefined) return;
  clearTimeout(exchange.timer);
  exchange.deps.inFlight.delete(exchange);
  if (!this.writableFinished) cancelUpstream(exchange);
  [exchange.bytesFromClient, exchange.bytesToClient] = takeConnectionBytes(exchange.req.socket);
  exchange.deps.recorder.requestCompleted(exchange);
}
