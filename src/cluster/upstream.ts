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
import { connect as http2Connect, type ClientHttp2Stream } from 'node:http2';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { ClientRequest } from 'node:http';
import type { Logger } from 'pino';
import { openSession, STREAM_WINDOW, trackStream, type Session } from './http2-session.ts';

export { STREAM_WINDOW } from './http2-session.ts';

/** Idle connections kept for reuse; beyond this, a freed connection is closed. */
const MAX_IDLE_CONNECTIONS = 64;

export class Upstream {
  readonly server: URL;
  /** `host:port` as the API server expects it in the Host header. */
  readonly hostHeader: string;
  readonly #hostname: string;
  readonly #port: number;
  readonly #basePath: string;
  readonly #credentials: CredentialStore;
  readonly #keepAliveMs: number;
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
   * credentials, which are added to a copy: the caller's list is not changed, and can be sent again.
   * The caller ends or pipes the request.
   */
  request(method: string, pathAndQuery: string, headers: readonly string[]): ClientRequest {
    const { authorization, impersonateUser } = this.#credentials.current;
    const sent = [...headers, 'host', this.hostHeader];
    if (authorization !== undefined) sent.push('authorization', authorization);
    if (impersonateUser !== undefined) sent.push('impersonate-user', impersonateUser);
    return httpsRequest({
      agent: this.#agent,
      host: this.#hostname,
      port: this.#port,
      method,
      path: this.#basePath + pathAndQuery,
      headers: sent,
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
    const stream = session.session.request(h2Headers, { endStream });
    session.active++;
    if (session.active >= session.limit) this.#withdraw(session);
    trackStream(session, stream);
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
    const session = openSession(this, h2, this.#keepAliveMs);
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
    this.#open.delete(session);
  }

  logSessionEnd(level: 'debug' | 'warn', fields: Record<string, unknown>, message: string): void {
    this.#log?.[level](fields, message);
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
