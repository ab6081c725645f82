/**
 * Strict, single parse of an HTTP request target into the canonical path that every later decision
 * reads and that is forwarded verbatim, so the allow-list can never disagree with the API server.
 *
 * Accepted: origin-form `/seg/seg?query` (RFC 9112 §3.2.1) whose segments are RFC 3986 `pchar`s.
 * Refused: anything else, and every spelling the API server could read differently from us —
 * `//`, `.`/`..` segments, percent-encoded `/`, `\` or `.`, malformed or non-UTF-8 escapes,
 * control characters, fragments, and `;` in the query (Go's ParseQuery drops such pairs).
 * The query is rebuilt from the pairs it was read as (see `canonicalQuery`), so the API server
 * parses exactly the pairs every decision here read.
 */
import { failure, success, type Result } from '../config/result.ts';

export interface RequestTarget {
  /** Canonical percent-encoded path; forwarded as is. */
  readonly path: string;
  /** The same path decoded once, joined with `/`; what kubectl-style path filters match. */
  readonly decodedPath: string;
  /** Decoded segments, without the empty ones that a leading or trailing `/` would give. */
  readonly segments: readonly string[];
  /** The query without the `?`, rebuilt from its pairs (`canonicalQuery`); `''` when absent. */
  readonly query: string;
  /** The query as the client sent it, validated; forwarded only where the API server does not read it. */
  readonly rawQuery: string;
}

export type TargetParse = Result<RequestTarget>;

/** Characters RFC 3986 allows literally in a path segment: unreserved, sub-delims, `:` and `@`. */
const SEGMENT_LITERAL = charTable("-._~!$&'()*+,;=:@");
/** Characters allowed literally in a query: pchar plus `/` and `?`, minus `;` (see above). */
const QUERY_LITERAL = charTable("-._~!$&'()*+,=:@/?");
/** RFC 3986 unreserved characters: all that Go's `url.QueryEscape` leaves as they are. */
const UNRESERVED = charTable('-._~');
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();
const HEX_DIGITS = '0123456789ABCDEF';
const PERCENT = 0x25;
const AMPERSAND = 0x26;
const EQUALS = 0x3d;

function charTable(extra: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) table[c] = 1;
  for (let c = 65; c <= 90; c++) table[c] = 1;
  for (let c = 97; c <= 122; c++) table[c] = 1;
  for (const ch of extra) table[ch.charCodeAt(0)] = 1;
  return table;
}

export function parseRequestTarget(raw: string): TargetParse {
  if (raw.charCodeAt(0) !== 0x2f) {
    return failure('the request target must be a path starting with "/" (origin-form)');
  }
  const queryStart = raw.indexOf('?');
  const rawPath = queryStart === -1 ? raw : raw.slice(0, queryStart);
  const query = queryStart === -1 ? '' : raw.slice(queryStart + 1);

  const segments: string[] = [];
  let canonical = '';
  let hasEscapes = false;
  let start = 1;
  while (start <= rawPath.length) {
    let end = rawPath.indexOf('/', start);
    if (end === -1) end = rawPath.length;
    if (end === start) {
      if (end === rawPath.length) break; // one trailing "/", as in "/" or "/apis/"
      return failure('the path has an empty segment ("//")');
    }
    const problem = segmentProblem(rawPath, start, end);
    if (problem !== undefined) return failure(problem);
    const rawSegment = rawPath.slice(start, end);
    const escaped = rawSegment.includes('%');
    const decoded = escaped ? decodeEscapedSegment(rawSegment) : rawSegment;
    if (decoded === undefined) return failure('the path has percent-escapes that are not valid UTF-8');
    if (decoded === '.' || decoded === '..') {
      return failure('the path has a "." or ".." segment');
    }
    if (escaped) hasEscapes = true;
    segments.push(decoded);
    canonical += '/' + (escaped ? encodeSegment(decoded) : rawSegment);
    start = end + 1;
  }
  const trailingSlash = rawPath.length > 1 && rawPath.charCodeAt(rawPath.length - 1) === 0x2f;
  const queryProblem = checkQuery(query);
  if (queryProblem !== undefined) return failure(queryProblem);

  const path = hasEscapes ? canonical + (trailingSlash ? '/' : '') : rawPath;
  const decodedPath = '/' + segments.join('/') + (trailingSlash ? '/' : '');
  return success({ path, decodedPath, segments, query: canonicalQuery(query), rawQuery: query });
}

/** Why the segment at [start, end) is refused, or undefined when its characters and escapes are all allowed. */
function segmentProblem(raw: string, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === PERCENT) {
      const byte = hexByte(raw, i + 1);
      if (byte === -1) return 'the path has a malformed percent-escape';
      if (byte === 0x2f || byte === 0x5c || byte === 0x2e) return 'the path has a percent-encoded "/", "\\" or "."';
      if (byte < 0x20 || byte === 0x7f) return 'the path has a percent-encoded control character';
      i += 2;
    } else if (!(c < 128 && SEGMENT_LITERAL[c] === 1)) {
      return `the path has a character that must be percent-encoded (${describeChar(c)})`;
    }
  }
  return undefined;
}

/** Decodes a segment that passed `segmentProblem` once; undefined when its escapes are not UTF-8. */
function decodeEscapedSegment(segment: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === PERCENT) {
      bytes.push(hexByte(segment, i + 1));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  try {
    return UTF8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

function hexByte(raw: string, at: number): number {
  const hi = raw.charCodeAt(at);
  const lo = raw.charCodeAt(at + 1);
  if (!(hi < 128 && lo < 128)) return -1;
  const h = HEX_VALUE[hi] ?? -1;
  const l = HEX_VALUE[lo] ?? -1;
  return h === -1 || l === -1 ? -1 : (h << 4) | l;
}

/** Percent-encodes everything but RFC 3986 segment literals, with upper-case hex. */
function encodeSegment(decoded: string): string {
  let out = '';
  for (const byte of UTF8_ENCODER.encode(decoded)) {
    if (byte < 128 && SEGMENT_LITERAL[byte] === 1) out += String.fromCharCode(byte);
    else out += '%' + HEX_DIGITS.charAt(byte >> 4) + HEX_DIGITS.charAt(byte & 15);
  }
  return out;
}

function checkQuery(query: string): string | undefined {
  let hasEscapes = false;
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c === PERCENT) {
      const byte = hexByte(query, i + 1);
      if (byte === -1) return 'the query has a malformed percent-escape';
      if (byte < 0x20 || byte === 0x7f) return 'the query has a percent-encoded control character';
      hasEscapes = true;
      i += 2;
    } else if (c === 0x3b) {
      return 'the query has a ";", which the API server does not accept as a separator: encode it as %3B';
    } else if (!(c < 128 && QUERY_LITERAL[c] === 1)) {
      return `the query has a character that must be percent-encoded (${describeChar(c)})`;
    }
  }
  if (hasEscapes) {
    try {
      decodeURIComponent(query);
    } catch {
      return 'the query has percent-escapes that are not valid UTF-8';
    }
  }
  return undefined;
}

/**
 * The query rebuilt from the pairs Go's `url.ParseQuery` reads in it (net/url `parseQuery`: split
 * on `&`, empty pairs skipped, split at the first `=`, both sides `QueryUnescape`d), in order, each
 * key and value re-encoded as `url.QueryEscape` does (every byte but `A-Za-z0-9-_.~` escaped, space
 * as `+`). Any two parsers that agree with Go on the rebuilt form (ours does) read the same pairs.
 * A query already in that form is returned as it is, without allocating.
 */
export function canonicalQuery(query: string): string {
  if (isCanonicalQuery(query)) return query;
  let out = '';
  for (let start = 0; start < query.length;) {
    const end = pairEnd(query, start);
    if (end > start) {
      const eq = query.indexOf('=', start);
      const keyEnd = eq === -1 || eq > end ? end : eq;
      const key = queryEscape(formDecode(query.slice(start, keyEnd)));
      const value = keyEnd === end ? '' : queryEscape(formDecode(query.slice(keyEnd + 1, end)));
      out += (out === '' ? '' : '&') + key + '=' + value;
    }
    start = end + 1;
  }
  return out;
}

/** Whether every pair is `key=value` of unreserved characters only: then the query is its own rebuild. */
function isCanonicalQuery(query: string): boolean {
  let pairStart = 0;
  let equals = -1;
  for (let i = 0; i <= query.length; i++) {
    const c = i === query.length ? AMPERSAND : query.charCodeAt(i);
    if (c === AMPERSAND) {
      if (equals === -1 || i === pairStart) return query.length === 0;
      pairStart = i + 1;
      equals = -1;
    } else if (c === EQUALS) {
      if (equals !== -1) return false;
      equals = i;
    } else if (!(c < 128 && UNRESERVED[c] === 1)) {
      return false;
    }
  }
  return true;
}

/** Go's `url.QueryEscape`. */
function queryEscape(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length && plain; i++) {
    const c = text.charCodeAt(i);
    plain = c < 128 && UNRESERVED[c] === 1;
  }
  if (plain) return text;
  let out = '';
  for (const byte of UTF8_ENCODER.encode(text)) {
    if (byte < 128 && UNRESERVED[byte] === 1) out += String.fromCharCode(byte);
    else if (byte === 0x20) out += '+';
    else out += '%' + HEX_DIGITS.charAt(byte >> 4) + HEX_DIGITS.charAt(byte & 15);
  }
  return out;
}

function describeChar(c: number): string {
  return c > 0x20 && c < 0x7f
    ? `"${String.fromCharCode(c)}"`
    : `code point U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The first value of a query parameter, form-decoded as Go's `url.ParseQuery` does (`+` is a space),
 * or `undefined` when absent. The query must have passed `parseRequestTarget`.
 */
export function queryValue(query: string, name: string): string | undefined {
  for (let start = 0; start <= query.length;) {
    const end = pairEnd(query, start);
    const value = pairValue(query, start, end, name);
    if (value !== undefined) return value;
    start = end + 1;
  }
  return undefined;
}

/** Every value of a query parameter, in order (exec's repeated `command=`, say). */
export function queryValues(query: string, name: string): string[] {
  const values: string[] = [];
  for (let start = 0; start <= query.length;) {
    const end = pairEnd(query, start);
    const value = pairValue(query, start, end, name);
    if (value !== undefined) values.push(value);
    start = end + 1;
  }
  return values;
}

function pairEnd(query: string, start: number): number {
  const end = query.indexOf('&', start);
  return end === -1 ? query.length : end;
}

/** The decoded value of the `key=value` pair at [start, end) if its key is `name`. */
function pairValue(query: string, start: number, end: number, name: string): string | undefined {
  const eq = query.indexOf('=', start);
  const keyEnd = eq === -1 || eq > end ? end : eq;
  if (formDecode(query.slice(start, keyEnd)) !== name) return undefined;
  return keyEnd === end ? '' : formDecode(query.slice(keyEnd + 1, end));
}

function formDecode(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  return decodeURIComponent(text.replaceAll('+', ' '));
}

/**
 * Kubernetes' boolean query rule (apimachinery `runtime.Convert_Slice_string_To_bool`): only an
 * absent parameter, `0` or `false` under Go's `strings.EqualFold` is false; `?watch`, `watch=1`,
 * `watch=yes` are true.
 */
export function isTrueQueryFlag(query: string, name: string): boolean {
  const value = queryValue(query, name);
  return value !== undefined && isTrueQueryValue(value);
}

/** `Convert_Slice_string_To_bool` on one value. */
function isTrueQueryValue(value: string): boolean {
  return !(value === '0' || equalFoldFalse(value));
}

/**
 * Go's `strings.EqualFold(value, "false")`: Unicode simple case folding, under which the long s
 * `ſ` (U+017F) folds to `s`, so `falſe` is false too. No other character folds to a letter of
 * "false" (the Kelvin sign folds to k, the Angstrom sign to å).
 */
function equalFoldFalse(value: string): boolean {
  return value.length === 5 && value.toLowerCase().replaceAll('\u017f', 's') === 'false';
}
