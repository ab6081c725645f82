import { describe, expect, it } from 'vitest';
import { loggedBody, REDACTED, type LoggedBody } from '../../src/audit/redact.ts';
import { BodyCapture } from '../../src/proxy/body-capture.ts';
import { resolveAttributes, type RequestAttributes } from '../../src/request/attributes.ts';
import { parseRequestTarget } from '../../src/request/target.ts';

const PASSWORD = 'cGFzc3dvcmQtMTIz'; // base64 of password-123
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function attributesOf(method: string, raw: string): RequestAttributes {
  const parsed = parseRequestTarget(raw);
  if (!parsed.ok) throw new Error(parsed.problem);
  return resolveAttributes(method, parsed.target);
}

function capture(body: string | Buffer, contentType: string | undefined, contentEncoding?: string, limit = 65_536): BodyCapture {
  const captured = new BodyCapture(limit, contentType, contentEncoding);
  const bytes = Buffer.from(body);
  // In two chunks, as a body arrives from a socket.
  captured.add(bytes.subarray(0, bytes.length >> 1));
  captured.add(bytes.subarray(bytes.length >> 1));
  return captured;
}

function logged(method: string, raw: string, body: unknown, omitManagedFields = false): unknown {
  const result = loggedBody(capture(JSON.stringify(body), 'application/json'), attributesOf(method, raw), omitManagedFields);
  if (!('json' in result)) throw new Error(`omitted: ${result.omitted}`);
  return JSON.parse(result.json);
}

const SECRET = {
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: {
    name: 'db',
    namespace: 'team-a',
    labels: { app: 'db' },
    annotations: { [LAST_APPLIED]: `{"data":{"password":"${PASSWORD}"}}`, owner: 'team-a' },
  },
  type: 'Opaque',
  data: { password: PASSWORD, user: 'YWRtaW4=' },
  stringData: { extra: 'password-123' },
};

const REDACTED_SECRET = {
  ...SECRET,
  metadata: { ...SECRET.metadata, annotations: { [LAST_APPLIED]: REDACTED, owner: 'team-a' } },
  data: { password: REDACTED, user: REDACTED },
  stringData: { extra: REDACTED },
};

const { kind: _kind, apiVersion: _apiVersion, ...SECRET_WITHOUT_TYPE } = SECRET;
const { kind: _kind2, apiVersion: _apiVersion2, ...REDACTED_WITHOUT_TYPE } = REDACTED_SECRET;

describe('loggedBody: secret values never reach the log', () => {
  it.each<[string, string, string, unknown, unknown]>([
    ['a Secret created', 'POST', '/api/v1/namespaces/team-a/secrets', SECRET, REDACTED_SECRET],
    ['a Secret read', 'GET', '/api/v1/namespaces/team-a/secrets/db', SECRET, REDACTED_SECRET],
    [
      'a SecretList, whose items carry no kind',
      'GET',
      '/api/v1/namespaces/team-a/secrets',
      { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [SECRET_WITHOUT_TYPE, SECRET_WITHOUT_TYPE] },
      { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [REDACTED_WITHOUT_TYPE, REDACTED_WITHOUT_TYPE] },
    ],
    [
      'a merge patch to a Secret (no kind)',
      'PATCH',
      '/api/v1/namespaces/team-a/secrets/db',
      { data: { password: PASSWORD }, metadata: { labels: { rotated: 'yes' } } },
      { data: { password: REDACTED }, metadata: { labels: { rotated: 'yes' } } },
    ],
    [
      'a JSON patch to a Secret',
      'PATCH',
      '/api/v1/namespaces/team-a/secrets/db',
      [
        { op: 'replace', path: '/data/password', value: PASSWORD },
        { op: 'add', path: '/stringData', value: { extra: 'password-123' } },
      ],
      [
        { op: 'replace', path: '/data/password', value: REDACTED },
        { op: 'add', path: '/stringData', value: { extra: REDACTED } },
      ],
    ],
    [
      'a metadata-only list of Secrets (kubectl get secrets), whose annotations hold the last applied Secret',
      'GET',
      '/api/v1/namespaces/team-a/secrets',
      { kind: 'PartialObjectMetadataList', items: [{ metadata: SECRET.metadata }] },
      { kind: 'PartialObjectMetadataList', items: [{ metadata: REDACTED_SECRET.metadata }] },
    ],
    [
      'a Table of Secrets with the objects included',
      'GET',
      '/api/v1/namespaces/team-a/secrets',
      { kind: 'Table', rows: [{ cells: ['db', 'Opaque', 2], object: SECRET }] },
      { kind: 'Table', rows: [{ cells: ['db', 'Opaque', 2], object: REDACTED_SECRET }] },
    ],
    [
      'a Secret inside another resource\'s body',
      'POST',
      '/api/v1/namespaces/team-a/configmaps',
      { kind: 'List', items: [SECRET, { kind: 'ConfigMap', data: { color: 'blue' } }] },
      { kind: 'List', items: [REDACTED_SECRET, { kind: 'ConfigMap', data: { color: 'blue' } }] },
    ],
    [
      'a ConfigMap is not a secret',
      'POST',
      '/api/v1/namespaces/team-a/configmaps',
      { kind: 'ConfigMap', metadata: { name: 'c', annotations: { [LAST_APPLIED]: '{}' } }, data: { color: 'blue' } },
      { kind: 'ConfigMap', metadata: { name: 'c', annotations: { [LAST_APPLIED]: '{}' } }, data: { color: 'blue' } },
    ],
  ])('%s', (_, method, raw, body, expected) => {
    expect(logged(method, raw, body)).toEqual(expected);
  });

  it.each<[string, string, string, unknown]>([
    ['a TokenRequest', 'POST', '/api/v1/namespaces/team-a/serviceaccounts/app/token', { kind: 'TokenRequest', status: { token: TOKEN } }],
    ['a TokenReview', 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', { kind: 'TokenReview', spec: { token: TOKEN } }],
    ['a TokenReview sent elsewhere', 'POST', '/api/v1/namespaces/team-a/configmaps', { kind: 'TokenReview', spec: { token: TOKEN } }],
    ['a token request without a kind', 'POST', '/api/v1/namespaces/team-a/serviceaccounts/app/token', { spec: { audiences: ['x'] } }],
  ])('leaves out %s entirely', (_, method, raw, body) => {
    expect(loggedBody(capture(JSON.stringify(body), 'application/json'), attributesOf(method, raw), false)).toEqual({
      omitted: 'redacted: token requests and reviews carry tokens',
    });
  });
});

describe('loggedBody: what cannot be redacted is not logged', () => {
  const configMaps = attributesOf('POST', '/api/v1/namespaces/team-a/configmaps');

  it.each<[string, BodyCapture, LoggedBody]>([
    ['past the size limit', capture(JSON.stringify({ data: { a: 'x'.repeat(100) } }), 'application/json', undefined, 64), { omitted: '117 bytes, over --audit-max-body-bytes=64', truncated: true }],
    ['gzip-encoded', capture('{}', 'application/json', 'gzip'), { omitted: 'gzip-encoded' }],
    ['protobuf', capture('k8s\0…', 'application/vnd.kubernetes.protobuf'), { omitted: 'not JSON (application/vnd.kubernetes.protobuf)' }],
    ['CBOR', capture('\xd9\xd9\xf7', 'application/cbor'), { omitted: 'not JSON (application/cbor)' }],
    ['YAML', capture('kind: Secret\ndata: {}\n', 'application/apply-patch+yaml'), { omitted: 'not JSON (application/apply-patch+yaml)' }],
    ['no content type and not JSON', capture('hello', undefined), { omitted: 'not JSON (no content type)' }],
  ])('%s', (_, captured, expected) => {
    expect(loggedBody(captured, configMaps, false)).toEqual(expected);
  });

  it('logs JSON sent as server-side apply (apply-patch+yaml is usually JSON)', () => {
    expect(loggedBody(capture('{"kind":"ConfigMap"}', 'application/apply-patch+yaml'), configMaps, false)).toEqual({ json: '{"kind":"ConfigMap"}' });
  });

  it('keeps nothing once past the limit, but counts every byte', () => {
    const captured = capture('x'.repeat(200), 'application/json', undefined, 100);
    expect(captured.truncated).toBe(true);
    expect(captured.bytes).toBe(200);
    expect(captured.text()).toBeUndefined();
  });
});

describe('loggedBody: omitManagedFields', () => {
  const managed = { metadata: { name: 'c', managedFields: [{ manager: 'kubectl' }] }, data: {} };

  it('removes managedFields from an object and from each item of a list', () => {
    expect(logged('POST', '/api/v1/namespaces/x/configmaps', managed, true)).toEqual({ metadata: { name: 'c' }, data: {} });
    expect(logged('GET', '/api/v1/namespaces/x/configmaps', { kind: 'ConfigMapList', metadata: {}, items: [managed] }, true)).toEqual({
      kind: 'ConfigMapList',
      metadata: {},
      items: [{ metadata: { name: 'c' }, data: {} }],
    });
  });

  it('keeps them otherwise', () => {
    expect(logged('POST', '/api/v1/namespaces/x/configmaps', managed, false)).toEqual(managed);
  });
});
