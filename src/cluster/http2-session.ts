/**
 * One HTTP/2 connection to the API server: the streams open on it, its stream limit, and its
 * liveness check; its events go to the Upstream that opened it. Listeners are module-level
 * functions that find their Session through a symbol.
 */
import { constants as http2Constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';

/** What a connection reports to: the Upstream that opened it. */
export interface SessionOwner {
  releaseStream(session: Session): void;
  sessionConnected(session: Session): void;
  setStreamLimit(session: Session, limit: number): void;
  retire(session: Session): void;
  forget(session: Session): void;
  logSessionEnd(level: 'debug' | 'warn', fields: Record<string, unknown>, message: string): void;
}

/** Streams assumed allowed on a new connection until its SETTINGS say otherwise (nghttp2's own assumption). */
const INITIAL_STREAM_LIMIT = 100;
/**
 * Flow-control windows. A stream's bounds what one client that stops reading can make the proxy
 * buffer, and holds back only that stream: Node returns connection credit as DATA arrives, not as
 * it is read. The connection's is as large as Go's (1 GiB) so it never limits a stream. A larger
 * stream window (1 and 4 MiB tried with npm run bench) made lists no cheaper.
 */
const CONNECTION_WINDOW = 1 << 30;
export const STREAM_WINDOW = 256 * 1024;
/** Longest wait for a PING's answer before the connection is taken for dead (client-go's PingTimeout). */
const MAX_PING_TIMEOUT_MS = 15_000;

const SESSION = Symbol('kube-api-ambassador.session');

/** One HTTP/2 connection, the streams open on it and its liveness check. */
export class Session {
  readonly upstream: SessionOwner;
  readonly session: ClientHttp2Session;
  readonly pingTimeoutMs: number;
  active = 0;
  limit = INITIAL_STREAM_LIMIT;
  /** No new streams go here: it received GOAWAY, failed, or belongs to a retired TLS generation. */
  retired = false;
  pingTimer: NodeJS.Timeout | undefined;
  pongTimer: NodeJS.Timeout | undefined;

  constructor(upstream: SessionOwner, session: ClientHttp2Session, keepAliveMs: number) {
    this.upstream = upstream;
    this.session = session;
    this.pingTimeoutMs = Math.min(MAX_PING_TIMEOUT_MS, keepAliveMs);
  }
}

type Tagged<T> = T & { [SESSION]?: Session };

/** Wraps a new connection: its events go to `upstream`, and it is PINGed every `keepAliveMs` (0: never). */
export function openSession(upstream: SessionOwner, h2: ClientHttp2Session, keepAliveMs: number): Session {
  const session = new Session(upstream, h2, keepAliveMs);
  (h2 as Tagged<ClientHttp2Session>)[SESSION] = session;
  h2.on('connect', onSessionConnect);
  h2.on('remoteSettings', onRemoteSettings);
  h2.on('goaway', onGoaway);
  h2.on('error', onSessionError);
  h2.on('close', onSessionClose);
  if (keepAliveMs > 0) {
    session.pingTimer = setInterval(ping, keepAliveMs, session);
    session.pingTimer.unref();
  }
  return session;
}

/** Counts a stream against its connection until it closes. */
export function trackStream(session: Session, stream: ClientHttp2Stream): void {
  (stream as Tagged<ClientHttp2Stream>)[SESSION] = session;
  stream.once('close', onStreamClose);
}

function onStreamClose(this: Tagged<ClientHttp2Stream>): void {
  const session = this[SESSION];
  if (session !== undefined) session.upstream.releaseStream(session);
}

function onSessionConnect(this: Tagged<ClientHttp2Session>): void {
  const session = this[SESSION];
  if (session === undefined) return;
  this.setLocalWindowSize(CONNECTION_WINDOW);
  session.upstream.sessionConnected(session);
}

function onRemoteSettings(this: Tagged<ClientHttp2Session>): void {
  const session = this[SESSION];
  const limit = this.remoteSettings.maxConcurrentStreams;
  if (session !== undefined && limit !== undefined) session.upstream.setStreamLimit(session, limit);
}

/** GOAWAY: new streams go to a new connection; Node lets the accepted ones finish here. */
function onGoaway(this: Tagged<ClientHttp2Session>, code: number, lastStreamId: number): void {
  const session = this[SESSION];
  if (session === undefined) return;
  session.upstream.retire(session);
  session.upstream.logSessionEnd(
    code === http2Constants.NGHTTP2_NO_ERROR ? 'debug' : 'warn',
    { goawayCode: code, lastStreamId, streams: session.active },
    'the API server closes an HTTP/2 connection (GOAWAY)',
  );
}

function onSessionError(this: Tagged<ClientHttp2Session>, error: NodeJS.ErrnoException): void {
  const session = this[SESSION];
  if (session === undefined) return;
  session.upstream.retire(session);
  session.upstream.logSessionEnd(
    'warn',
    { code: error.code, streams: session.active },
    'an HTTP/2 connection to the API server failed',
  );
}

function onSessionClose(this: Tagged<ClientHttp2Session>): void {
  const session = this[SESSION];
  if (session === undefined) return;
  clearInterval(session.pingTimer);
  clearTimeout(session.pongTimer);
  session.upstream.forget(session);
}

/**
 * Liveness, as client-go's ReadIdleTimeout and PingTimeout: a PING every --keepalive; without its
 * answer in time the connection is dead (a half-open connection carrying watches would otherwise
 * wait forever), so it is destroyed and its streams end.
 */
function ping(session: Session): void {
  const { session: h2 } = session;
  if (h2.destroyed || session.pongTimer !== undefined) return;
  if (!h2.connecting) {
    session.pongTimer = setTimeout(onPingTimeout, session.pingTimeoutMs, session);
    session.pongTimer.unref();
    // A closure per --keepalive per connection, not per request. An error means the session is
    // closing, which its own events handle.
    h2.ping(() => {
      clearTimeout(session.pongTimer);
      session.pongTimer = undefined;
    });
  }
}

function onPingTimeout(session: Session): void {
  session.pongTimer = undefined;
  const error: NodeJS.ErrnoException = new Error('the API server did not answer an HTTP/2 PING in time');
  error.code = 'ERR_HTTP2_PING_TIMEOUT';
  session.upstream.retire(session);
  session.session.destroy(error, http2Constants.NGHTTP2_CANCEL);
}
