/**
 * kubectl proxy's filter (k8s.io/kubectl/pkg/proxy/proxy_server.go, FilterServer.accept and
 * extractHost) and its TestAccept table, with the ambassador's two deliberate departures:
 * IPv6 brackets are kept when the port is removed, and a cross-site Origin is refused.
 */
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../src/config/parse-options.ts';
import { filterFromOptions, hostRefusal, hostWithoutPort, pathRefusal } from '../../src/proxy/filter.ts';
import type { RequestFilter } from '../../src/proxy/filter.ts';
import { parseRequestTarget } from '../../src/request/target.ts';

function filterFor(argv: readonly string[]): RequestFilter {
  const parsed = parseOptions(argv, {});
  if (parsed.kind !== 'run') throw new Error(`test options ${argv.join(' ')} were refused: ${JSON.stringify(parsed)}`);
  return filterFromOptions(parsed.config);
}

const DEFAULT_FILTER = filterFor([]);

function accepts(filter: RequestFilter, method: string, path: string, host: string): boolean {
  return hostRefusal(filter, host, undefined) === undefined && pathRefusal(filter, method, path) === undefined;
}

function hostProblem(host: string): string {
  return `the Host header ${JSON.stringify(host)} is not an accepted local name (see --accept-hosts)`;
}

function originProblem(origin: string): string {
  return `the Origin ${JSON.stringify(origin)} is another site; browsers may not use the ambassador cross-site`;
}

describe('filterFromOptions', () => {
  it('builds the kubectl proxy defaults', () => {
    expect(DEFAULT_FILTER).toEqual({
      enabled: true,
      acceptHosts: [/^localhost$/, /^127\.0\.0\.1$/, /^\[::1\]$/],
      acceptPaths: [/^.*/],
      rejectPaths: [/^\/api\/.*\/pods\/.*\/exec/, /^\/api\/.*\/pods\/.*\/attach/],
      rejectMethods: [/^$/],
    });
  });

  it('maps --disable-filter and empty pattern lists', () => {
    expect(filterFor(['--disable-filter', '--reject-paths=', '--accept-hosts', '^example$'])).toEqual({
      enabled: false,
      acceptHosts: [/^example$/],
      acceptPaths: [/^.*/],
      rejectPaths: [],
      rejectMethods: [/^$/],
    });
  });
});

describe('kubectl TestAccept table', () => {
  // [name, extra flags on top of the defaults, path, host, method, expectAccept]
  it.each<[string, readonly string[], string, string, string, boolean]>([
    ['test1', [], '', '127.0.0.1', 'GET', true],
    ['test2', [], '/api/v1/pods', '127.0.0.1', 'GET', true],
    ['test3', [], '/api/v1/pods', 'localhost', 'GET', true],
    ['test4', [], '/api/v1/namespaces/default/pods/foo', 'localhost', 'GET', true],
    ['test5', [], '/api/v1/namespaces/default/pods/attachfoo', 'localhost', 'GET', true],
    ['test7', [], '/api/v1/namespaces/default/pods/execfoo', 'localhost', 'GET', true],
    ['test8', [], '/api/v1/namespaces/default/pods/foo/exec', '127.0.0.1', 'GET', false],
    ['test9', [], '/api/v1/namespaces/default/pods/foo/attach', '127.0.0.1', 'GET', false],
    ['test10', [], '/api/v1/pods', 'evil.com', 'GET', false],
    ['test11', [], '/api/v1/pods', 'localhost.evil.com', 'GET', false],
    ['test12', [], '/api/v1/pods', '127a0b0c1', 'GET', false],
    ['test13', [], '/ui', 'localhost', 'GET', true],
    ['test14', [], '/api/v1/pods', 'localhost', 'POST', true],
    ['test15', [], '/api/v1/namespaces/default/pods/somepod', 'localhost', 'PUT', true],
    ['test16', [], '/api/v1/namespaces/default/pods/somepod', 'localhost', 'PATCH', true],
    ['test17', ['--reject-methods', 'GET'], '/api/v1/pods', '127.0.0.1', 'GET', false],
    ['test18', ['--reject-methods', 'POST'], '/api/v1/pods', 'localhost', 'POST', false],
    ['test19', ['--reject-methods', 'PUT'], '/api/v1/namespaces/default/pods/somepod', 'localhost', 'PUT', false],
    ['test20', ['--reject-methods', 'PATCH'], '/api/v1/namespaces/default/pods/somepod', 'localhost', 'PATCH', false],
    [
      'test21',
      ['--reject-methods', 'POST,PUT,PATCH'],
      '/api/v1/namespaces/default/pods/somepod',
      'localhost',
      'PATCH',
      false,
    ],
    [
      'test22',
      ['--reject-methods', 'POST,PUT,PATCH'],
      '/api/v1/namespaces/default/pods/somepod',
      'localhost',
      'PUT',
      false,
    ],
    ['test23', [], '/api/v1/namespaces/default/pods/somepod/exec', 'localhost', 'POST', false],
    ['test24', ['--reject-paths='], '/api/v1/namespaces/default/pods/somepod/exec', 'localhost', 'POST', true],
    // kubectl TestExtractHost: the port is removed before matching
    ['host with port', [], '/api/v1/pods', 'localhost:8085', 'GET', true],
    ['IPv4 with port', [], '/api/v1/pods', '127.0.0.1:8001', 'GET', true],
    // deliberate departure (kubernetes/kubernetes#77496): brackets are kept, so the default matches
    ['IPv6 with port', [], '/api/v1/pods', '[::1]:8001', 'GET', true],
    ['IPv6 without port', [], '/api/v1/pods', '[::1]', 'GET', true],
    ['IPv6 without brackets', [], '/api/v1/pods', '::1', 'GET', false],
    ['other loopback IPv4', [], '/api/v1/pods', '127.0.0.2', 'GET', false],
    ['any address', [], '/api/v1/pods', '0.0.0.0:8001', 'GET', false],
    ['upper-case host (Go regexp is case-sensitive)', [], '/api/v1/pods', 'LOCALHOST', 'GET', false],
    ['empty host', [], '/api/v1/pods', '', 'GET', false],
    ['rebinding name', [], '/api/v1/pods', '127.0.0.1.nip.io:8001', 'GET', false],
    [
      'attach in a named group is not /api/',
      [],
      '/apis/example.com/v1/namespaces/d/pods/p/attach',
      'localhost',
      'POST',
      true,
    ],
    ['exec on a cluster-wide path', [], '/api/v1/pods/p/exec', 'localhost', 'GET', false],
    ['all hosts accepted', ['--accept-hosts', '^.*$'], '/api/v1/pods', 'evil.com', 'GET', true],
    ['no hosts accepted', ['--accept-hosts='], '/api/v1/pods', 'localhost', 'GET', false],
    [
      'accept-paths restricts',
      ['--accept-paths', '^/api/v1/namespaces/team/'],
      '/api/v1/namespaces/other/pods',
      'localhost',
      'GET',
      false,
    ],
    [
      'accept-paths allows',
      ['--accept-paths', '^/api/v1/namespaces/team/'],
      '/api/v1/namespaces/team/pods',
      'localhost',
      'GET',
      true,
    ],
    ['several accept-paths', ['--accept-paths', '^/version$,^/api/'], '/version', 'localhost', 'GET', true],
    ['empty accept-paths accept nothing', ['--accept-paths='], '/version', 'localhost', 'GET', false],
    ['empty reject-methods reject nothing', ['--reject-methods='], '/version', 'localhost', 'GET', true],
    ['disabled filter', ['--disable-filter'], '/api/v1/namespaces/default/pods/foo/exec', 'evil.com', 'POST', true],
  ])('%s', (_name, flags, path, host, method, expected) => {
    expect(accepts(filterFor(flags), method, path, host)).toBe(expected);
  });
});

describe('pathRefusal: reject-paths, then reject-methods, then accept-paths', () => {
  it.each<[string, readonly string[], string, string, string | undefined]>([
    ['default GET', [], 'GET', '/api/v1/pods', undefined],
    [
      'default exec',
      [],
      'POST',
      '/api/v1/namespaces/d/pods/p/exec',
      'the path /api/v1/namespaces/d/pods/p/exec is refused by --reject-paths',
    ],
    [
      'default attach',
      [],
      'GET',
      '/api/v1/namespaces/d/pods/p/attach',
      'the path /api/v1/namespaces/d/pods/p/attach is refused by --reject-paths',
    ],
    ['default empty method', [], '', '/api/v1/pods', 'the method  is refused by --reject-methods'],
    [
      'reject-paths before reject-methods',
      ['--reject-methods', 'POST'],
      'POST',
      '/api/v1/namespaces/d/pods/p/exec',
      'the path /api/v1/namespaces/d/pods/p/exec is refused by --reject-paths',
    ],
    [
      'reject-methods before accept-paths',
      ['--reject-methods', 'DELETE', '--accept-paths', '^/apis/'],
      'DELETE',
      '/api/v1/pods',
      'the method DELETE is refused by --reject-methods',
    ],
    [
      'accept-paths last',
      ['--accept-paths', '^/apis/'],
      'GET',
      '/api/v1/pods',
      'the path /api/v1/pods is not allowed by --accept-paths',
    ],
    [
      'reject-paths before accept-paths',
      ['--accept-paths', '^/api/v1/namespaces/d/'],
      'GET',
      '/api/v1/namespaces/d/pods/p/exec',
      'the path /api/v1/namespaces/d/pods/p/exec is refused by --reject-paths',
    ],
    [
      'reject-methods is a regular expression, unanchored',
      ['--reject-methods', 'T'],
      'GET',
      '/api/v1/pods',
      'the method GET is refused by --reject-methods',
    ],
    [
      'custom reject-paths',
      ['--reject-paths', '/secrets'],
      'GET',
      '/api/v1/namespaces/d/secrets',
      'the path /api/v1/namespaces/d/secrets is refused by --reject-paths',
    ],
    ['disabled', ['--disable-filter', '--reject-methods', 'GET'], 'GET', '/api/v1/namespaces/d/pods/p/exec', undefined],
  ])('%s', (_name, flags, method, path, expected) => {
    expect(pathRefusal(filterFor(flags), method, path)).toBe(expected);
  });
});

describe('pathRefusal sees the decoded canonical path', () => {
  it.each<[string, string, string | undefined]>([
    [
      'POST',
      '/api/v1/namespaces/d/pods/p/%65xec',
      'the path /api/v1/namespaces/d/pods/p/exec is refused by --reject-paths',
    ],
    [
      'POST',
      '/api/v1/namespaces/d/pods/p/%61ttach?stdin=true',
      'the path /api/v1/namespaces/d/pods/p/attach is refused by --reject-paths',
    ],
    [
      'POST',
      '/%61pi/v1/namespaces/d/pods/p/exec',
      'the path /api/v1/namespaces/d/pods/p/exec is refused by --reject-paths',
    ],
    ['GET', '/api/v1/namespaces/d/pods/p/log', undefined],
  ])('%s %s', (method, raw, expected) => {
    const parsed = parseRequestTarget(raw);
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(pathRefusal(DEFAULT_FILTER, method, parsed.value.decodedPath)).toBe(expected);
  });
});

describe('hostWithoutPort (kubectl extractHost, keeping IPv6 brackets)', () => {
  it.each<[string, string]>([
    ['localhost:8085', 'localhost'],
    ['marmalade', 'marmalade'],
    ['localhost', 'localhost'],
    ['127.0.0.1:8001', '127.0.0.1'],
    ['localhost:', 'localhost'],
    ['[::1]:8001', '[::1]'],
    ['[::1]', '[::1]'],
    ['[fe80::1%25eth0]:80', '[fe80::1%25eth0]'],
    ['::1', '::1'],
    ['a:b:c', 'a:b:c'],
    ['[::1', '[::1'],
    ['[::1]evil', '[::1]evil'],
    ['[::1]x:1', '[::1]x:1'],
    ['', ''],
  ])('%j', (host, expected) => {
    expect(hostWithoutPort(host)).toBe(expected);
  });
});

describe('hostRefusal: Host against --accept-hosts, then a cross-site Origin', () => {
  it.each<[string | undefined, string | undefined, string | undefined]>([
    ['localhost:8001', undefined, undefined],
    ['localhost', undefined, undefined],
    ['127.0.0.1:8001', undefined, undefined],
    ['[::1]:8001', undefined, undefined],
    ['[::1]', undefined, undefined],
    [undefined, undefined, hostProblem('')],
    ['', undefined, hostProblem('')],
    ['evil.com', undefined, hostProblem('evil.com')],
    ['evil.com:8001', undefined, hostProblem('evil.com:8001')],
    ['localhost.evil.com', undefined, hostProblem('localhost.evil.com')],
    ['127a0b0c1', undefined, hostProblem('127a0b0c1')],
    ['::1', undefined, hostProblem('::1')],
    ['Localhost:8001', undefined, hostProblem('Localhost:8001')],
    // same-site browser origins, whatever their port or scheme
    ['localhost:8001', 'http://localhost:8001', undefined],
    ['localhost:8001', 'http://localhost:3000', undefined],
    ['localhost:8001', 'https://localhost', undefined],
    ['127.0.0.1:8001', 'http://127.0.0.1:8001', undefined],
    ['[::1]:8001', 'http://[::1]:8001', undefined],
    ['localhost:8001', 'http://LOCALHOST:8001', undefined],
    // cross-site origins
    ['localhost:8001', 'https://evil.com', originProblem('https://evil.com')],
    ['localhost:8001', 'http://localhost.evil.com', originProblem('http://localhost.evil.com')],
    ['localhost:8001', 'http://127.0.0.1.nip.io', originProblem('http://127.0.0.1.nip.io')],
    ['localhost:8001', 'null', originProblem('null')],
    ['localhost:8001', '', originProblem('')],
    ['localhost:8001', 'file://', originProblem('file://')],
    ['localhost:8001', 'chrome-extension://abcdef', originProblem('chrome-extension://abcdef')],
    ['localhost:8001', 'ws://localhost:8001', originProblem('ws://localhost:8001')],
    // the Host is checked first
    ['evil.com', 'https://evil.com', hostProblem('evil.com')],
  ])('Host %j, Origin %j', (host, origin, expected) => {
    expect(hostRefusal(DEFAULT_FILTER, host, origin)).toBe(expected);
  });

  it.each<[readonly string[], string | undefined, string | undefined, string | undefined]>([
    [['--accept-hosts', '^.*$'], 'evil.com', 'https://evil.com', undefined],
    [['--accept-hosts', '^ambassador\\.local$'], 'ambassador.local:8001', 'http://ambassador.local:8001', undefined],
    [
      ['--accept-hosts', '^ambassador\\.local$'],
      'ambassador.local:8001',
      'http://localhost:8001',
      originProblem('http://localhost:8001'),
    ],
    [['--disable-filter'], undefined, 'https://evil.com', undefined],
    [['--disable-filter'], 'evil.com', 'null', undefined],
  ])('with %j: Host %j, Origin %j', (flags, host, origin, expected) => {
    expect(hostRefusal(filterFor(flags), host, origin)).toBe(expected);
  });
});
