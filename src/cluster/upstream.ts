/**
 * Requests to the API server: HTTPS verified against the current CA, over a keep-alive pool that
 * is replaced when the CA or client certificate changes (the old pool finishes its in-flight
 * requests, then closes). The pool has no socket limit, so long-running watches and streams never
 * make ordinary requests wait for a connection.
 */
import { Agent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { ClientRequest } from 'node:http';
import type { CredentialStore, TlsMaterial } from './credentials.ts';

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
  #agent: Agent;
  /** Epoch ms of the last answer of any kind from the API server; 0 before the first. */
  lastContactAt = 0;

  constructor(server: URL, credentials: CredentialStore, keepAliveMs: number) {
    this.server = server;
    this.hostHeader = server.host;
    this.#hostname = server.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = server.port === '' ? 443 : Number(server.port);
    this.#basePath = server.pathname.replace(/\/+$/, '');
    this.#credentials = credentials;
    this.#keepAliveMs = keepAliveMs;
    this.#agent = this.#createAgent(credentials.current.tls);
    credentials.onTlsChange((tls) => this.#replaceAgent(tls));
  }

  /**
   * Starts a request. `headers` is a flat `[name, value, …]` list without Host and credentials,
   * which are added here; the caller ends or pipes the request.
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

  /** The Authorization value `request` would send now, to tell after a 401 whether it changed. */
  get authorization(): string | undefined {
    return this.#credentials.current.authorization;
  }

  close(): void {
    this.#agent.destroy();
  }

  #createAgent(tls: TlsMaterial): Agent {
    return new Agent({
      keepAlive: true,
      keepAliveMsecs: this.#keepAliveMs,
      maxFreeSockets: MAX_IDLE_CONNECTIONS,
      scheduling: 'lifo',
      // One context for every connection: given only ca, cert and key, each new connection would build
      // (and parse the CA into) its own, native memory the garbage collector does not see.
      secureContext: createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key }),
      servername: tls.servername,
    });
  }

  #replaceAgent(tls: TlsMaterial): void {
    const retired = this.#agent;
    this.#agent = this.#createAgent(tls);
    // With keepAlive off, Node's agent closes each socket as its request finishes instead of
    // pooling it, so in-flight requests complete on the old CA and nothing is reused after.
    (retired as Agent & { keepAlive: boolean }).keepAlive = false;
    for (const sockets of Object.values(retired.freeSockets)) {
      for (const socket of sockets ?? []) socket.destroy();
    }
  }
}
