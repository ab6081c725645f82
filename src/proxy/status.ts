/**
 * The one place that builds the errors the ambassador itself answers with: a Kubernetes
 * `metav1.Status` body, so every client library shows the reason as it would the API server's own.
 * Messages never contain credentials, request headers or raw upstream error text.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpstreamErrorCause } from '../request/record.ts';

/** `metav1.StatusReason` values the ambassador uses, with their codes fixed by `statusFor*` below. */
export type StatusReason =
  | 'BadRequest'
  | 'Forbidden'
  | 'NotFound'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'RequestHeaderFieldsTooLarge'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'TooManyRequests';

/** An answer the ambassador gives itself; a class, so a `T | ProxyStatus` is told apart with `instanceof`. */
export class ProxyStatus {
  readonly code: number;
  readonly reason: StatusReason;
  readonly message: string;
  /** Sent as `Retry-After` and `details.retryAfterSeconds`, as kube-apiserver does. */
  readonly retryAfterSeconds?: number | undefined;

  constructor(code: number, reason: StatusReason, message: string, retryAfterSeconds?: number) {
    this.code = code;
    this.reason = reason;
    this.message = message;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The factory of every Status with this code and reason. */
function statusWith(code: number, reason: StatusReason): (message: string) => ProxyStatus {
  return (message) => new ProxyStatus(code, reason, message);
}

export const badRequest = statusWith(400, 'BadRequest');
export const forbidden = statusWith(403, 'Forbidden');
export const notFound = statusWith(404, 'NotFound');
export const payloadTooLarge = statusWith(413, 'RequestEntityTooLarge');
export const unsupportedMediaType = statusWith(415, 'UnsupportedMediaType');
/**
 * The client did not send its request in time: headers trickled (slowloris), or a body that stopped.
 * 408 is HTTP's code for it (RFC 9110 §15.5.9). metav1 has no reason of its own for 408; `Timeout`
 * makes apimachinery's `apierrors.IsTimeout` true, as for the API server's own 504 (`NewTimeoutError`).
 */
export const requestTimeout = statusWith(408, 'Timeout');
export const internalError = statusWith(500, 'InternalError');
/** The API server could not be reached, or its identity could not be verified. */
export const serviceUnavailable = statusWith(503, 'ServiceUnavailable');
/** The API server took longer than the upstream timeout to start answering. */
export const gatewayTimeout = statusWith(504, 'Timeout');

/** Past a concurrency limit, like kube-apiserver's max-in-flight filter. */
export function tooManyRequests(message: string, retryAfterSeconds: number): ProxyStatus {
  return new ProxyStatus(429, 'TooManyRequests', message, retryAfterSeconds);
}

/** Which side stopped a request body from moving: the client stopped sending, or the API server stopped taking it. */
export type BodyStall = 'client' | 'upstream';

/**
 * No body byte moved for `--request-body-timeout`. The client is to blame only while it still owes
 * bytes and the API server is ready for them; a paused pipe or a body fully received but not yet
 * taken upstream is the API server's stall.
 */
export function bodyStall(clientFinished: boolean, upstreamBackPressure: boolean): BodyStall {
  return clientFinished || upstreamBackPressure ? 'upstream' : 'client';
}

export function bodyTimeout(stall: BodyStall, timeoutMs: number): ProxyStatus {
  const seconds = timeoutMs / 1000;
  return stall === 'client'
    ? requestTimeout(`the request body stopped arriving: nothing for ${seconds}s (--request-body-timeout)`)
    : gatewayTimeout(
        `the API server stopped taking the request body: nothing for ${seconds}s (--request-body-timeout)`,
      );
}

export function headersTooLarge(): ProxyStatus {
  return new ProxyStatus(431, 'RequestHeaderFieldsTooLarge', 'request headers are larger than the ambassador accepts');
}

const TLS_VERIFY_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

export interface UpstreamFailure {
  readonly cause: UpstreamErrorCause;
  readonly status: ProxyStatus;
}

/** The cause and Status of a transport error talking to the API server at `host`; the one mapping there is. */
export function upstreamFailure(error: NodeJS.ErrnoException, host: string): UpstreamFailure {
  // A stream still pending when its HTTP/2 connection failed to open carries that failure (ECONNREFUSED…) as its cause.
  if (error.code === 'ERR_HTTP2_STREAM_CANCEL' && isErrnoException(error.cause))
    return upstreamFailure(error.cause, host);
  const code = error.code ?? 'UNKNOWN';
  if (TLS_VERIFY_CODES.has(code)) {
    return failure(
      'tls',
      `the API server at ${host} presented a certificate that does not verify against the cluster CA (${code})`,
    );
  }
  switch (code) {
    case 'ECONNREFUSED':
      return failure('connect_refused', `the API server at ${host} refused the connection (${code})`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return failure('dns', `the API server host ${host} could not be resolved (${code})`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return failure('unreachable', `the API server at ${host} cannot be reached (${code})`);
    // The connection was reset; over HTTP/2 the stream was reset, the connection went away (GOAWAY,
    // error), or stopped answering PINGs.
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_HTTP2_STREAM_ERROR':
    case 'ERR_HTTP2_SESSION_ERROR':
    case 'ERR_HTTP2_GOAWAY_SESSION':
    case 'ERR_HTTP2_STREAM_CANCEL':
    case 'ERR_HTTP2_INVALID_SESSION':
    case 'ERR_HTTP2_ERROR':
    case 'ERR_HTTP2_PING_TIMEOUT':
      return failure('reset', `the connection to the API server at ${host} was closed before it answered (${code})`);
    default:
      return failure('other', `the request to the API server at ${host} failed (${code})`);
  }
}

function isErrnoException(value: unknown): value is NodeJS.ErrnoException {
  return value instanceof Error && typeof (value as NodeJS.ErrnoException).code === 'string';
}

function failure(cause: UpstreamErrorCause, message: string): UpstreamFailure {
  return { cause, status: serviceUnavailable(message) };
}

function statusBody(status: ProxyStatus): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: status.message,
    reason: status.reason,
    ...(status.retryAfterSeconds === undefined ? {} : { details: { retryAfterSeconds: status.retryAfterSeconds } }),
    code: status.code,
  });
}

/** The status line's text: the same on a response and on a raw socket (Node's own table, as `writeHead` uses). */
function statusText(code: number): string {
  return STATUS_CODES[code] ?? 'unknown';
}

/** The headers of every Status answer, flat, the same on a response and on a raw socket. */
function statusHeaders(status: ProxyStatus, body: string): string[] {
  const headers = [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(body)),
    'x-content-type-options',
    'nosniff',
    'cache-control',
    'no-store',
  ];
  if (status.retryAfterSeconds !== undefined) headers.push('retry-after', String(status.retryAfterSeconds));
  return headers;
}

/** Answers with a Status; if the response has already started, ends the stream instead. */
export function writeStatus(res: ServerResponse, status: ProxyStatus): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(status);
  res.writeHead(status.code, statusText(status.code), statusHeaders(status, body));
  res.end(body);
}

/** Answers on a raw socket (an upgrade or a request Node could not parse), then closes it. */
export function writeStatusToSocket(socket: Duplex, status: ProxyStatus): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = statusBody(status);
  const headers = statusHeaders(status, body);
  let head = `HTTP/1.1 ${status.code} ${statusText(status.code)}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  socket.end(`${head}connection: close\r\n\r\n${body}`);
}
