/**
 * exec, attach and port-forward over WebSocket (GET) or SPDY/3.1 (POST, kubectl's fallback). The
 * request goes up as an upgrade; only a 101 from the API server joins the two sockets. Any other
 * answer is relayed and the connection closed, never spliced (the CVE-2018-1002105 class of bug).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CLIENT_CLOSED_REQUEST, type Arrival, type AuditVerdict, type CompletedRequest } from '../request/record.ts';
import type { Admitted, ForwardDeps } from './forward.ts';
import { clientResponseHeaders, rawResponseHead } from './headers.ts';
import { badRequest, gatewayTimeout, upstreamFailure, writeStatusToSocket, type ProxyStatus } from './status.ts';

/** A refused upgrade's body is a small Status; anything larger is not worth relaying. */
const MAX_REFUSAL_BODY_BYTES = 1024 * 1024;

/**
 * The upgrade protocol to ask the API server for, or the Status refusing the request: WebSocket
 * must be a GET (RFC 6455 §4.1), SPDY a POST or GET as client-go sends it.
 */
export function upgradeProtocol(method: string, upgradeHeader: string | undefined): string | ProxyStatus {
  const protocol = (upgradeHeader ?? '').trim().toLowerCase();
  if (protocol === 'websocket') {
    return method === 'GET' ? 'websocket' : badRequest('a WebSocket upgrade must use GET');
  }
  if (protocol === 'spdy/3.1') {
    return method === 'POST' || method === 'GET' ? 'SPDY/3.1' : badRequest('a SPDY upgrade must use POST');
  }
  return badRequest(`the upgrade ${JSON.stringify(upgradeHeader ?? '')} is not supported: only websocket and SPDY/3.1`);
}

/** Per upgrade, what the recorder reads when the session or refusal ends. */
interface UpgradeOutcome extends CompletedRequest {
  statusCode: number;
  reason: string | undefined;
  bytesFromClient: number;
  bytesToClient: number;
}

export function forwardUpgrade(
  deps: ForwardDeps,
  client: Duplex,
  head: Buffer,
  admitted: Admitted,
  arrival: Arrival,
  audit: AuditVerdict,
): void {
  const { upstream } = deps;
  const sentAuthorization = upstream.authorization;
  const sentMark = deps.credentials.reloadMark;
  const request = upstream.request(arrival.method, admitted.pathAndQuery, admitted.headers);
  const outcome: UpgradeOutcome = {
    arrival,
    attributes: admitted.attributes,
    query: admitted.query,
    dryRun: admitted.dryRun,
    contentType: undefined,
    statusCode: CLIENT_CLOSED_REQUEST,
    decision: admitted.decision,
    reason: admitted.reason,
    bytesFromClient: 0,
    bytesToClient: 0,
    audit,
  };
  // Long-running from its arrival, as the API server counts it, so a shutdown also ends one still waiting for its 101.
  deps.inFlight.addTunnel(client, admitted.attributes.subresource);
  let answered = false;
  const answer = (statusCode: number): void => {
    answered = true;
    clearTimeout(timer);
    outcome.statusCode = statusCode;
    client.off('data', holdEarlyBytes);
    client.off('end', abandon);
    if (statusCode === 101) {
      client.pause(); // until join pipes it into the tunnel
    } else {
      deps.inFlight.deleteTunnel(client);
      client.resume(); // what it sends after the answer is dropped, and its leaving is seen
    }
  };
  const timer = setTimeout(() => {
    answer(504);
    deps.recorder.upstreamError('timeout');
    const status = gatewayTimeout(`the API server did not answer the upgrade within ${deps.upstreamTimeoutMs / 1000}s`);
    outcome.reason = status.message;
    writeStatusToSocket(client, status);
    request.destroy();
    deps.recorder.requestCompleted(outcome);
  }, deps.upstreamTimeoutMs);
  const abandon = (): void => {
    if (answered) return;
    answer(CLIENT_CLOSED_REQUEST);
    request.destroy();
    client.destroy();
    deps.recorder.requestCompleted(outcome);
  };
  // The client is read while the 101 is awaited, or a client that closes its side (FIN) would go unnoticed.
  // Bytes it sends this early are put back for the tunnel, and reading stops: nothing more is buffered.
  const holdEarlyBytes = (chunk: Buffer): void => {
    client.off('data', holdEarlyBytes);
    client.pause();
    client.unshift(chunk);
  };
  client.on('data', holdEarlyBytes);
  client.once('end', abandon);
  client.once('close', abandon);
  client.on('error', abandon);

  request.on('upgrade', (response: IncomingMessage, tunnel: Socket, tunnelHead: Buffer) => {
    answer(101);
    client.off('close', abandon);
    upstream.lastContactAt = Date.now();
    if (client.destroyed) {
      deps.inFlight.deleteTunnel(client);
      tunnel.destroy();
      deps.recorder.requestCompleted(outcome);
      return;
    }
    deps.recorder.firstByte(outcome);
    // The 101's own headers (Upgrade, Connection, Sec-WebSocket-*, X-Stream-Protocol-Version) pass as they are.
    client.write(rawResponseHead(101, response.statusMessage ?? 'Switching Protocols', response.rawHeaders));
    if (tunnelHead.length > 0) client.write(tunnelHead);
    if (head.length > 0) tunnel.write(head);
    join(deps, client, tunnel, outcome);
  });

  request.on('response', (response: IncomingMessage) => {
    answer(response.statusCode ?? 502);
    upstream.lastContactAt = Date.now();
    if (response.statusCode === 401) void deps.credentials.refreshAfterUnauthorized(sentAuthorization, sentMark);
    relayRefusal(client, response);
    deps.recorder.requestCompleted(outcome);
  });

  request.on('error', (error: NodeJS.ErrnoException) => {
    if (answered) return;
    const { cause, status } = upstreamFailure(error, upstream.hostHeader);
    answer(status.code);
    outcome.reason = status.message;
    deps.recorder.upstreamError(cause);
    deps.log.warn({ code: error.code, status: status.code, path: admitted.pathAndQuery }, status.message);
    writeStatusToSocket(client, status);
    deps.recorder.requestCompleted(outcome);
  });

  request.end();
}

/** Joins the two connections until either ends; the session is then recorded with its bytes. */
function join(deps: ForwardDeps, client: Duplex, tunnel: Socket, outcome: UpgradeOutcome): void {
  tunnel.setNoDelay(true);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    deps.inFlight.deleteTunnel(client);
    client.destroy();
    tunnel.destroy();
    outcome.bytesFromClient = tunnel.bytesWritten;
    outcome.bytesToClient = tunnel.bytesRead;
    deps.recorder.requestCompleted(outcome);
  };
  client.on('error', close);
  tunnel.on('error', close);
  client.on('close', close);
  tunnel.on('close', close);
  client.pipe(tunnel);
  tunnel.pipe(client);
}

/** Writes the API server's non-101 answer to the client, then closes both connections. */
function relayRefusal(client: Duplex, response: IncomingMessage): void {
  const chunks: Buffer[] = [];
  let size = 0;
  response.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_REFUSAL_BODY_BYTES) {
      response.destroy();
      client.destroy();
      return;
    }
    chunks.push(chunk);
  });
  response.on('error', () => client.destroy());
  response.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers = clientResponseHeaders(response.rawHeaders, 'content-length');
    headers.push('content-length', String(body.length), 'connection', 'close');
    const head = rawResponseHead(response.statusCode ?? 502, response.statusMessage ?? '', headers);
    client.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    response.socket.destroy();
  });
}
