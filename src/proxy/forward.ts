/**
 * Forwarding of ordinary (non-upgrade) requests: the body streams up and the response streams back
 * with back-pressure, never buffered; long-running responses (watch, log, proxy) get their headers
 * at once and no timeout; a client that leaves tears the upstream request down, and so does an
 * ordinary request's body that stops moving for --request-body-timeout.
 * An `Exchange` moves through the phases of `phases.ts`, one method per event; the API server is
 * reached through an `UpstreamCall`, whichever protocol it speaks.
 * Listeners are module-level functions that find their exchange through a symbol, and deadlines
 * are checked by one shared tick, so a request costs no closures and no timers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { UpstreamCall, type CallOwner } from '../cluster/upstream-call.ts';
import { CLIENT_CLOSED_REQUEST, type CompletedRequest } from '../request/record.ts';
import { longRunningKind } from '../request/attributes.ts';
import { BodyCapture } from '../request/body-capture.ts';
import { AdmittedRequest, type Admitted, type ForwardDeps } from './admitted.ts';
import { requestDeadlines, type Expiring } from './deadlines.ts';
import { clientResponseHeaders } from './headers.ts';
import { nextExchangePhase, type ExchangeEvent, type ExchangePhase } from './phases.ts';
import { hasBody } from './read-body.ts';
import {
  bodyStall,
  bodyTimeout,
  gatewayTimeout,
  internalError,
  upstreamFailure,
  writeStatus,
  type ProxyStatus,
} from './status.ts';

const EXCHANGE = Symbol('kube-api-ambassador.exchange');
type Tagged<T> = T & { [EXCHANGE]?: Exchange };

/** One client request and its upstream call; also what the recorder reads when it ends. */
export class Exchange extends AdmittedRequest implements CompletedRequest, CallOwner, Expiring {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly pathAndQuery: string;
  /** Set for watches, logs and other long-running requests: they get no timeout. */
  readonly longRunningKind: string | undefined;
  /** The body streams from the client (it was not read whole to decide on it). */
  readonly streamsBody: boolean;
  readonly requestBody: BodyCapture | undefined;
  readonly call: UpstreamCall;
  phase: ExchangePhase = 'admitted';
  responseBody: BodyCapture | undefined;
  /** The client's socket while it is corked, until the I/O that produced the pending chunks is done (`batchWrites`). */
  corkedSocket: Socket | undefined;

  constructor(deps: ForwardDeps, admitted: Admitted, req: IncomingMessage, res: ServerResponse) {
    super(deps, admitted);
    this.req = req;
    this.res = res;
    this.pathAndQuery = admitted.pathAndQuery;
    this.longRunningKind = longRunningKind(admitted.attributes);
    const withBody = hasBody(req);
    this.streamsBody = withBody && admitted.body === undefined;
    this.requestBody =
      withBody && this.longRunningKind === undefined && this.audit.level !== 'None' && this.audit.level !== 'Metadata'
        ? new BodyCapture(deps.auditBodyLimit, req.headers['content-type'], req.headers['content-encoding'])
        : undefined;
    if (admitted.body !== undefined) this.requestBody?.add(admitted.body);
    const body = this.streamsBody ? req : admitted.body;
    this.call = new UpstreamCall(
      deps.upstream,
      deps.credentials,
      this,
      admitted.arrival.method,
      admitted.pathAndQuery,
      admitted.headers,
      body,
    );
  }

  get contentType(): string | undefined {
    return this.req.headers['content-type'];
  }

  get statusCode(): number {
    return this.res.headersSent ? this.res.statusCode : CLIENT_CLOSED_REQUEST;
  }

  /** Moves to the phase `event` leads to; false, and nothing changes, when the phase refuses it. */
  #enter(event: ExchangeEvent): boolean {
    const next = nextExchangePhase(this.phase, event);
    if (next === undefined) return false;
    this.phase = next;
    if (next === 'responding' || next === 'failed' || next === 'done') requestDeadlines.unwatch(this);
    return true;
  }

  /** Sends the request upstream; its end is recorded when the client's response closes. */
  forward(): void {
    if (!this.#enter('forward')) return;
    const { res, req } = this;
    (res as Tagged<ServerResponse>)[EXCHANGE] = this;
    res.on('close', onClientClose);
    this.deps.inFlight.add(this);
    if (this.streamsBody && this.longRunningKind === undefined) {
      // Long-running requests are exempt, as from the upstream timeout and from kube-apiserver's request
      // deadline (WithRequestDeadline, k8s.io/apiserver/pkg/endpoints/filters/request_deadline.go).
      (req as Tagged<IncomingMessage>)[EXCHANGE] = this;
      requestDeadlines.watch(this, this.deps.requestBodyTimeoutMs);
      req.on('data', onRequestChunk);
    }
    this.call.send();
  }

  /**
   * Each chunk that moves restarts the body deadline, so an upload that keeps moving is never cut;
   * the chunk is also seen going by for the audit log.
   */
  bodyMoved(chunk: Buffer): void {
    if (this.phase === 'sending') requestDeadlines.watch(this, this.deps.requestBodyTimeoutMs);
    this.requestBody?.add(chunk);
  }

  /** The whole request is up: the body deadline, if any, gives way to the upstream timeout (a resend keeps it). */
  onSent(): void {
    if (this.#enter('requestSent') && this.longRunningKind === undefined) {
      requestDeadlines.watch(this, this.deps.upstreamTimeoutMs);
    }
  }

  /** A deadline passed: the body's while it is sent, else the API server's to start answering. */
  expire(): void {
    const bodyStalled = this.phase === 'sending';
    if (!this.#enter('deadline')) return;
    if (bodyStalled) this.#bodyTimedOut();
    else this.#headerTimedOut();
  }

  /**
   * The body stopped moving. Without its end the request cannot be acted on, nor the connection
   * read past it: answer, close the connection, and abandon the upstream request half-sent.
   */
  #bodyTimedOut(): void {
    const stall = bodyStall(this.req.complete, this.call.needsDrain);
    if (stall === 'upstream') this.deps.recorder.upstreamError('timeout');
    this.res.shouldKeepAlive = false;
    this.#answer(bodyTimeout(stall, this.deps.requestBodyTimeoutMs));
  }

  #headerTimedOut(): void {
    this.deps.recorder.upstreamError('timeout');
    const seconds = this.deps.upstreamTimeoutMs / 1000;
    this.#answer(gatewayTimeout(`the API server did not start answering within ${seconds}s (--upstream-timeout)`));
  }

  /** The ambassador answers for the API server, which is asked no more. */
  #answer(status: ProxyStatus): void {
    this.reason = status.message;
    writeStatus(this.res, status);
    this.call.cancel();
  }

  onResponse(call: UpstreamCall): void {
    if (!this.#enter('response') || call.body === undefined) return;
    relay(this, call.body);
  }

  /**
   * The request failed before its answer, or the answer broke off. A watch then ends cleanly, as
   * at the API server's own timeouts, so clients simply watch again; any other body is cut off,
   * since ending it would pass a truncated answer for a whole one.
   */
  onError(error: NodeJS.ErrnoException): void {
    const wasResponding = this.phase === 'responding';
    if (this.res.writableEnded || this.res.destroyed || !this.#enter('upstreamError')) return;
    if (wasResponding) {
      if (this.longRunningKind === 'watch') this.endStream();
      else this.res.destroy();
      return;
    }
    const { cause, status } = upstreamFailure(error, this.deps.upstream.hostHeader);
    this.deps.recorder.upstreamError(cause);
    const rstCode = this.call.rstCode;
    this.deps.log.warn(
      { code: error.code, status: status.code, path: this.pathAndQuery, ...(rstCode === undefined ? {} : { rstCode }) },
      status.message,
    );
    this.#answer(status);
  }

  /** The ambassador itself failed: a 500 Status and the audit stage Panic, unless the answer already streams. */
  onFailure(error: unknown): void {
    this.deps.log.error({ err: error }, 'unexpected error handling a request');
    if (!this.#enter('panic')) return;
    this.panicked = true;
    this.#answer(internalError('the ambassador failed to handle the request; see its log'));
  }

  /** The client's response closed, answered in full or not: the request is recorded. */
  clientClosed(): void {
    if (!this.#enter('clientClose')) return;
    this.deps.inFlight.delete(this);
    if (!this.res.writableFinished) this.call.cancel();
    [this.bytesFromClient, this.bytesToClient] = takeConnectionBytes(this.req.socket);
    this.deps.recorder.requestCompleted(this);
  }

  /** Ends a long-running response cleanly (the client sees the stream end, as at a watch timeout). */
  endStream(): void {
    this.call.body?.unpipe(this.res);
    this.call.cancel();
    this.res.end();
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

function onRequestChunk(this: Tagged<IncomingMessage>, chunk: Buffer): void {
  this[EXCHANGE]?.bodyMoved(chunk);
}

function onClientClose(this: Tagged<ServerResponse>): void {
  this[EXCHANGE]?.clientClosed();
}

function onResponseChunk(this: Tagged<Readable>, chunk: Buffer): void {
  this[EXCHANGE]?.responseBody?.add(chunk);
}

/** The API server's answer started: its status and headers go to the client, its body streams after. */
function relay(exchange: Exchange, response: Tagged<Readable>): void {
  const { res, call } = exchange;
  response[EXCHANGE] = exchange;
  if (exchange.deps.inFlight.draining) res.shouldKeepAlive = false;
  res.writeHead(call.statusCode, call.statusMessage, clientResponseHeaders(call.rawHeaders));
  if (exchange.longRunningKind !== undefined) {
    // Long-running responses may wait minutes for their first byte; the client must see the headers now.
    res.flushHeaders();
    exchange.deps.recorder.firstByte(exchange);
  }
  if (exchange.audit.level === 'RequestResponse' && exchange.longRunningKind === undefined) {
    exchange.responseBody = new BodyCapture(
      exchange.deps.auditBodyLimit,
      call.headers['content-type'],
      call.headers['content-encoding'],
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
