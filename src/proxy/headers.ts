/**
 * Header rules. Outgoing request headers are built from an allow-list instead of copied, so a local
 * client's credentials, impersonation, forwarding and hop-by-hop headers never reach the API server;
 * headers that ask for something the ambassador will not do are refused.
 */
import { badRequest, forbidden, type ProxyStatus } from './status.ts';

/** End-to-end request headers the API server (or kubectl's streaming protocols) use. */
const FORWARDED_REQUEST_HEADERS = new Set([
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'content-encoding',
  'content-length',
  'content-type',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-unmodified-since',
  'kubectl-command',
  'kubectl-session',
  'pragma',
  'traceparent',
  'tracestate',
  'user-agent',
  'x-stream-protocol-version',
]);
/** Forwarded only on upgrades, where they negotiate the WebSocket session end to end. */
const FORWARDED_UPGRADE_HEADERS = new Set([
  'sec-websocket-extensions',
  'sec-websocket-key',
  'sec-websocket-protocol',
  'sec-websocket-version',
]);
/** Method overrides are not honoured by the API server, but an intermediary might: refuse them. */
const METHOD_OVERRIDE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);
const IMPERSONATE_PREFIX = 'impersonate-';
/** RFC 9110 §7.6.1 hop-by-hop headers, plus the non-standard ones still seen in the wild. */
const HOP_BY_HOP_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * The headers to send upstream, as a flat `[name, value, …]` list (duplicates such as several
 * `X-Stream-Protocol-Version` kept in order), or the Status refusing the request.
 * `upgrade` is the validated protocol of an upgrade request, or undefined.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], upgrade: string | undefined): string[] | ProxyStatus {
  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    if (FORWARDED_REQUEST_HEADERS.has(name) || (upgrade !== undefined && FORWARDED_UPGRADE_HEADERS.has(name))) {
      headers.push(name, value);
    } else if (name === 'transfer-encoding') {
      // Node's server has already refused anything but a valid chunked coding; keep the body framed.
      headers.push(name, 'chunked');
    } else if (name.startsWith(IMPERSONATE_PREFIX)) {
      return forbidden(
        `the ${rawHeaders[i]} header is not allowed: the ambassador does not forward impersonation, so requests always act as its own identity`,
      );
    } else if (METHOD_OVERRIDE_HEADERS.has(name)) {
      return badRequest(`the ${rawHeaders[i]} header is not allowed: send the real HTTP method instead`);
    }
  }
  if (upgrade !== undefined) headers.push('connection', 'Upgrade', 'upgrade', upgrade);
  return headers;
}

/** Upstream response headers without hop-by-hop ones, pseudo-headers (nor `omit`), as a flat list for `writeHead`. */
export function clientResponseHeaders(rawHeaders: readonly string[], omit?: string): string[] {
  const connectionListed = connectionTokens(rawHeaders);
  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    const lower = name.toLowerCase();
    // Pseudo-headers (`:status`) come with HTTP/2 answers and have no HTTP/1.1 form.
    if (HOP_BY_HOP_RESPONSE_HEADERS.has(lower) || connectionListed?.has(lower) || lower === omit || lower.startsWith(':')) continue;
    headers.push(name, rawHeaders[i + 1] ?? '');
  }
  return headers;
}

/** Header names listed in `Connection` (RFC 9110 §7.6.1), which are hop-by-hop too. */
function connectionTokens(rawHeaders: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] ?? '').toLowerCase() !== 'connection') continue;
    for (const token of (rawHeaders[i + 1] ?? '').split(',')) {
      const trimmed = token.trim().toLowerCase();
      if (trimmed !== '' && trimmed !== 'close' && trimmed !== 'keep-alive') (tokens ??= new Set()).add(trimmed);
    }
  }
  return tokens;
}

/** A raw HTTP/1.1 response head, for answers written straight onto an upgraded socket. */
export function rawResponseHead(statusCode: number, statusMessage: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + '\r\n';
}
