/**
 * What a test scripts the fake API server to do instead of answering: a canned answer, a hang, a
 * stall, a reset before or in the middle of the body, or an answer the test writes itself; for
 * ordinary requests and for upgrades, whose socket no longer belongs to the HTTP server.
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2Constants, type Http2ServerRequest } from 'node:http2';
import type { Duplex } from 'node:stream';
import { type StatusFailure, statusJson } from './api-status.ts';

export type ScriptedBehaviour =
  | { status: number; body?: string | Buffer; headers?: Record<string, string> }
  /** Read the request and never answer; the connection stays open until the client goes away. */
  | 'hang'
  /**
   * Read neither the body nor anything after it, and never answer: an upload stalls against the
   * server's flow control. Chosen before authentication; the request is not recorded, never arriving whole.
   */
  | 'stall-body'
  /** Destroy the socket without answering. */
  | 'reset'
  /** Send 200 headers and part of a body, then destroy the socket. */
  | 'reset-mid-body'
  /** The test answers an ordinary request itself (a slow answer, an endless body); upgrades then get a 500. */
  | { respond: (request: IncomingMessage, response: ServerResponse) => void };

/** Prefix of the body that 'reset-mid-body' sends before cutting the connection. */
const PARTIAL_BODY = '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":';

export function answerScripted(req: IncomingMessage, res: ServerResponse, behaviour: ScriptedBehaviour): void {
  if (behaviour === 'hang' || behaviour === 'stall-body') return;
  if (typeof behaviour === 'object' && 'respond' in behaviour) {
    behaviour.respond(req, res);
  } else if (behaviour === 'reset') {
    cut(req);
  } else if (behaviour === 'reset-mid-body') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(PARTIAL_BODY, () => cut(req));
  } else {
    res.setHeader('content-type', 'application/json');
    for (const [name, value] of Object.entries(behaviour.headers ?? {})) res.setHeader(name, value);
    res.writeHead(behaviour.status);
    res.end(behaviour.body ?? '');
  }
}

/**
 * Cuts the request off: its connection over HTTP/1.1; over HTTP/2 its stream, reset with
 * INTERNAL_ERROR as Go's server (kube-apiserver) does for an aborted handler. (Node's compatibility
 * socket.destroy() would reset it with NO_ERROR, which a client reads as a complete response.)
 */
function cut(req: IncomingMessage): void {
  if (req.httpVersion === '2.0')
    (req as unknown as Http2ServerRequest).stream.close(http2Constants.NGHTTP2_INTERNAL_ERROR);
  else req.socket.destroy();
}

/** The same behaviours for an upgrade request, whose socket no longer belongs to the HTTP server. */
export function answerScriptedUpgrade(socket: Duplex, behaviour: ScriptedBehaviour): void {
  if (behaviour === 'hang' || behaviour === 'stall-body') return;
  if (typeof behaviour === 'object' && 'respond' in behaviour) {
    answerUpgradeFailure(socket, {
      code: 500,
      reason: 'InternalError',
      message: 'a respond script cannot answer an upgrade',
    });
  } else if (behaviour === 'reset') {
    socket.destroy();
  } else if (behaviour === 'reset-mid-body') {
    const chunk = `${PARTIAL_BODY.length.toString(16)}\r\n${PARTIAL_BODY}\r\n`;
    const head = rawResponseHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    socket.write(head + chunk, () => socket.destroy());
  } else {
    const body = behaviour.body ?? '';
    const headers = {
      'content-type': 'application/json',
      ...lowercaseKeys(behaviour.headers ?? {}),
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    };
    socket.write(rawResponseHead(behaviour.status, headers));
    socket.end(body);
  }
}

export function answerUpgradeFailure(socket: Duplex, failure: StatusFailure): void {
  answerScriptedUpgrade(socket, { status: failure.code, body: statusJson(failure) });
}

function lowercaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function rawResponseHead(code: number, headers: Record<string, string>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}\r\n${lines.join('')}\r\n`;
}
