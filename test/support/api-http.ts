/**
 * The fake API server's HTTP plumbing: routes matched on decoded path segments, bodies read whole,
 * JSON and byte answers, chunked streams for watches and log follows, and the bearer token and
 * client certificate it authenticates with.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { badRequest, type StatusFailure, statusJson } from './api-status.ts';

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  query: URLSearchParams;
}

/** Path parameters of a route; '' when the route has none (an empty namespace means all namespaces). */
export interface Target {
  namespace: string;
  name: string;
}

export interface Route {
  method: string;
  pattern: string[];
  handle: (exchange: Exchange, target: Target) => void;
}

export function route(method: string, path: string, handle: Route['handle']): Route {
  return { method, pattern: path.split('/').filter(Boolean), handle };
}

export function matchRoute(pattern: string[], segments: string[]): Target | undefined {
  if (pattern.length !== segments.length) return undefined;
  const target: Target = { namespace: '', name: '' };
  const matches = pattern.every((part, index) => {
    const segment = segments[index] ?? '';
    if (part === ':namespace') target.namespace = segment;
    else if (part === ':name') target.name = segment;
    else return part === segment;
    return true;
  });
  return matches ? target : undefined;
}

export function pathSegments(pathname: string): string[] {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed path: ${pathname}`);
  }
}

export const STREAMING_PATH = /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/(exec|attach|portforward)$/;

export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'https://127.0.0.1');
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

export function commonName(socket: TLSSocket): string | undefined {
  const cn: string | string[] | undefined = socket.getPeerCertificate().subject.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

export async function readToken(tokenFile: string): Promise<string | undefined> {
  try {
    const token = (await readFile(tokenFile, 'utf8')).trim();
    return token === '' ? undefined : token;
  } catch {
    return undefined;
  }
}

export function sendJson(res: ServerResponse, code: number, value: unknown): void {
  sendBytes(res, code, 'application/json', JSON.stringify(value));
}

export function sendBytes(res: ServerResponse, code: number, contentType: string, body: string | Buffer): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendFailure(res: ServerResponse, failure: StatusFailure): void {
  sendBytes(res, failure.code, 'application/json', statusJson(failure));
}

/** Starts a chunked response whose headers reach the client at once, for watches and log follows. */
export function startStream(res: ServerResponse, contentType: string): void {
  // Over HTTP/2 (the compatibility API), writeHead sends the headers at once.
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache, private' });
  res.flushHeaders();
}

export function listen(server: HttpsServer | Http2SecureServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** For 'error' listeners whose errors the close that follows reports. */
export function ignoreError(): void {
  // The close that follows is what the server acts on.
}
