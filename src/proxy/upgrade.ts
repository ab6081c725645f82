/**
 * exec, attach and port-forward over WebSocket (GET) or SPDY/3.1 (POST, kubectl's fallback). The
 * request goes up as an upgrade; only a 101 from the API server joins the two sockets. Any other
 * answer is relayed and the connection closed, never spliced (the CVE-2018-1002105 class of bug).
 * A `Tunnel` moves through the phases of `phases.ts` (awaiting → joined → done), one method per
 * event, and is recorded in one place, as it reaches `done`.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { UpstreamCall, type CallOwner } from '../cluster/upstream-call.ts';
import { CLIENT_CLOSED_REQUEST, type CompletedRequest } from '../request/record.ts';
import { AdmittedRequest, type Admitted, type ForwardDeps } from './admitted.ts';
import { requestDeadlines, type Expiring } from './deadlines.ts';
import { clientResponseHeaders, rawResponseHead } from './headers.ts';
import { nextTunnelPhase, type TunnelEvent, type TunnelPhase } from './phases.ts';
import {
  badRequest,
  gatewayTimeout,
  internalError,
  upstreamFailure,
  writeStatusToSocket,
  ProxyStatus,
} from './status.ts';

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

const TUNNEL = Symbol('kube-api-ambassador.tunnel');
type Tagged<T> = T & { [TUNNEL]?: Tunnel };

/** One upgrade: the client's connection, its upstream call, and what the recorder reads once it is done. */
export class Tunnel extends AdmittedRequest implements CompletedRequest, CallOwner, Expiring {
  readonly client: Duplex;
  /** Bytes the client sent after its request head, for the API server once joined. */
  readonly head: Buffer;
  readonly contentType = undefined;
  readonly call: UpstreamCall;
  phase: TunnelPhase = 'awaiting';
  statusCode = CLIENT_CLOSED_REQUEST;
  /** The API server's socket once joined. */
  upstreamSocket: Socket | undefined;
  /** A refusal's body, gathered to be relayed whole. */
  refusalChunks: Buffer[] = [];
  refusalBytes = 0;

  constructor(deps: ForwardDeps, admitted: Admitted, client: Duplex, head: Buffer) {
    super(deps, admitted);
    this.client = client;
    this.head = head;
    const { upstream, credentials } = deps;
    this.call = new UpstreamCall(
      upstream,
      credentials,
      this,
      admitted.arrival.method,
      admitted.pathAndQuery,
      admitted.headers,
      undefined,
      true,
    );
  }

  #enter(event: TunnelEvent): boolean {
    const next = nextTunnelPhase(this.phase, event);
    if (next === undefined) return false;
    this.phase = next;
    requestDeadlines.unwatch(this);
    if (next === 'done') this.deps.recorder.requestCompleted(this);
    return true;
  }

  /**
   * Sends the upgrade up. The client is read while the 101 is awaited, or a client that closes its
   * side (FIN) would go unnoticed; bytes it sends this early are put back for the tunnel.
   */
  start(): void {
    const { client } = this;
    (client as Tagged<Duplex>)[TUNNEL] = this;
    // Long-running from its arrival, as the API server counts it, so a shutdown also ends one still waiting for its 101.
    this.deps.inFlight.addTunnel(client, this.attributes.subresource);
    client.on('data', holdEarlyBytes);
    client.once('end', onClientGone);
    client.on('close', onClientGone);
    client.on('error', onClientGone);
    requestDeadlines.watch(this, this.deps.upstreamTimeoutMs);
    this.call.send();
  }

  /** Stops waiting: the client is no longer read for early bytes, and its end no longer abandons the upgrade. */
  #stopAwaiting(statusCode: number): void {
    this.statusCode = statusCode;
    this.client.off('data', holdEarlyBytes);
    // A joined client's FIN half-closes the tunnel through the pipe; it no longer ends the session.
    this.client.off('end', onClientGone);
    if (statusCode !== 101) {
      this.deps.inFlight.deleteTunnel(this.client);
      this.client.resume(); // what it sends after the answer is dropped, and its leaving is seen
    }
  }

  onUpgrade(response: IncomingMessage, socket: Socket, tunnelHead: Buffer): void {
    if (!this.#enter('upgraded')) {
      socket.destroy();
      return;
    }
    this.#stopAwaiting(101);
    const { client } = this;
    this.upstreamSocket = socket;
    (socket as Tagged<Socket>)[TUNNEL] = this;
    socket.on('error', onTunnelClose);
    socket.on('close', onTunnelClose);
    if (client.destroyed) {
      this.closed();
      return;
    }
    this.deps.recorder.firstByte(this);
    // The 101's own headers (Upgrade, Connection, Sec-WebSocket-*, X-Stream-Protocol-Version) pass as they are.
    client.write(rawResponseHead(101, response.statusMessage ?? 'Switching Protocols', response.rawHeaders));
    if (tunnelHead.length > 0) client.write(tunnelHead);
    if (this.head.length > 0) socket.write(this.head);
    socket.setNoDelay(true);
    client.pipe(socket);
    socket.pipe(client);
  }

  /** Any answer but a 101 is relayed whole, then both connections close. */
  onResponse(call: UpstreamCall): void {
    if (call.body === undefined || !this.#refuse(call.statusCode)) return;
    (call.body as Tagged<Readable>)[TUNNEL] = this;
    call.body.on('data', gatherRefusal);
    call.body.on('end', relayRefusal);
  }

  onSent(): void {
    // The upstream timeout runs from the arrival: it bounds the whole wait for the 101.
  }

  /** The upgrade failed before its answer; or a refusal's body, or the joined socket, broke off. */
  onError(error: NodeJS.ErrnoException): void {
    if (this.phase !== 'awaiting') {
      this.client.destroy();
      return;
    }
    const { cause, status } = upstreamFailure(error, this.deps.upstream.hostHeader);
    this.deps.recorder.upstreamError(cause);
    this.deps.log.warn({ code: error.code, status: status.code, path: this.call.pathAndQuery }, status.message);
    this.#answer(status);
  }

  onFailure(error: unknown): void {
    this.deps.log.error({ err: error }, 'unexpected error handling an upgrade');
    if (this.phase !== 'awaiting') return;
    this.panicked = true;
    this.#answer(internalError('the ambassador failed to handle the upgrade; see its log'));
  }

  expire(): void {
    if (this.phase !== 'awaiting') return;
    this.deps.recorder.upstreamError('timeout');
    const seconds = this.deps.upstreamTimeoutMs / 1000;
    this.#answer(gatewayTimeout(`the API server did not answer the upgrade within ${seconds}s`));
  }

  /** The ambassador answers with a Status instead of the API server, which is asked no more. */
  #answer(status: ProxyStatus): void {
    if (this.phase !== 'awaiting') return;
    this.reason = status.message;
    this.#refuse(status.code);
    writeStatusToSocket(this.client, status);
    this.call.cancel();
  }

  /** The client left before the answer. */
  clientGone(): void {
    if (this.phase === 'joined') {
      this.closed();
      return;
    }
    if (!this.#refuse(CLIENT_CLOSED_REQUEST)) return;
    this.call.cancel();
    this.client.destroy();
  }

  #refuse(statusCode: number): boolean {
    if (this.phase !== 'awaiting') return false;
    this.#stopAwaiting(statusCode);
    return this.#enter('refused');
  }

  /** Either side of a joined tunnel ended: both close, and the session is recorded with its bytes. */
  closed(): void {
    const socket = this.upstreamSocket;
    if (socket === undefined || this.phase !== 'joined') return;
    this.deps.inFlight.deleteTunnel(this.client);
    this.client.destroy();
    socket.destroy();
    this.bytesFromClient = socket.bytesWritten;
    this.bytesToClient = socket.bytesRead;
    this.#enter('closed');
  }
}

/** Early bytes go back to the client stream for the tunnel, and reading stops: nothing more is buffered. */
function holdEarlyBytes(this: Tagged<Duplex>, chunk: Buffer): void {
  this.off('data', holdEarlyBytes);
  this.pause();
  this.unshift(chunk);
}

function onClientGone(this: Tagged<Duplex>): void {
  this[TUNNEL]?.clientGone();
}

function onTunnelClose(this: Tagged<Socket>): void {
  this[TUNNEL]?.closed();
}

/** A refused upgrade's body is a small Status; anything larger is not worth relaying. */
function gatherRefusal(this: Tagged<Readable>, chunk: Buffer): void {
  const tunnel = this[TUNNEL];
  if (tunnel === undefined) return;
  tunnel.refusalBytes += chunk.length;
  if (tunnel.refusalBytes > MAX_REFUSAL_BODY_BYTES) {
    this[TUNNEL] = undefined;
    tunnel.call.cancel();
    tunnel.client.destroy();
    return;
  }
  tunnel.refusalChunks.push(chunk);
}

/** Writes the API server's non-101 answer to the client, then closes both connections. */
function relayRefusal(this: Tagged<Readable>): void {
  const tunnel = this[TUNNEL];
  if (tunnel === undefined) return;
  const { call } = tunnel;
  const body = Buffer.concat(tunnel.refusalChunks);
  const headers = clientResponseHeaders(call.rawHeaders, 'content-length');
  headers.push('content-length', String(body.length), 'connection', 'close');
  const head = rawResponseHead(call.statusCode, call.statusMessage ?? '', headers);
  tunnel.client.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  tunnel.call.cancel();
}
