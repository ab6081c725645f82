/**
 * One request to the API server, whichever protocol carries it: an HTTP/2 stream when the API server
 * speaks HTTP/2, else an HTTP/1.1 request. Its owner hears `onSent`, `onResponse` and `onError`, and
 * may `cancel`. Sending again happens here and only here, for a bodiless request: once after the API
 * server refused its HTTP/2 stream unprocessed (REFUSED_STREAM, or past a GOAWAY's last stream), and
 * once after a 401 when the credentials changed since it was sent. Listeners are module-level
 * functions that find their call through a symbol, so a call costs no closures.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { constants as http2Constants, type ClientHttp2Stream, type IncomingHttpStatusHeader } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { CredentialStore } from './credentials.ts';
import type { Upstream } from './upstream.ts';

/** What a call tells its owner. */
export interface CallOwner {
  /** The whole request has gone up (again, after a resend). */
  onSent(): void;
  /** The API server's answer started: read it from the call (`statusCode`, `rawHeaders`, `body`…). */
  onResponse(call: UpstreamCall): void;
  /** The request failed before its answer, or the answer's body broke off. */
  onError(error: NodeJS.ErrnoException): void;
  /** Something that should not fail did (re-reading the credentials after a 401). */
  onFailure(error: unknown): void;
  /** An upgrade's 101: the API server's socket is the owner's from here. Only for an upgrade call. */
  onUpgrade?(response: IncomingMessage, socket: Socket, head: Buffer): void;
}

/** How far a call has got; `refreshing` holds a 401 while the credentials are re-read. */
type CallState = 'sending' | 'refreshing' | 'answered' | 'ended';

const CALL = Symbol('kube-api-ambassador.upstream-call');
type Tagged<T> = T & { [CALL]?: UpstreamCall };

export class UpstreamCall {
  readonly #upstream: Upstream;
  readonly #credentials: CredentialStore;
  readonly #owner: CallOwner;
  readonly method: string;
  readonly pathAndQuery: string;
  readonly #headers: readonly string[];
  /** The body: none, bytes at hand, or a stream piped once. Only a bodiless call is sent again. */
  readonly #body: Buffer | Readable | undefined;
  /** An upgrade goes as HTTP/1.1, whatever the API server speaks. */
  readonly #upgrade: boolean;
  #state: CallState = 'sending';
  #request: ClientRequest | undefined;
  #stream: ClientHttp2Stream | undefined;
  #sentAuthorization: string | undefined;
  #sentMark = 0;
  #resentRefused = false;
  #retriedUnauthorized = false;
  /** The answer, once it started (`answered`). */
  statusCode = 0;
  statusMessage: string | undefined;
  rawHeaders: string[] = [];
  headers: IncomingHttpHeaders = {};
  /** The answer's body: the HTTP/2 stream itself, or the HTTP/1.1 response. */
  body: Readable | undefined;

  constructor(
    upstream: Upstream,
    credentials: CredentialStore,
    owner: CallOwner,
    method: string,
    pathAndQuery: string,
    headers: readonly string[],
    body: Buffer | Readable | undefined,
    upgrade = false,
  ) {
    this.#upstream = upstream;
    this.#credentials = credentials;
    this.#owner = owner;
    this.method = method;
    this.pathAndQuery = pathAndQuery;
    this.#headers = headers;
    this.#body = body;
    this.#upgrade = upgrade;
  }

  /** Whether the API server is not taking the body as fast as it comes. */
  get needsDrain(): boolean {
    return (this.#request ?? this.#stream)?.writableNeedDrain === true;
  }

  /** The HTTP/2 stream's reset code, when the call went as one and was reset. */
  get rstCode(): number | undefined {
    return this.#stream?.rstCode;
  }

  /** Sends the request; called once, and again only from `#resend`. */
  send(): void {
    this.#state = 'sending';
    this.#sentAuthorization = this.#upstream.authorization;
    this.#sentMark = this.#credentials.reloadMark;
    const stream = this.#upgrade
      ? undefined
      : this.#upstream.stream(this.method, this.pathAndQuery, this.#headers, this.#body === undefined);
    if (stream !== undefined) {
      this.#stream = stream;
      (stream as Tagged<ClientHttp2Stream>)[CALL] = this;
      stream.on('response', onStreamResponse);
      stream.on('error', ignoreStreamError);
      stream.on('close', onStreamClose);
      if (this.#body === undefined) this.#owner.onSent();
      else this.#sendBody(stream);
      return;
    }
    const request: Tagged<ClientRequest> = this.#upstream.request(this.method, this.pathAndQuery, this.#headers);
    this.#request = request;
    request[CALL] = this;
    request.on('response', onRequestResponse);
    request.on('error', onRequestError);
    if (this.#upgrade) request.on('upgrade', onRequestUpgrade);
    if (this.#body === undefined) {
      request.on('finish', onFinish);
      request.end();
    } else this.#sendBody(request);
  }

  /** Tears the request down, answered or not: an HTTP/2 stream is reset with CANCEL, as Go's client does. */
  cancel(): void {
    this.#state = 'ended';
    const request = this.#request;
    const stream = this.#stream;
    this.#detach();
    request?.destroy();
    if (stream !== undefined && !stream.destroyed) stream.close(http2Constants.NGHTTP2_CANCEL);
  }

  #sendBody(upstream: Writable): void {
    upstream.on('finish', onFinish);
    if (Buffer.isBuffer(this.#body)) upstream.end(this.#body);
    else this.#body?.pipe(upstream);
  }

  /** The request, stream and answer stop speaking for this call: their events are ignored from here. */
  #detach(): void {
    if (this.#request !== undefined) (this.#request as Tagged<ClientRequest>)[CALL] = undefined;
    if (this.#stream !== undefined) (this.#stream as Tagged<ClientHttp2Stream>)[CALL] = undefined;
    if (this.body !== undefined) (this.body as Tagged<Readable>)[CALL] = undefined;
    this.#request = undefined;
    this.#stream = undefined;
  }

  /**
   * The one place a call is sent again. The first attempt's answer is drained and left to finish
   * on its connection, which then serves others.
   */
  #resend(): void {
    this.body?.resume();
    this.#detach();
    this.body = undefined;
    this.statusCode = 0;
    this.send();
  }

  answered(
    body: Readable,
    statusCode: number,
    statusMessage: string | undefined,
    rawHeaders: string[],
    headers: IncomingHttpHeaders,
  ): void {
    if (this.#state !== 'sending') return;
    this.#upstream.lastContactAt = Date.now();
    this.body = body;
    this.statusCode = statusCode;
    this.statusMessage = statusMessage;
    this.rawHeaders = rawHeaders;
    this.headers = headers;
    if (statusCode === 401) {
      const refresh = this.#credentials.refreshAfterUnauthorized(this.#sentAuthorization, this.#sentMark);
      if (this.#body === undefined && !this.#retriedUnauthorized) {
        this.#retriedUnauthorized = true;
        this.#state = 'refreshing';
        // Closures only on a 401; whatever fails in the retry reaches the owner, never an unhandled rejection.
        refresh
          .then((changed) => {
            this.#afterRefresh(changed);
          })
          .catch((error: unknown) => {
            this.#owner.onFailure(error);
          });
        return;
      }
      refresh.catch((error: unknown) => {
        this.#owner.onFailure(error);
      });
    }
    this.#respond();
  }

  /**
   * The token may have rotated since it was sent: if it changed, send the request again. Only
   * bodiless requests are: their bytes are all still at hand, and the API server refuses a 401
   * before acting, so nothing happens twice.
   */
  #afterRefresh(changed: boolean): void {
    if (this.#state !== 'refreshing') return;
    if (changed) this.#resend();
    else this.#respond();
  }

  #respond(): void {
    this.#state = 'answered';
    // An HTTP/1.1 response's body errors on its own; an HTTP/2 stream's are seen when it closes.
    if (this.#request !== undefined && this.body !== undefined) {
      (this.body as Tagged<Readable>)[CALL] = this;
      this.body.on('error', onResponseBodyError);
    }
    this.#owner.onResponse(this);
  }

  upgraded(response: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.#state !== 'sending' || this.#owner.onUpgrade === undefined) {
      socket.destroy();
      return;
    }
    this.#state = 'answered';
    this.#upstream.lastContactAt = Date.now();
    this.#owner.onUpgrade(response, socket, head);
  }

  sent(): void {
    if (this.#state === 'sending') this.#owner.onSent();
  }

  failed(error: NodeJS.ErrnoException): void {
    if (this.#state === 'ended' || this.#state === 'refreshing') return;
    this.#state = 'ended';
    this.#owner.onError(error);
  }

  /**
   * Its HTTP/2 stream closed. Answered and ended normally, the body has been read whole; else this
   * is where a reset, a GOAWAY or a dead connection is seen.
   */
  streamClosed(stream: ClientHttp2Stream): void {
    if (this.#state === 'answered' && stream.readableEnded && stream.rstCode === http2Constants.NGHTTP2_NO_ERROR)
      return;
    if (
      this.#state === 'sending' &&
      stream.rstCode === http2Constants.NGHTTP2_REFUSED_STREAM &&
      this.#body === undefined &&
      !this.#resentRefused
    ) {
      this.#resentRefused = true;
      this.#resend();
      return;
    }
    this.failed(stream.errored ?? streamClosedError(stream.rstCode));
  }
}

function onFinish(this: Tagged<Writable>): void {
  this[CALL]?.sent();
}

function onRequestResponse(this: Tagged<ClientRequest>, response: IncomingMessage): void {
  this[CALL]?.answered(
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
  this[CALL]?.answered(this, headers[':status'] ?? 502, undefined, rawHeaders, headers);
}

function onRequestUpgrade(this: Tagged<ClientRequest>, response: IncomingMessage, socket: Socket, head: Buffer): void {
  const call = this[CALL];
  if (call === undefined) socket.destroy();
  else call.upgraded(response, socket, head);
}

function onRequestError(this: Tagged<ClientRequest>, error: NodeJS.ErrnoException): void {
  this[CALL]?.failed(error);
}

function onResponseBodyError(this: Tagged<IncomingMessage>, error: NodeJS.ErrnoException): void {
  this[CALL]?.failed(error);
}

/** The stream's error, if any, is read from `stream.errored` when it closes. */
function ignoreStreamError(): void {
  // Listening keeps an errored stream from throwing; the error is handled on close.
}

function onStreamClose(this: Tagged<ClientHttp2Stream>): void {
  this[CALL]?.streamClosed(this);
}

function streamClosedError(rstCode: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`HTTP/2 stream closed with code ${rstCode}`);
  error.code = 'ERR_HTTP2_STREAM_ERROR';
  return error;
}
