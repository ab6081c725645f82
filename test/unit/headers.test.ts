import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, rawResponseHead, upstreamRequestHeaders } from '../../src/proxy/headers.ts';
import type { ProxyStatus } from '../../src/proxy/status.ts';

function impersonationRefused(name: string): ProxyStatus {
  return {
    code: 403,
    reason: 'Forbidden',
    message: `the ${name} header is not allowed: the ambassador does not forward impersonation, so requests always act as its own identity`,
  };
}

function overrideRefused(name: string): ProxyStatus {
  return { code: 400, reason: 'BadRequest', message: `the ${name} header is not allowed: send the real HTTP method instead` };
}

describe('upstreamRequestHeaders: allow-listed headers, lower-cased, in order', () => {
  it.each<[string, readonly string[], string | undefined, string[]]>([
    ['nothing', [], undefined, []],
    [
      'the ordinary API headers',
      [
        'Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io',
        'Accept-Encoding', 'gzip',
        'Accept-Language', 'en',
        'Cache-Control', 'no-cache',
        'Content-Encoding', 'gzip',
        'Content-Length', '12',
        'Content-Type', 'application/apply-patch+yaml',
        'If-Match', '"1"',
        'If-Modified-Since', 'Mon, 01 Jan 2024 00:00:00 GMT',
        'If-None-Match', '"2"',
        'If-Unmodified-Since', 'Mon, 01 Jan 2024 00:00:00 GMT',
        'Kubectl-Command', 'kubectl get',
        'Kubectl-Session', 'abc',
        'Pragma', 'no-cache',
        'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'tracestate', 'a=b',
        'User-Agent', 'kubectl/v1.33.0',
        'X-Stream-Protocol-Version', 'v4.channel.k8s.io',
      ],
      undefined,
      [
        'accept', 'application/json;as=Table;v=v1;g=meta.k8s.io',
        'accept-encoding', 'gzip',
        'accept-language', 'en',
        'cache-control', 'no-cache',
        'content-encoding', 'gzip',
        'content-length', '12',
        'content-type', 'application/apply-patch+yaml',
        'if-match', '"1"',
        'if-modified-since', 'Mon, 01 Jan 2024 00:00:00 GMT',
        'if-none-match', '"2"',
        'if-unmodified-since', 'Mon, 01 Jan 2024 00:00:00 GMT',
        'kubectl-command', 'kubectl get',
        'kubectl-session', 'abc',
        'pragma', 'no-cache',
        'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'tracestate', 'a=b',
        'user-agent', 'kubectl/v1.33.0',
        'x-stream-protocol-version', 'v4.channel.k8s.io',
      ],
    ],
    [
      'duplicates kept in order',
      ['X-Stream-Protocol-Version', 'v5.channel.k8s.io', 'Accept', 'a', 'X-Stream-Protocol-Version', 'v4.channel.k8s.io', 'accept', 'b'],
      undefined,
      ['x-stream-protocol-version', 'v5.channel.k8s.io', 'accept', 'a', 'x-stream-protocol-version', 'v4.channel.k8s.io', 'accept', 'b'],
    ],
    ['values are kept as sent', ['ACCEPT', '  */*  ', 'User-Agent', ''], undefined, ['accept', '  */*  ', 'user-agent', '']],
    ['a chunked body stays framed', ['Transfer-Encoding', 'chunked', 'Content-Type', 'application/json'], undefined, ['transfer-encoding', 'chunked', 'content-type', 'application/json']],
    [
      'credentials, identity, forwarding and hop-by-hop headers are dropped',
      [
        'Authorization', 'Bearer client-token',
        'Proxy-Authorization', 'Basic eDp5',
        'Cookie', 'session=1',
        'X-Remote-User', 'admin',
        'X-Remote-Group', 'system:masters',
        'X-Remote-Extra-Scopes', 'all',
        'X-Forwarded-For', '10.0.0.1',
        'X-Forwarded-Proto', 'https',
        'X-Forwarded-Host', 'evil.com',
        'X-Forwarded-Uri', '/x',
        'Forwarded', 'for=10.0.0.1',
        'X-Real-Ip', '10.0.0.1',
        'Audit-ID', 'f00',
        'Connection', 'keep-alive, X-Foo',
        'Keep-Alive', 'timeout=5',
        'Proxy-Connection', 'keep-alive',
        'Upgrade', 'websocket',
        'Trailer', 'X-Checksum',
        'TE', 'trailers',
        'Expect', '100-continue',
        'Host', 'localhost:8001',
        'Origin', 'http://localhost:8001',
        'X-Foo', 'bar',
        'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version', '13',
        'Sec-WebSocket-Protocol', 'v5.channel.k8s.io',
        'Sec-WebSocket-Extensions', 'permessage-deflate',
      ],
      undefined,
      [],
    ],
    [
      'a WebSocket upgrade forwards the Sec-WebSocket-* headers and asks for the upgrade',
      [
        'Host', 'localhost:8001',
        'Connection', 'Upgrade',
        'Upgrade', 'websocket',
        'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version', '13',
        'Sec-WebSocket-Protocol', 'v5.channel.k8s.io',
        'Sec-WebSocket-Protocol', 'v4.channel.k8s.io',
        'Sec-WebSocket-Extensions', 'permessage-deflate',
        'Authorization', 'Bearer client-token',
        'User-Agent', 'kubectl/v1.33.0',
      ],
      'websocket',
      [
        'sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version', '13',
        'sec-websocket-protocol', 'v5.channel.k8s.io',
        'sec-websocket-protocol', 'v4.channel.k8s.io',
        'sec-websocket-extensions', 'permessage-deflate',
        'user-agent', 'kubectl/v1.33.0',
        'connection', 'Upgrade',
        'upgrade', 'websocket',
      ],
    ],
    [
      'a SPDY upgrade',
      ['Connection', 'Upgrade', 'Upgrade', 'SPDY/3.1', 'X-Stream-Protocol-Version', 'v4.channel.k8s.io', 'X-Stream-Protocol-Version', 'v3.channel.k8s.io'],
      'SPDY/3.1',
      [
        'x-stream-protocol-version', 'v4.channel.k8s.io',
        'x-stream-protocol-version', 'v3.channel.k8s.io',
        'connection', 'Upgrade',
        'upgrade', 'SPDY/3.1',
      ],
    ],
    ['an upgrade with no other headers', [], 'websocket', ['connection', 'Upgrade', 'upgrade', 'websocket']],
  ])('%s', (_name, raw, upgrade, expected) => {
    expect(upstreamRequestHeaders(raw, upgrade)).toEqual(expected);
  });
});

describe('upstreamRequestHeaders refuses impersonation (403) and method overrides (400)', () => {
  it.each<[string, readonly string[], string | undefined, ProxyStatus]>([
    ['Impersonate-User', ['Impersonate-User', 'admin'], undefined, impersonationRefused('Impersonate-User')],
    ['Impersonate-Group', ['Accept', '*/*', 'Impersonate-Group', 'system:masters'], undefined, impersonationRefused('Impersonate-Group')],
    ['Impersonate-Uid', ['Impersonate-Uid', '1234'], undefined, impersonationRefused('Impersonate-Uid')],
    ['Impersonate-Extra-*', ['Impersonate-Extra-Scopes', 'view'], undefined, impersonationRefused('Impersonate-Extra-Scopes')],
    ['lower case', ['impersonate-user', 'admin'], undefined, impersonationRefused('impersonate-user')],
    ['upper case', ['IMPERSONATE-USER', 'admin'], undefined, impersonationRefused('IMPERSONATE-USER')],
    ['mixed case', ['iMpErSoNaTe-GrOuP', 'x'], undefined, impersonationRefused('iMpErSoNaTe-GrOuP')],
    ['empty value', ['Impersonate-User', ''], undefined, impersonationRefused('Impersonate-User')],
    ['on an upgrade', ['Sec-WebSocket-Key', 'k', 'Impersonate-User', 'admin'], 'websocket', impersonationRefused('Impersonate-User')],
    ['X-HTTP-Method-Override', ['X-HTTP-Method-Override', 'DELETE'], undefined, overrideRefused('X-HTTP-Method-Override')],
    ['X-HTTP-Method', ['X-HTTP-Method', 'DELETE'], undefined, overrideRefused('X-HTTP-Method')],
    ['X-Method-Override', ['X-Method-Override', 'PUT'], undefined, overrideRefused('X-Method-Override')],
    ['override in lower case', ['x-http-method-override', 'PATCH'], undefined, overrideRefused('x-http-method-override')],
    ['override after allowed headers', ['Accept', '*/*', 'Content-Type', 'x', 'X-Method-Override', 'PUT'], undefined, overrideRefused('X-Method-Override')],
  ])('%s', (_name, raw, upgrade, expected) => {
    expect(upstreamRequestHeaders(raw, upgrade)).toEqual(expected);
  });
});

describe('clientResponseHeaders removes hop-by-hop headers', () => {
  it.each<[string, readonly string[], string | undefined, string[]]>([
    ['nothing', [], undefined, []],
    [
      'end-to-end headers kept as sent, duplicates included',
      ['Content-Type', 'application/json', 'Audit-Id', 'abc', 'Warning', '299 - "a"', 'Warning', '299 - "b"', 'X-Kubernetes-Pf-Flowschema-Uid', 'u'],
      undefined,
      ['Content-Type', 'application/json', 'Audit-Id', 'abc', 'Warning', '299 - "a"', 'Warning', '299 - "b"', 'X-Kubernetes-Pf-Flowschema-Uid', 'u'],
    ],
    [
      'the RFC 9110 list and its non-standard companions',
      [
        'Connection', 'keep-alive',
        'Keep-Alive', 'timeout=5',
        'Proxy-Connection', 'keep-alive',
        'Proxy-Authenticate', 'Basic',
        'Transfer-Encoding', 'chunked',
        'TE', 'trailers',
        'Trailer', 'X-Checksum',
        'Upgrade', 'h2c',
        'Date', 'Mon, 01 Jan 2024 00:00:00 GMT',
      ],
      undefined,
      ['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'],
    ],
    ['any case', ['CONNECTION', 'close', 'transfer-encoding', 'chunked', 'Content-Length', '2'], undefined, ['Content-Length', '2']],
    [
      'headers listed in Connection',
      ['Connection', 'close, X-Hop, x-other', 'X-Hop', '1', 'X-Other', '2', 'X-Kept', '3'],
      undefined,
      ['X-Kept', '3'],
    ],
    [
      'headers listed in several Connection headers',
      ['Connection', 'X-A', 'X-A', '1', 'Connection', ' X-B ,,', 'X-B', '2', 'X-C', '3'],
      undefined,
      ['X-C', '3'],
    ],
    ['omit', ['Content-Length', '10', 'Content-Type', 'text/plain'], 'content-length', ['Content-Type', 'text/plain']],
    ['omit with nothing to omit', ['Content-Type', 'text/plain'], 'content-length', ['Content-Type', 'text/plain']],
  ])('%s', (_name, raw, omit, expected) => {
    expect(clientResponseHeaders(raw, omit)).toEqual(expected);
  });
});

describe('rawResponseHead', () => {
  it.each<[number, string, readonly string[], string]>([
    [101, 'Switching Protocols', ['Upgrade', 'websocket', 'Connection', 'Upgrade'], 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    [403, 'Forbidden', [], 'HTTP/1.1 403 Forbidden\r\n\r\n'],
  ])('%i %s', (code, message, headers, expected) => {
    expect(rawResponseHead(code, message, headers)).toBe(expected);
  });
});
