import { describe, expect, it } from 'vitest';
import {
  clientResponseHeaders,
  rawResponseHead,
  replaceTraceContext,
  upstreamRequestHeaders,
} from '../../src/proxy/headers.ts';
import { ProxyStatus } from '../../src/proxy/status.ts';

/** Another identity's token, as browser clients offer it in Sec-WebSocket-Protocol. */
const TOKEN_PROTOCOL = 'base64url.bearer.authorization.k8s.io.dG9rZW4tb2YtYW5vdGhlci1pZGVudGl0eQ';
const UPGRADE_TAIL = ['connection', 'Upgrade', 'upgrade', 'websocket'];
const SPDY_TAIL = ['connection', 'Upgrade', 'upgrade', 'SPDY/3.1'];

function impersonationRefused(name: string): ProxyStatus {
  return new ProxyStatus(
    403,
    'Forbidden',
    `the ${name} header is not allowed: the ambassador does not forward impersonation, so requests always act as its own identity`,
  );
}

function overrideRefused(name: string): ProxyStatus {
  return new ProxyStatus(400, 'BadRequest', `the ${name} header is not allowed: send the real HTTP method instead`);
}

describe('upstreamRequestHeaders: allow-listed headers, lower-cased, in order', () => {
  it.each<[string, readonly string[], string | undefined, string[]]>([
    ['nothing', [], undefined, []],
    [
      'the ordinary API headers',
      [
        'Accept',
        'application/json;as=Table;v=v1;g=meta.k8s.io',
        'Accept-Encoding',
        'gzip',
        'Accept-Language',
        'en',
        'Cache-Control',
        'no-cache',
        'Content-Encoding',
        'gzip',
        'Content-Length',
        '12',
        'Content-Type',
        'application/apply-patch+yaml',
        'If-Match',
        '"1"',
        'If-Modified-Since',
        'Mon, 01 Jan 2024 00:00:00 GMT',
        'If-None-Match',
        '"2"',
        'If-Unmodified-Since',
        'Mon, 01 Jan 2024 00:00:00 GMT',
        'Kubectl-Command',
        'kubectl get',
        'Kubectl-Session',
        'abc',
        'Pragma',
        'no-cache',
        'traceparent',
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'tracestate',
        'a=b',
        'User-Agent',
        'kubectl/v1.33.0',
      ],
      undefined,
      [
        'accept',
        'application/json;as=Table;v=v1;g=meta.k8s.io',
        'accept-encoding',
        'gzip',
        'accept-language',
        'en',
        'cache-control',
        'no-cache',
        'content-encoding',
        'gzip',
        'content-length',
        '12',
        'content-type',
        'application/apply-patch+yaml',
        'if-match',
        '"1"',
        'if-modified-since',
        'Mon, 01 Jan 2024 00:00:00 GMT',
        'if-none-match',
        '"2"',
        'if-unmodified-since',
        'Mon, 01 Jan 2024 00:00:00 GMT',
        'kubectl-command',
        'kubectl get',
        'kubectl-session',
        'abc',
        'pragma',
        'no-cache',
        'traceparent',
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'tracestate',
        'a=b',
        'user-agent',
        'kubectl/v1.33.0',
      ],
    ],
    [
      'headers that may repeat are kept in order',
      [
        'Accept',
        'a',
        'Cache-Control',
        'no-cache',
        'accept',
        'b',
        'traceparent',
        't1',
        'Cache-Control',
        'no-store',
        'Traceparent',
        't2',
      ],
      undefined,
      [
        'accept',
        'a',
        'cache-control',
        'no-cache',
        'accept',
        'b',
        'traceparent',
        't1',
        'cache-control',
        'no-store',
        'traceparent',
        't2',
      ],
    ],
    [
      'values are kept as sent',
      ['ACCEPT', '  */*  ', 'User-Agent', ''],
      undefined,
      ['accept', '  */*  ', 'user-agent', ''],
    ],
    [
      'a chunked body stays framed',
      ['Transfer-Encoding', 'chunked', 'Content-Type', 'application/json'],
      undefined,
      ['transfer-encoding', 'chunked', 'content-type', 'application/json'],
    ],
    [
      'credentials, identity, forwarding and hop-by-hop headers are dropped',
      [
        'Authorization',
        'Bearer client-token',
        'Proxy-Authorization',
        'Basic eDp5',
        'Cookie',
        'session=1',
        'X-Remote-User',
        'admin',
        'X-Remote-Group',
        'system:masters',
        'X-Remote-Extra-Scopes',
        'all',
        'X-Forwarded-For',
        '10.0.0.1',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'evil.com',
        'X-Forwarded-Uri',
        '/x',
        'Forwarded',
        'for=10.0.0.1',
        'X-Real-Ip',
        '10.0.0.1',
        'Audit-ID',
        'f00',
        'Connection',
        'keep-alive, X-Foo',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Connection',
        'keep-alive',
        'Upgrade',
        'websocket',
        'Trailer',
        'X-Checksum',
        'TE',
        'trailers',
        'Expect',
        '100-continue',
        'Host',
        'localhost:8001',
        'Origin',
        'http://localhost:8001',
        'X-Foo',
        'bar',
        'Sec-WebSocket-Key',
        'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version',
        '13',
        'Sec-WebSocket-Protocol',
        'v5.channel.k8s.io',
        'Sec-WebSocket-Extensions',
        'permessage-deflate',
        'X-Stream-Protocol-Version',
        'v4.channel.k8s.io',
      ],
      undefined,
      [],
    ],
    [
      'a WebSocket upgrade forwards the Sec-WebSocket-* headers and asks for the upgrade',
      [
        'Host',
        'localhost:8001',
        'Connection',
        'Upgrade',
        'Upgrade',
        'websocket',
        'Sec-WebSocket-Key',
        'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version',
        '13',
        'Sec-WebSocket-Protocol',
        'v5.channel.k8s.io',
        'Sec-WebSocket-Protocol',
        'v4.channel.k8s.io',
        'Sec-WebSocket-Extensions',
        'permessage-deflate',
        'Authorization',
        'Bearer client-token',
        'User-Agent',
        'kubectl/v1.33.0',
      ],
      'websocket',
      [
        'sec-websocket-key',
        'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version',
        '13',
        'sec-websocket-extensions',
        'permessage-deflate',
        'user-agent',
        'kubectl/v1.33.0',
        'sec-websocket-protocol',
        'v5.channel.k8s.io, v4.channel.k8s.io',
        'connection',
        'Upgrade',
        'upgrade',
        'websocket',
      ],
    ],
    [
      'a SPDY upgrade',
      [
        'Connection',
        'Upgrade',
        'Upgrade',
        'SPDY/3.1',
        'X-Stream-Protocol-Version',
        'v4.channel.k8s.io',
        'X-Stream-Protocol-Version',
        'v3.channel.k8s.io',
      ],
      'SPDY/3.1',
      [
        'x-stream-protocol-version',
        'v4.channel.k8s.io',
        'x-stream-protocol-version',
        'v3.channel.k8s.io',
        ...SPDY_TAIL,
      ],
    ],
    ['an upgrade with no other headers', [], 'websocket', ['connection', 'Upgrade', 'upgrade', 'websocket']],
  ])('%s', (_name, raw, upgrade, expected) => {
    expect(upstreamRequestHeaders(raw, upgrade)).toEqual(expected);
  });
});

describe("upstreamRequestHeaders rebuilds an upgrade's protocol offers from the protocols the API server speaks", () => {
  it.each<[string, readonly string[], string, string[]]>([
    [
      'a bearer token after the real subprotocol',
      ['Sec-WebSocket-Protocol', `v5.channel.k8s.io, ${TOKEN_PROTOCOL}`],
      'websocket',
      ['sec-websocket-protocol', 'v5.channel.k8s.io', ...UPGRADE_TAIL],
    ],
    [
      'a bearer token first, without spaces',
      ['Sec-WebSocket-Protocol', `${TOKEN_PROTOCOL},v4.channel.k8s.io`],
      'websocket',
      ['sec-websocket-protocol', 'v4.channel.k8s.io', ...UPGRADE_TAIL],
    ],
    [
      'a bearer token in a header of its own, between two others',
      [
        'Sec-WebSocket-Protocol',
        'v5.channel.k8s.io',
        'sec-websocket-protocol',
        TOKEN_PROTOCOL,
        'SEC-WEBSOCKET-PROTOCOL',
        'channel.k8s.io',
      ],
      'websocket',
      ['sec-websocket-protocol', 'v5.channel.k8s.io, channel.k8s.io', ...UPGRADE_TAIL],
    ],
    [
      'two bearer tokens',
      ['Sec-WebSocket-Protocol', `${TOKEN_PROTOCOL}, ${TOKEN_PROTOCOL}2, v5.channel.k8s.io`],
      'websocket',
      ['sec-websocket-protocol', 'v5.channel.k8s.io', ...UPGRADE_TAIL],
    ],
    [
      'unknown, empty and differently cased entries are dropped (Go compares exactly)',
      [
        'Sec-WebSocket-Protocol',
        ' x-unknown ,, V5.CHANNEL.K8S.IO,\tv4.base64.channel.k8s.io ',
        'Sec-WebSocket-Protocol',
        'base64url.bearer.authorization.k8s.io.',
      ],
      'websocket',
      ['sec-websocket-protocol', 'v4.base64.channel.k8s.io', ...UPGRADE_TAIL],
    ],
    [
      'every subprotocol the API server and kubelet speak, in the order offered',
      [
        'Sec-WebSocket-Protocol',
        'v5.channel.k8s.io, v4.channel.k8s.io, v4.base64.channel.k8s.io, channel.k8s.io, base64.channel.k8s.io, SPDY/3.1+portforward.k8s.io, v2.portforward.k8s.io',
      ],
      'websocket',
      [
        'sec-websocket-protocol',
        'v5.channel.k8s.io, v4.channel.k8s.io, v4.base64.channel.k8s.io, channel.k8s.io, base64.channel.k8s.io, SPDY/3.1+portforward.k8s.io, v2.portforward.k8s.io',
        ...UPGRADE_TAIL,
      ],
    ],
    [
      "no subprotocol offered: none forwarded (the kubelet's legacy default)",
      ['Sec-WebSocket-Key', 'k'],
      'websocket',
      ['sec-websocket-key', 'k', ...UPGRADE_TAIL],
    ],
    ['an empty offer is no offer', ['Sec-WebSocket-Protocol', ' , '], 'websocket', UPGRADE_TAIL],
    [
      'SPDY: known stream protocols one header each, unknown ones dropped',
      [
        'X-Stream-Protocol-Version',
        'v4.channel.k8s.io',
        'X-Stream-Protocol-Version',
        'x-unknown',
        'x-stream-protocol-version',
        'v3.channel.k8s.io, v2.channel.k8s.io ,channel.k8s.io',
      ],
      'SPDY/3.1',
      [
        'x-stream-protocol-version',
        'v4.channel.k8s.io',
        'x-stream-protocol-version',
        'v3.channel.k8s.io',
        'x-stream-protocol-version',
        'v2.channel.k8s.io',
        'x-stream-protocol-version',
        'channel.k8s.io',
        ...SPDY_TAIL,
      ],
    ],
    [
      'SPDY port-forward',
      ['X-Stream-Protocol-Version', 'portforward.k8s.io'],
      'SPDY/3.1',
      ['x-stream-protocol-version', 'portforward.k8s.io', ...SPDY_TAIL],
    ],
    [
      'a bearer token in X-Stream-Protocol-Version is just unknown',
      ['X-Stream-Protocol-Version', `${TOKEN_PROTOCOL}, portforward.k8s.io`],
      'SPDY/3.1',
      ['x-stream-protocol-version', 'portforward.k8s.io', ...SPDY_TAIL],
    ],
  ])('%s', (_name, raw, upgrade, expected) => {
    expect(upstreamRequestHeaders(raw, upgrade)).toEqual(expected);
  });

  it.each<[string, readonly string[], string, string]>([
    ['only a bearer token', ['Sec-WebSocket-Protocol', TOKEN_PROTOCOL], 'websocket', 'Sec-WebSocket-Protocol'],
    ['only unknown subprotocols', ['Sec-WebSocket-Protocol', 'chat, superchat'], 'websocket', 'Sec-WebSocket-Protocol'],
    [
      'only unknown stream protocols',
      ['X-Stream-Protocol-Version', 'v9.channel.k8s.io'],
      'SPDY/3.1',
      'X-Stream-Protocol-Version',
    ],
  ])('an offer with nothing the API server speaks is refused: %s', (_name, raw, upgrade, header) => {
    const refusal = upstreamRequestHeaders(raw, upgrade);
    expect(refusal).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: expect.stringMatching(new RegExp(`^the ${header} header offers no`)) as unknown,
    });
    expect(JSON.stringify(refusal)).not.toContain('dG9rZW4');
  });
});

describe('upstreamRequestHeaders refuses a repeated single-value header (400), whichever protocol goes upstream', () => {
  const repeated = (name: string): ProxyStatus =>
    new ProxyStatus(400, 'BadRequest', `the ${name} header is repeated: send it once, with the one value meant`);
  it.each<[string, readonly string[], string | undefined, ProxyStatus]>([
    [
      'Content-Type',
      ['Content-Type', 'application/json', 'Content-Type', 'application/yaml'],
      undefined,
      repeated('Content-Type'),
    ],
    [
      'Content-Encoding',
      ['Content-Encoding', 'gzip', 'Content-Encoding', 'gzip'],
      undefined,
      repeated('Content-Encoding'),
    ],
    ['Content-Length', ['Content-Length', '2', 'Content-Length', '2'], undefined, repeated('Content-Length')],
    ['If-Match', ['If-Match', '"1"', 'If-Match', '"2"'], undefined, repeated('If-Match')],
    ['If-None-Match', ['If-None-Match', '"1"', 'If-None-Match', '"2"'], undefined, repeated('If-None-Match')],
    [
      'If-Modified-Since',
      ['If-Modified-Since', 'a', 'If-Modified-Since', 'b'],
      undefined,
      repeated('If-Modified-Since'),
    ],
    [
      'If-Unmodified-Since',
      ['If-Unmodified-Since', 'a', 'If-Unmodified-Since', 'b'],
      undefined,
      repeated('If-Unmodified-Since'),
    ],
    ['User-Agent', ['User-Agent', 'kubectl', 'User-Agent', 'kubectl'], undefined, repeated('User-Agent')],
    [
      'named as the second copy is spelled',
      ['content-type', 'a', 'Accept', '*/*', 'CONTENT-TYPE', 'b'],
      undefined,
      repeated('CONTENT-TYPE'),
    ],
    [
      'with other single-value headers between',
      ['User-Agent', 'a', 'Content-Type', 'b', 'If-Match', 'c', 'user-agent', 'd'],
      undefined,
      repeated('user-agent'),
    ],
    [
      'on an upgrade too',
      ['User-Agent', 'a', 'Sec-WebSocket-Key', 'k', 'User-Agent', 'b'],
      'websocket',
      repeated('User-Agent'),
    ],
  ])('%s', (_name, raw, upgrade, expected) => {
    expect(upstreamRequestHeaders(raw, upgrade)).toEqual(expected);
  });
});

describe('upstreamRequestHeaders refuses impersonation (403) and method overrides (400)', () => {
  it.each<[string, readonly string[], string | undefined, ProxyStatus]>([
    ['Impersonate-User', ['Impersonate-User', 'admin'], undefined, impersonationRefused('Impersonate-User')],
    [
      'Impersonate-Group',
      ['Accept', '*/*', 'Impersonate-Group', 'system:masters'],
      undefined,
      impersonationRefused('Impersonate-Group'),
    ],
    ['Impersonate-Uid', ['Impersonate-Uid', '1234'], undefined, impersonationRefused('Impersonate-Uid')],
    [
      'Impersonate-Extra-*',
      ['Impersonate-Extra-Scopes', 'view'],
      undefined,
      impersonationRefused('Impersonate-Extra-Scopes'),
    ],
    ['lower case', ['impersonate-user', 'admin'], undefined, impersonationRefused('impersonate-user')],
    ['upper case', ['IMPERSONATE-USER', 'admin'], undefined, impersonationRefused('IMPERSONATE-USER')],
    ['mixed case', ['iMpErSoNaTe-GrOuP', 'x'], undefined, impersonationRefused('iMpErSoNaTe-GrOuP')],
    ['empty value', ['Impersonate-User', ''], undefined, impersonationRefused('Impersonate-User')],
    [
      'on an upgrade',
      ['Sec-WebSocket-Key', 'k', 'Impersonate-User', 'admin'],
      'websocket',
      impersonationRefused('Impersonate-User'),
    ],
    [
      'X-HTTP-Method-Override',
      ['X-HTTP-Method-Override', 'DELETE'],
      undefined,
      overrideRefused('X-HTTP-Method-Override'),
    ],
    ['X-HTTP-Method', ['X-HTTP-Method', 'DELETE'], undefined, overrideRefused('X-HTTP-Method')],
    ['X-Method-Override', ['X-Method-Override', 'PUT'], undefined, overrideRefused('X-Method-Override')],
    [
      'override in lower case',
      ['x-http-method-override', 'PATCH'],
      undefined,
      overrideRefused('x-http-method-override'),
    ],
    [
      'override after allowed headers',
      ['Accept', '*/*', 'Content-Type', 'x', 'X-Method-Override', 'PUT'],
      undefined,
      overrideRefused('X-Method-Override'),
    ],
  ])('%s', (_name, raw, upgrade, expected) => {
    expect(upstreamRequestHeaders(raw, upgrade)).toEqual(expected);
  });
});

describe('clientResponseHeaders removes hop-by-hop headers', () => {
  it.each<[string, readonly string[], string | undefined, string[]]>([
    ['nothing', [], undefined, []],
    [
      'end-to-end headers kept as sent, duplicates included',
      [
        'Content-Type',
        'application/json',
        'Audit-Id',
        'abc',
        'Warning',
        '299 - "a"',
        'Warning',
        '299 - "b"',
        'X-Kubernetes-Pf-Flowschema-Uid',
        'u',
      ],
      undefined,
      [
        'Content-Type',
        'application/json',
        'Audit-Id',
        'abc',
        'Warning',
        '299 - "a"',
        'Warning',
        '299 - "b"',
        'X-Kubernetes-Pf-Flowschema-Uid',
        'u',
      ],
    ],
    [
      'the RFC 9110 list and its non-standard companions',
      [
        'Connection',
        'keep-alive',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Connection',
        'keep-alive',
        'Proxy-Authenticate',
        'Basic',
        'Transfer-Encoding',
        'chunked',
        'TE',
        'trailers',
        'Trailer',
        'X-Checksum',
        'Upgrade',
        'h2c',
        'Date',
        'Mon, 01 Jan 2024 00:00:00 GMT',
      ],
      undefined,
      ['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'],
    ],
    [
      'any case',
      ['CONNECTION', 'close', 'transfer-encoding', 'chunked', 'Content-Length', '2'],
      undefined,
      ['Content-Length', '2'],
    ],
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
    [
      101,
      'Switching Protocols',
      ['Upgrade', 'websocket', 'Connection', 'Upgrade'],
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    ],
    [403, 'Forbidden', [], 'HTTP/1.1 403 Forbidden\r\n\r\n'],
  ])('%i %s', (code, message, headers, expected) => {
    expect(rawResponseHead(code, message, headers)).toBe(expected);
  });
});

describe("replaceTraceContext: the ambassador's span takes the client's place as the API server's parent", () => {
  const OURS = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';
  it.each<[string, string[], string | undefined, string[]]>([
    [
      'no client context',
      ['accept', 'a', 'audit-id', 'x'],
      undefined,
      ['accept', 'a', 'audit-id', 'x', 'traceparent', OURS],
    ],
    [
      "the client's traceparent and tracestate are replaced, the other headers kept in order",
      ['accept', 'a', 'traceparent', 'client', 'user-agent', 'u', 'tracestate', 'v=1', 'audit-id', 'x'],
      'v=1',
      ['accept', 'a', 'user-agent', 'u', 'audit-id', 'x', 'traceparent', OURS, 'tracestate', 'v=1'],
    ],
    [
      'every copy of a repeated one goes',
      ['traceparent', 't1', 'traceparent', 't2', 'accept', 'a'],
      undefined,
      ['accept', 'a', 'traceparent', OURS],
    ],
    ['an empty tracestate is not sent', ['tracestate', ''], '', ['traceparent', OURS]],
  ])('%s', (_name, headers, tracestate, expected) => {
    replaceTraceContext(headers, OURS, tracestate);
    expect(headers).toEqual(expected);
  });
});
