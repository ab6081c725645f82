/**
 * Requests to the API server: HTTPS verified against the current CA. Ordinary requests and watches
 * go as streams over HTTP/2 connections when the API server speaks it (ALPN), as client-go does:
 * a thousand watches then share one connection instead of opening a thousand. Upgrades (exec,
 * attach, port-forward) and servers without HTTP/2 use a keep-alive HTTP/1.1 pool.
 * Both are replaced when the CA or client certificate changes: the old ones finish their in-flight
 * requests, then close. The HTTP/1.1 pool has no socket limit, so long-running watches and streams
 * never make ordinary requests wait for a connection.
 */
import type { UpstreamProtocol } from '../config/kinds.ts';
import type { CredentialStore, TlsMaterial } from './credentials.ts';
import { Agent, request as httpsRequest } from 'node:https';
import {
  connect as http2Connect,
  constants as http2Constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
} from 'node:http2';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { ClientRequest } from 'node:http';
import type { Logger } from 'pino';

/** Idle connections kept for reuse; beyond this, a freed connection is closed. */
const MAX_IDLE_CONNECTIONS = 64;

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
class Session {
  readonly upstream: Upstream;
  readonly session: ClientHttp2Session;
  active = 0;
  limit = INITIAL_STREAM_LIMIT;
  /** No new streams go here: it received GOAWAY, failed, or belongs to a retired TLS generation. */
  retired = false;
  pingTimer: NodeJS.Timeout | undefined;
  pongTimer: NodeJS.Timeout | undefined;

  constructor(upstream: Upstream, session: ClientHttp2Session) {
    this.upstream = upstream;
    this.session = session;
  }
}

type Tagged<T> = T & { [SESSION]?: Session };

export class Upstream {
  readonly server: URL;
  /** `host:port` as the API server expects it in the Host header. */
  readonly hostHeader: string;
  readonly #hostname: string;
  readonly #port: number;
  readonly #basePath: string;
  readonly #credentials: CredentialStore;
  readonly #keepAliveMs: number;
  readonly #pingTimeoutMs: number;
  readonly #protocol: UpstreamProtocol;
  readonly #log: Logger | undefined;
  #agent: Agent;
  #secureContext: SecureContext;
  #servername: string | undefined;
  /** What ALPN selected: 'h2', 'http/1.1', or undefined before the first handshake (auto only). */
  #negotiated: string | undefined;
  /** The ALPN probe's connection while it handshakes. */
  #probe: TLSSocket | undefined;
  /** HTTP/2 connections of the current TLS generation that take new streams. */
  #sessions: Session[] = [];
  /** Every HTTP/2 connection still open, retired ones included, for close(). */
  readonly #open = new Set<Session>();
  /** Epoch ms of the last answer of any kind from the API server; 0 before the first. */
  lastContactAt = 0;

  constructor(
    server: URL,
    credentials: CredentialStore,
    keepAliveMs: number,
    protocol: UpstreamProtocol = 'auto',
    log?: Logger,
  ) {
    this.server = server;
    this.hostHeader = server.host;
    this.#hostname = server.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = server.port === '' ? 443 : Number(server.port);
    this.#basePath = server.pathname.replace(/\/+$/, '');
    this.#credentials = credentials;
    this.#keepAliveMs = keepAliveMs;
    this.#pingTimeoutMs = Math.min(MAX_PING_TIMEOUT_MS, keepAliveMs);
    this.#protocol = protocol;
    this.#log = log;
    this.#negotiated = protocol === 'http2' ? 'h2' : protocol === 'http1.1' ? 'http/1.1' : undefined;
    const tls = credentials.current.tls;
    this.#secureContext = secureContextOf(tls);
    this.#servername = tls.servername;
    this.#agent = this.#createAgent();
    credentials.onTlsChange((material) => this.#replaceTls(material));
    // Probed at once, so requests arriving at start-up (a thousand watches, say) find HTTP/2 known
    // rather than each taking an HTTP/1.1 connection while the protocol is unknown.
    if (this.#negotiated === undefined) this.#startProbe();
  }

  /**
   * Starts an HTTP/1.1 request. `headers` is a flat `[name, value, …]` list without Host and
   * credentials, which are added here; the caller ends or pipes the request.
   */
  request(method: string, pathAndQuery: string, headers: string[]): ClientRequest {
    const { authorization, impersonateUser } = this.#credentials.current;
    headers.push('host', this.hostHeader);
    if (authorization !== undefined) headers.push('authorization', authorization);
    if (impersonateUser !== undefined) headers.push('impersonate-user', impersonateUser);
    return httpsRequest({
      agent: this.#agent,
      host: this.#hostname,
      port: this.#port,
      method,
      path: this.#basePath + pathAndQuery,
      headers,
    });
  }

  /**
   * Starts an HTTP/2 stream for an ordinary request or watch, or returns undefined when HTTP/1.1
   * is to be used (`request`): the API server does not speak HTTP/2, or (auto) it is not known yet.
   * `headers` is as for `request` and is not changed; `endStream` when the request has no body.
   */
  stream(
    method: string,
    pathAndQuery: string,
    headers: readonly string[],
    endStream: boolean,
  ): ClientHttp2Stream | undefined {
    if (this.#negotiated !== 'h2') {
      if (this.#negotiated === undefined) this.#startProbe();
      return undefined;
    }
    const session = this.#sessionWithRoom();
    const { authorization, impersonateUser } = this.#credentials.current;
    const h2Headers = [
      ':method',
      method,
      ':scheme',
      'https',
      ':authority',
      this.hostHeader,
      ':path',
      this.#basePath + pathAndQuery,
    ];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] ?? '';
      // HTTP/2 frames bodies itself (RFC 9113 §8.2.2): no Transfer-Encoding, Host becomes :authority.
      if (name !== 'transfer-encoding' && name !== 'host' && name !== 'connection' && name !== 'upgrade') {
        h2Headers.push(name, headers[i + 1] ?? '');
      }
    }
    if (authorization !== undefined) h2Headers.push('authorization', authorization);
    if (impersonateUser !== undefined) h2Headers.push('impersonate-user', impersonateUser);
    const stream: Tagged<ClientHttp2Stream> = session.session.request(h2Headers, { endStream });
    session.active++;
    if (session.active >= session.limit) this.#withdraw(session);
    stream[SESSION] = session;
    stream.once('close', onStreamClose);
    return stream;
  }

  /** The Authorization value `request` would send now, to tell after a 401 whether it changed. */
  get authorization(): string | undefined {
    return this.#credentials.current.authorization;
  }

  /** HTTP/2 connections open now (retired ones finishing their streams included). */
  get http2Connections(): number {
    return this.#open.size;
  }

  close(): void {
    this.#probe?.destroy();
    this.#agent.destroy();
    for (const session of this.#open) session.session.destroy();
  }

  #sessionWithRoom(): Session {
    for (const session of this.#sessions) {
      if (!session.session.closed && !session.session.destroyed) return session;
    }
    return this.#connect(undefined);
  }

  /** Opens an HTTP/2 connection; `socket` is one already handshaken by the ALPN probe. */
  #connect(socket: TLSSocket | undefined): Session {
    const tlsSocket =
      socket ??
      tlsConnect({
        host: this.#hostname,
        port: this.#port,
        secureContext: this.#secureContext,
        ...(this.#servername === undefined ? {} : { servername: this.#servername }),
        ALPNProtocols: ['h2', 'http/1.1'],
      });
    tlsSocket.setKeepAlive(true, this.#keepAliveMs);
    tlsSocket.setNoDelay(true);
    const h2 = http2Connect(this.server.origin, {
      createConnection: () => tlsSocket,
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    const session = new Session(this, h2);
    (h2 as Tagged<ClientHttp2Session>)[SESSION] = session;
    h2.on('connect', onSessionConnect);
    h2.on('remoteSettings', onRemoteSettings);
    h2.on('goaway', onGoaway);
    h2.on('error', onSessionError);
    h2.on('close', onSessionClose);
    if (this.#keepAliveMs > 0) {
      session.pingTimer = setInterval(ping, this.#keepAliveMs, session);
      session.pingTimer.unref();
    }
    this.#sessions.push(session);
    this.#open.add(session);
    return session;
  }

  /** auto: one TLS handshake offering h2 and http/1.1; if h2 is selected, that connection is kept. */
  #startProbe(): void {
    if (this.#probe !== undefined) return;
    const socket = tlsConnect({
      host: this.#hostname,
      port: this.#port,
      secureContext: this.#secureContext,
      ...(this.#servername === undefined ? {} : { servername: this.#servername }),
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    const settle = (protocol: string | undefined): void => {
      socket.off('error', onError);
      this.#probe = undefined;
      if (protocol === undefined) return; // unreachable: asked again on a later request
      this.#settleProtocol(protocol);
      if (protocol === 'h2') this.#connect(socket);
      else socket.end();
    };
    const onError = (): void => {
      socket.destroy();
      settle(undefined);
    };
    socket.once('secureConnect', () => settle(socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1'));
    socket.once('error', onError);
    this.#probe = socket;
  }

  #settleProtocol(protocol: string): void {
    if (this.#negotiated === protocol) return;
    this.#negotiated = protocol;
    if (protocol === 'h2') this.#log?.info('the API server speaks HTTP/2: requests and watches share its connections');
    else this.#log?.info('the API server does not offer HTTP/2 (ALPN): using HTTP/1.1 connections');
  }

  /** No new streams go to this connection. */
  #withdraw(session: Session): void {
    const index = this.#sessions.indexOf(session);
    if (index !== -1) this.#sessions.splice(index, 1);
  }

  /** Called when a stream closes: a full connection takes streams again. */
  releaseStream(session: Session): void {
    session.active--;
    if (session.retired) {
      if (session.active === 0 && !session.session.closed) session.session.close();
    } else if (session.active === session.limit - 1 && !this.#sessions.includes(session)) {
      this.#sessions.push(session);
    }
  }

  sessionConnected(session: Session): void {
    const protocol = session.session.alpnProtocol;
    if (protocol === 'h2' || this.#protocol === 'http2') return;
    // The server stopped offering HTTP/2: later requests use HTTP/1.1; these fail once.
    this.#settleProtocol('http/1.1');
    this.retire(session);
    session.session.destroy();
  }

  setStreamLimit(session: Session, limit: number): void {
    const full = session.active >= session.limit;
    session.limit = Math.max(1, limit);
    if (session.retired) return;
    if (session.active >= session.limit) this.#withdraw(session);
    else if (full) this.#sessions.push(session);
  }

  /** New streams go to a new connection; this one's streams finish where they are. */
  retire(session: Session): void {
    session.retired = true;
    this.#withdraw(session);
  }

  forget(session: Session): void {
    this.retire(session);
    clearInterval(session.pingTimer);
    clearTimeout(session.pongTimer);
    this.#open.delete(session);
  }

  logSessionEnd(level: 'debug' | 'warn', fields: Record<string, unknown>, message: string): void {
    this.#log?.[level](fields, message);
  }

  get pingTimeoutMs(): number {
    return this.#pingTimeoutMs;
  }

  #createAgent(): Agent {
    return new Agent({
      keepAlive: true,
      keepAliveMsecs: this.#keepAliveMs,
      maxFreeSockets: MAX_IDLE_CONNECTIONS,
      scheduling: 'lifo',
      secureContext: this.#secureContext,
      servername: this.#servername,
    });
  }

  #replaceTls(tls: TlsMaterial): void {
    this.#secureContext = secureContextOf(tls);
    this.#servername = tls.servername;
    const retired = this.#agent;
    this.#agent = this.#createAgent();
    // With keepAlive off, Node's agent closes each socket as its request finishes instead of
    // pooling it, so in-flight requests complete on the old CA and nothing is reused after.
    (retired as Agent & { keepAlive: boolean }).keepAlive = false;
    for (const sockets of Object.values(retired.freeSockets)) {
      for (const socket of sockets ?? []) socket.destroy();
    }
    // HTTP/2 connections of the old generation take no new streams and close once idle.
    for (const session of [...this.#sessions]) {
      this.retire(session);
      if (session.active === 0) session.session.close();
    }
  }
}

/**
 * One context for every connection: given only ca, cert and key, each new connection would build
 * (and parse the CA into) its own, native memory the garbage collector does not see.
 */
function secureContextOf(tls: TlsMaterial): SecureContext {
  return createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
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
  if (session !== undefined) session.upstream.forget(session);
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
    session.pongTimer = setTimeout(onPingTimeout, session.upstream.pingTimeoutMs, session);
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
