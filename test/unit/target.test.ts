import { describe, expect, it } from 'vitest';
import { canonicalQuery, isTrueQueryFlag, parseRequestTarget, queryValue } from '../../src/request/target.ts';
import type { RequestTarget, TargetParse } from '../../src/request/target.ts';

function ok(
  path: string,
  decodedPath: string,
  segments: readonly string[],
  query: string,
  rawQuery = query,
): TargetParse {
  const target: RequestTarget = { path, decodedPath, segments, query, rawQuery };
  return { ok: true, value: target };
}

function refused(problem: string): TargetParse {
  return { ok: false, problem };
}

const SEGMENT_ESCAPED_SLASH = 'the path has a percent-encoded "/", "\\" or "."';
const DOT_SEGMENT = 'the path has a "." or ".." segment';
const MALFORMED_PATH_ESCAPE = 'the path has a malformed percent-escape';
const NOT_UTF8_PATH = 'the path has percent-escapes that are not valid UTF-8';
const NOT_UTF8_QUERY = 'the query has percent-escapes that are not valid UTF-8';
const PATH_CONTROL = 'the path has a percent-encoded control character';
const QUERY_CONTROL = 'the query has a percent-encoded control character';
const MALFORMED_QUERY_ESCAPE = 'the query has a malformed percent-escape';
const SEMICOLON = 'the query has a ";", which the API server does not accept as a separator: encode it as %3B';
const NOT_ORIGIN_FORM = 'the request target must be a path starting with "/" (origin-form)';
const EMPTY_SEGMENT = 'the path has an empty segment ("//")';

describe('parseRequestTarget accepts origin-form targets', () => {
  it.each<[string, TargetParse]>([
    ['/', ok('/', '/', [], '')],
    ['/version', ok('/version', '/version', ['version'], '')],
    ['/apis/', ok('/apis/', '/apis/', ['apis'], '')],
    ['/api/v1/pods', ok('/api/v1/pods', '/api/v1/pods', ['api', 'v1', 'pods'], '')],
    ['/api/v1/pods/', ok('/api/v1/pods/', '/api/v1/pods/', ['api', 'v1', 'pods'], '')],
    [
      '/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dweb',
      ok(
        '/api/v1/namespaces/default/pods',
        '/api/v1/namespaces/default/pods',
        ['api', 'v1', 'namespaces', 'default', 'pods'],
        'watch=1&labelSelector=app%3Dweb',
      ),
    ],
    // the query is rebuilt from the pairs Go reads in it, each side as url.QueryEscape writes it
    ['/api?a=b+c&d=%2f%3f&e=/x?y', ok('/api', '/api', ['api'], 'a=b+c&d=%2F%3F&e=%2Fx%3Fy', 'a=b+c&d=%2f%3f&e=/x?y')],
    ['/api?', ok('/api', '/api', ['api'], '')],
    ['/api?watch', ok('/api', '/api', ['api'], 'watch=', 'watch')],
    ['/api?q=caf%C3%A9', ok('/api', '/api', ['api'], 'q=caf%C3%A9')],
    // RFC 3986 pchar literals: sub-delims, ":" and "@"
    [
      "/a/b:c@d!$&'()*+,;=-._~",
      ok("/a/b:c@d!$&'()*+,;=-._~", "/a/b:c@d!$&'()*+,;=-._~", ['a', "b:c@d!$&'()*+,;=-._~"], ''),
    ],
    // dots are fine inside a segment, only "." and ".." on their own are refused
    ['/a/.b/c./...', ok('/a/.b/c./...', '/a/.b/c./...', ['a', '.b', 'c.', '...'], '')],
    // escaped segments are decoded once and re-encoded canonically
    [
      '/api/v1/namespaces/a%20b',
      ok('/api/v1/namespaces/a%20b', '/api/v1/namespaces/a b', ['api', 'v1', 'namespaces', 'a b'], ''),
    ],
    ['/a/%e2%82%ac', ok('/a/%E2%82%AC', '/a/€', ['a', '€'], '')],
    ['/a/%41%42c', ok('/a/ABc', '/a/ABc', ['a', 'ABc'], '')],
    ['/a/%3a%40', ok('/a/:@', '/a/:@', ['a', ':@'], '')],
    ['/a/x%7Ey', ok('/a/x~y', '/a/x~y', ['a', 'x~y'], '')],
    ['/a/%25', ok('/a/%25', '/a/%', ['a', '%'], '')],
    ['/a/%3F', ok('/a/%3F', '/a/?', ['a', '?'], '')],
    ['/a/%23', ok('/a/%23', '/a/#', ['a', '#'], '')],
    ['/a/%5B%5D', ok('/a/%5B%5D', '/a/[]', ['a', '[]'], '')],
    ['/api/%41/', ok('/api/A/', '/api/A/', ['api', 'A'], '')],
    // only escaped segments are rewritten; the others stay as sent
    ['/x/%61/b?z=1', ok('/x/a/b', '/x/a/b', ['x', 'a', 'b'], 'z=1')],
    ['/a/%f0%9f%98%80', ok('/a/%F0%9F%98%80', '/a/😀', ['a', '😀'], '')],
  ])('%s', (raw, expected) => {
    expect(parseRequestTarget(raw)).toEqual(expected);
  });
});

describe('parseRequestTarget refuses ambiguous or malformed targets', () => {
  it.each<[string, TargetParse]>([
    ['', refused(NOT_ORIGIN_FORM)],
    ['*', refused(NOT_ORIGIN_FORM)],
    ['api/v1/pods', refused(NOT_ORIGIN_FORM)],
    ['http://localhost:8001/api', refused(NOT_ORIGIN_FORM)],
    ['?a=b', refused(NOT_ORIGIN_FORM)],
    ['//', refused(EMPTY_SEGMENT)],
    ['//api/v1/pods', refused(EMPTY_SEGMENT)],
    ['/api//v1/pods', refused(EMPTY_SEGMENT)],
    ['/api/v1/pods//', refused(EMPTY_SEGMENT)],
    ['/.', refused(DOT_SEGMENT)],
    ['/..', refused(DOT_SEGMENT)],
    ['/api/./v1', refused(DOT_SEGMENT)],
    ['/api/v1/../v2', refused(DOT_SEGMENT)],
    ['/api/v1/pods/..', refused(DOT_SEGMENT)],
    ['/api/v1/pods/../', refused(DOT_SEGMENT)],
    ['/a/%2F', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/%2f', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/b%2Fc', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/%5C', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/%5c', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/%2E', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/%2e%2e', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/.%2e', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/x%2ey', refused(SEGMENT_ESCAPED_SLASH)],
    ['/a/%', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%4', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%4/b', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%G1', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%1g', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%%41', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%4?x', refused(MALFORMED_PATH_ESCAPE)],
    ['/a/%FF', refused(NOT_UTF8_PATH)],
    ['/a/%C3', refused(NOT_UTF8_PATH)],
    ['/a/%C3%28', refused(NOT_UTF8_PATH)],
    // overlong encoding of "." and a UTF-16 surrogate are not valid UTF-8
    ['/a/%C0%AE', refused(NOT_UTF8_PATH)],
    ['/a/%ED%A0%80', refused(NOT_UTF8_PATH)],
    ['/a/%00', refused(PATH_CONTROL)],
    ['/a/%0A', refused(PATH_CONTROL)],
    ['/a/%0d', refused(PATH_CONTROL)],
    ['/a/%1F', refused(PATH_CONTROL)],
    ['/a/%7F', refused(PATH_CONTROL)],
    ['/a/b c', refused('the path has a character that must be percent-encoded (code point U+0020)')],
    ['/a/b\tc', refused('the path has a character that must be percent-encoded (code point U+0009)')],
    ['/a/b\u0000', refused('the path has a character that must be percent-encoded (code point U+0000)')],
    ['/a/b\u007f', refused('the path has a character that must be percent-encoded (code point U+007F)')],
    ['/a/\\b', refused('the path has a character that must be percent-encoded ("\\")')],
    ['/a#frag', refused('the path has a character that must be percent-encoded ("#")')],
    ['/a/[::1]', refused('the path has a character that must be percent-encoded ("[")')],
    ['/a/"q"', refused('the path has a character that must be percent-encoded (""")')],
    ['/a/<b>', refused('the path has a character that must be percent-encoded ("<")')],
    ['/a/b|c', refused('the path has a character that must be percent-encoded ("|")')],
    ['/a/é', refused('the path has a character that must be percent-encoded (code point U+00E9)')],
    ['/a?b#c', refused('the query has a character that must be percent-encoded ("#")')],
    ['/a?b c', refused('the query has a character that must be percent-encoded (code point U+0020)')],
    ['/a?x=[1]', refused('the query has a character that must be percent-encoded ("[")')],
    ['/a?x=\\', refused('the query has a character that must be percent-encoded ("\\")')],
    ['/a?x=é', refused('the query has a character that must be percent-encoded (code point U+00E9)')],
    ['/a?watch=1;x=2', refused(SEMICOLON)],
    ['/a?;', refused(SEMICOLON)],
    ['/a?%', refused(MALFORMED_QUERY_ESCAPE)],
    ['/a?x=%4', refused(MALFORMED_QUERY_ESCAPE)],
    ['/a?x=%zz', refused(MALFORMED_QUERY_ESCAPE)],
    ['/a?x=%00', refused(QUERY_CONTROL)],
    ['/a?x=%0a', refused(QUERY_CONTROL)],
    ['/a?x=%7f', refused(QUERY_CONTROL)],
    ['/a?x=%FF', refused(NOT_UTF8_QUERY)],
    ['/a?x=%C3', refused(NOT_UTF8_QUERY)],
  ])('%j', (raw, expected) => {
    expect(parseRequestTarget(raw)).toEqual(expected);
  });
});

describe('canonicalQuery: the pairs url.ParseQuery reads, re-encoded as url.QueryEscape does, in order', () => {
  it.each<[string, string, string]>([
    ['watch=1&resourceVersion=10', 'watch=1&resourceVersion=10', 'already canonical: returned as it is'],
    ['', '', 'no query'],
    ['watch', 'watch=', 'a key without "=" has the empty value'],
    ['a=1&&b=2&', 'a=1&b=2', 'parseQuery skips empty pairs'],
    ['labelSelector=app%3dweb', 'labelSelector=app%3Dweb', 'escapes are upper-cased'],
    ['labelSelector=app=web', 'labelSelector=app%3Dweb', 'a pair splits at its first "=": later ones are the value\'s'],
    ['labelSelector=+', 'labelSelector=+', '"+" is a space, and a space is written "+"'],
    ['labelSelector=%20', 'labelSelector=+', '%20 is the same space'],
    ['dry%52un=%41ll', 'dryRun=All', 'escaped letters are decoded: the API server reads dryRun=All'],
    ['q=caf%C3%A9', 'q=caf%C3%A9', 'UTF-8 escapes stay escaped'],
    ['=x', '=x', 'an empty key is kept, as parseQuery keeps it'],
    ['a=%2B', 'a=%2B', 'an escaped "+" stays a literal plus'],
    [
      'command=sh&command=-c&command=echo%20hi',
      'command=sh&command=-c&command=echo+hi',
      'repeated keys keep their order',
    ],
    ["x=!$'()*,:@/?", 'x=%21%24%27%28%29%2A%2C%3A%40%2F%3F', 'sub-delims are escaped as QueryEscape does'],
  ])('%j → %j (%s)', (raw, canonical) => {
    expect(canonicalQuery(raw)).toBe(canonical);
    expect(canonicalQuery(canonical)).toBe(canonical);
  });
});

describe('queryValue (first value, form-decoded like url.ParseQuery)', () => {
  it.each<[string, string, string | undefined]>([
    ['', 'watch', undefined],
    ['watch', 'watch', ''],
    ['watch=', 'watch', ''],
    ['watch=true', 'watch', 'true'],
    ['a=1&watch=0', 'watch', '0'],
    ['watch=false&watch=true', 'watch', 'false'],
    ['watch=true&watch=false', 'watch', 'true'],
    ['watchx=1', 'watch', undefined],
    ['xwatch=1', 'watch', undefined],
    ['Watch=1', 'watch', undefined],
    ['a=1&&watch=2', 'watch', '2'],
    ['wat%63h=yes', 'watch', 'yes'],
    ['fieldSelector=metadata.name%3Dfoo', 'fieldSelector', 'metadata.name=foo'],
    ['fieldSelector=metadata.name=foo', 'fieldSelector', 'metadata.name=foo'],
    ['q=a+b%20c', 'q', 'a b c'],
    ['q=%2B', 'q', '+'],
    ['a+b=1', 'a b', '1'],
    ['q=caf%C3%A9', 'q', 'café'],
    ['q=x&q=y', 'q', 'x'],
    ['=v&q=1', '', 'v'],
    ['q=1=2', 'q', '1=2'],
  ])('%j, %j', (query, name, expected) => {
    expect(queryValue(query, name)).toBe(expected);
  });
});

describe('isTrueQueryFlag (apimachinery Convert_Slice_string_To_bool)', () => {
  it.each<[string, boolean]>([
    ['', false],
    ['other=1', false],
    ['watch', true],
    ['watch=', true],
    ['watch=1', true],
    ['watch=true', true],
    ['watch=TRUE', true],
    ['watch=yes', true],
    ['watch=no', true],
    ['watch=00', true],
    ['watch=off', true],
    ['watch=%20false', true],
    ['watch=0', false],
    ['watch=false', false],
    ['watch=FALSE', false],
    ['watch=False', false],
    ['watch=fAlSe', false],
    ['watch=%46alse', false],
    ['watch=0&watch=1', false],
    ['watch=1&watch=0', true],
    ['watch=false&watch=true', false],
    ['wat%63h=1', true],
    ['watch=fal%C5%BFe', false], // strings.EqualFold: the long s folds to s
    ['watch=FAL%C5%BFE', false],
    ['watch=f', true], // not strconv.ParseBool: "f" is true
    ['watch=fals', true],
  ])('%j', (query, expected) => {
    expect(isTrueQueryFlag(query, 'watch')).toBe(expected);
  });
});
