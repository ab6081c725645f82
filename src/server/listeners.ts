/**
 * The two listeners and their lifecycle: the proxy on loopback (or a Unix socket), serving only the
 * API; the probes listener on the pod IP, serving only /livez, /readyz and /metrics. Shutdown stops
 * accepting, ends watches and tunnels cleanly, and lets ordinary requests finish within a grace period.
 */
import { lstat, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { isProxiedUpgrade, type ProxyHandler } from '../proxy/handler.ts';
import type { InFlight } from '../proxy/in-flight.ts';
import type { Readiness } from './readiness.ts';

/** Kept above typical client idle timeouts, so clients, not the proxy, close idle connections. */
const CLIENT_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/**
 * Node's own limit on a whole request's arrival, headers and body (its default): the outer bound on
 * a body dripped just fast enough for --request-body-timeout. Node refuses a headers timeout above
 * it, so a longer --request-header-timeout raises it.
 */
const WHOLE_REQUEST_TIMEOUT_MS = 300_000;

export type ListenTarget = { readonly host: string; readonly port: number } | { readonly socketPath: string };

/** `headerTimeoutMs`: how long a client may take to send its request headers (slowloris defence). */
export function createProxyServer(handler: ProxyHandler, headerTimeoutMs: number): Server {
  const server = createServer(
    {
      shouldUpgradeCallback: isProxiedUpgrade,
      requireHostHeader: true,
      keepAliveTimeout: CLIENT_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: headerTimeoutMs,
      requestTimeout: Math.max(WHOLE_REQUEST_TIMEOUT_MS, headerTimeoutMs),
      // Node checks its timeouts only this often (30 s by default), which would stretch a short one.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, headerTimeoutMs / 4)),
    },
    handler.handleRequest,
  );
  server.on('upgrade', handler.handleUpgrade);
  server.on('connect', handler.handleConnect);
  server.on('clientError', handler.handleClientError);
  return server;
}

export function createAdminServer(readiness: Readiness, registry: Registry | undefined, log: Logger): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics' && registry !== undefined) {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => {
          log.error({ err: error }, 'cannot collect metrics');
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    if (path === '/readyz') {
      readiness.report().then(
        (report) => {
          const lines = report.checks.map(
            (check) => `[${check.ok ? '+' : '-'}]${check.name} ${check.ok ? 'ok' : 'failed'}: ${check.detail}`,
          );
          lines.push(report.ready ? 'readyz check passed' : 'readyz check failed');
          res
            .writeHead(report.ready ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
            .end(lines.join('\n') + '\n');
        },
        (error: unknown) => {
          log.error({ err: error }, 'readiness check failed unexpectedly');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      .end('not found: this listener serves /livez, /readyz and /metrics\n');
  });
}

/** One of the two listeners, as start-up errors name it, with the flags that place it. */
export interface ListenerRole {
  readonly name: string;
  readonly flags: string;
}

/**
 * The one line that says why a listener could not start: which one, where, the flags that move
 * it and what the system said, e.g. `cannot listen for the proxy on 127.0.0.1:8001 (--address,
 * --port): the address is in use, by another process or another ambassador`.
 */
export function describeListenFailure(role: ListenerRole, target: ListenTarget, error: NodeJS.ErrnoException): string {
  const where =
    'socketPath' in target
      ? target.socketPath
      : `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  return `cannot listen for ${role.name} on ${where} (${role.flags}): ${LISTEN_ERRORS.get(error.code ?? '') ?? error.message}`;
}

const LISTEN_ERRORS: ReadonlyMap<string, string> = new Map([
  ['EADDRINUSE', 'the address is in use, by another process or another ambassador'],
  ['EACCES', 'permission denied (ports below 1024 need privileges; a socket needs a writable folder)'],
  ['EADDRNOTAVAIL', 'no network interface of this machine has that address'],
  ['ENOENT', 'the folder does not exist'],
]);

/** Listens; a Unix socket replaces a stale one and is created owner-only, as kubectl proxy does. */
export async function listen(server: Server, target: ListenTarget): Promise<string> {
  if ('socketPath' in target) {
    await removeStaleSocket(target.socketPath);
    const previousUmask = process.umask(0o077);
    try {
      await listenOnce(server, target.socketPath);
    } finally {
      process.umask(previousUmask);
    }
    return target.socketPath;
  }
  await listenOnce(server, target.port, target.host);
  const address = server.address() as AddressInfo;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

function listenOnce(server: Server, portOrPath: number | string, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (typeof portOrPath === 'string') server.listen(portOrPath, done);
    else server.listen(portOrPath, host, done);
  });
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Stops accepting, ends long-running responses and tunnels, waits for ordinary requests up to
 * `graceMs`, then closes whatever is left. Resolves with the number of requests cut short.
 */
export async function drain(proxy: Server, admin: Server, inFlight: InFlight, graceMs: number): Promise<number> {
  inFlight.draining = true;
  const closed = new Promise<void>((resolve) => proxy.close(() => resolve()));
  proxy.closeIdleConnections();
  inFlight.endLongRunning();
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  await Promise.race([inFlight.whenOrdinaryDone(), graceOver]);
  clearTimeout(timer);
  const cut = inFlight.ordinaryCount;
  proxy.closeAllConnections();
  admin.closeAllConnections();
  await Promise.all([closed, new Promise<void>((resolve) => admin.close(() => resolve()))]);
  return cut;
}
