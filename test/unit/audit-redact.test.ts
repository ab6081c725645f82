import { describe, expect, it } from 'vitest';
import { loggedBody, REDACTED, type LoggedBody } from '../../src/audit/redact.ts';
import { BodyCapture } from '../../src/request/body-capture.ts';
import { attributesOf } from '../support/requests.ts';

const PASSWORD = 'cGFzc3dvcmQtMTIz'; // base64 of password-123
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function capture(
  body: string | Buffer,
  contentType: string | undefined,
  contentEncoding?: string,
  limit = 65_536,
): BodyCapture {
  const captured = new BodyCapture(limit, contentType, contentEncoding);
  const bytes = Buffer.from(body);
  // In two chunks, as a body arrives from a socket.
  captured.add(bytes.subarray(0, bytes.length >> 1));
  captured.add(bytes.subarray(bytes.length >> 1));
  return captured;
}

function logged(method: string, raw: string, body: unknown, omitManagedFields = false): unknown {
  const result = loggedBody(
    capture(JSON.stringify(body), 'application/json'),
    attributesOf(method, raw),
    omitManagedFields,
  );
  if (!('json' in result)) throw new Error(`omitted: ${result.omitted}`);
  return JSON.parse(result.json);
}

/** A Secret as a SecretList's items carry it: without kind and apiVersion. */
const SECRET_WITHOUT_TYPE = {
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

const REDACTED_WITHOUT_TYPE = {
  ...SECRET_WITHOUT_TYPE,
  metadata: { ...SECRET_WITHOUT_TYPE.metadata, annotations: { [LAST_APPLIED]: REDACTED, owner: 'team-a' } },
  data: { password: REDACTED, user: REDACTED },
  stringData: { extra: REDACTED },
};

const SECRET = { kind: 'Secret', apiVersion: 'v1', ...SECRET_WITHOUT_TYPE };
const REDACTED_SECRET = { kind: 'Secret', apiVersion: 'v1', ...REDACTED_WITHOUT_TYPE };

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
      "a Secret inside another resource's body",
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
    [
      'a TokenRequest',
      'POST',
      '/api/v1/namespaces/team-a/serviceaccounts/app/token',
      { kind: 'TokenRequest', status: { token: TOKEN } },
    ],
    [
      'a TokenReview',
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      { kind: 'TokenReview', spec: { token: TOKEN } },
    ],
    [
      'a TokenReview sent elsewhere',
      'POST',
      '/api/v1/namespaces/team-a/configmaps',
      { kind: 'TokenReview', spec: { token: TOKEN } },
    ],
    [
      'a token request without a kind',
      'POST',
      '/api/v1/namespaces/team-a/serviceaccounts/app/token',
      { spec: { audiences: ['x'] } },
    ],
  ])('leaves out %s entirely', (_, method, raw, body) => {
    expect(loggedBody(capture(JSON.stringify(body), 'application/json'), attributesOf(method, raw), false)).toEqual({
      omitted: 'redacted: token requests and reviews carry tokens',
    });
  });
});

/** What the log shows of a body sent as this exact text (duplicate keys, odd spellings). */
function loggedText(method: string, raw: string, text: string, contentType = 'application/json'): LoggedBody {
  return loggedBody(capture(text, contentType), attributesOf(method, raw), false);
}

const SECRETS = '/api/v1/namespaces/team-a/secrets';
const CONFIG_MAPS = '/api/v1/namespaces/team-a/configmaps';

describe("loggedBody: a Secret's values are hidden however its fields are spelled", () => {
  // kube-apiserver reads a Secret's data only from `data` and `stringData`, spelled exactly (see
  // redact.ts), and drops or refuses any other spelling; the log hides them all the same, and every
  // field of a Secret not known to hold no secret.
  it.each<[string, string, string, string, LoggedBody]>([
    [
      '"Data" and "StringData"',
      'POST',
      SECRETS,
      `{"kind":"Secret","metadata":{"name":"db"},"Data":{"password":"${PASSWORD}"},"StringData":{"extra":"password-123"}}`,
      {
        json: `{"kind":"Secret","metadata":{"name":"db"},"Data":{"password":"${REDACTED}"},"StringData":{"extra":"${REDACTED}"}}`,
      },
    ],
    [
      '"DATA", and "ſtringData" with a long s (which Go\'s case-insensitive decoding matched to stringData)',
      'PUT',
      `${SECRETS}/db`,
      `{"kind":"Secret","DATA":{"password":"${PASSWORD}"},"\u017ftringData":{"extra":"password-123"}}`,
      { json: `{"kind":"Secret","DATA":{"password":"${REDACTED}"},"\u017ftringData":{"extra":"${REDACTED}"}}` },
    ],
    [
      'fields a Secret does not have, and data that is not an object',
      'POST',
      SECRETS,
      `{"kind":"Secret","binaryData":{"key":"${PASSWORD}"},"password":"password-123","data":["${PASSWORD}"],"type":"Opaque","immutable":true}`,
      {
        json: `{"kind":"Secret","binaryData":{"key":"${REDACTED}"},"password":"${REDACTED}","data":"${REDACTED}","type":"Opaque","immutable":true}`,
      },
    ],
    [
      'a duplicated "data" (the API server keeps the last; the log shows neither)',
      'POST',
      SECRETS,
      `{"kind":"Secret","data":{"password":"${PASSWORD}"},"data":{"user":"password-123"}}`,
      { json: `{"kind":"Secret","data":{"user":"${REDACTED}"}}` },
    ],
    [
      'annotations that are not a map',
      'POST',
      SECRETS,
      `{"metadata":{"name":"db","annotations":"${PASSWORD}"}}`,
      { json: `{"metadata":{"name":"db","annotations":"${REDACTED}"}}` },
    ],
    ['a bare string', 'POST', SECRETS, `"${PASSWORD}"`, { json: `"${REDACTED}"` }],
    [
      'an array of strings',
      'PATCH',
      `${SECRETS}/db`,
      `["${PASSWORD}",{"op":"remove","path":"/data/user"}]`,
      { json: `["${REDACTED}",{"op":"remove","path":"/data/user"}]` },
    ],
    [
      'a key named __proto__',
      'POST',
      SECRETS,
      `{"kind":"Secret","__proto__":{"password":"${PASSWORD}"}}`,
      { json: `{"kind":"Secret","__proto__":{"password":"${REDACTED}"}}` },
    ],
    [
      'a JSON patch whose value is spelled "Value"',
      'PATCH',
      `${SECRETS}/db`,
      `[{"op":"test","path":"/data/password","value":"${PASSWORD}"},{"op":"add","path":"/data/user","Value":"${PASSWORD}"}]`,
      {
        json: `[{"op":"test","path":"/data/password","value":"${REDACTED}"},{"op":"add","path":"/data/user","Value":"${REDACTED}"}]`,
      },
    ],
    [
      'a Secret with "Kind" and "Data", inside another resource\'s body (Go reads the kind case-insensitively)',
      'POST',
      CONFIG_MAPS,
      `{"kind":"List","items":[{"Kind":"Secret","Data":{"password":"${PASSWORD}"}},{"\u212aind":"Secret","StringData":{"extra":"password-123"}},{"kind":"secret","data":{"password":"${PASSWORD}"}}]}`,
      {
        // A Secret shows only fields spelled as the API server spells them: "Kind" loses its value too.
        json: `{"kind":"List","items":[{"Kind":"${REDACTED}","Data":{"password":"${REDACTED}"}},{"\u212aind":"${REDACTED}","StringData":{"extra":"${REDACTED}"}},{"kind":"secret","data":{"password":"${REDACTED}"}}]}`,
      },
    ],
    [
      'a service account token Secret',
      'GET',
      `${SECRETS}/app-token`,
      `{"kind":"Secret","type":"kubernetes.io/service-account-token","metadata":{"annotations":{"kubernetes.io/service-account.name":"app"}},"data":{"token":"${TOKEN}","ca.crt":"LS0t","namespace":"dGVhbS1h"}}`,
      {
        json: `{"kind":"Secret","type":"kubernetes.io/service-account-token","metadata":{"annotations":{"kubernetes.io/service-account.name":"app"}},"data":{"token":"${REDACTED}","ca.crt":"${REDACTED}","namespace":"${REDACTED}"}}`,
      },
    ],
    [
      "managedFields, which name a Secret's keys but hold none of its values",
      'GET',
      `${SECRETS}/db`,
      `{"kind":"Secret","metadata":{"managedFields":[{"manager":"kubectl","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:password":{}}}}]},"data":{"password":"${PASSWORD}"}}`,
      {
        json: `{"kind":"Secret","metadata":{"managedFields":[{"manager":"kubectl","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:password":{}}}}]},"data":{"password":"${REDACTED}"}}`,
      },
    ],
    [
      'an error about a Secret, whose messages can quote what it was sent',
      'PUT',
      `${SECRETS}/db`,
      `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Secret \\"db\\" is invalid: type: Invalid value: \\"${PASSWORD}\\": field is immutable","reason":"Invalid","details":{"name":"db","kind":"secrets","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \\"${PASSWORD}\\": field is immutable","field":"type"}]},"code":422}`,
      {
        json: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"${REDACTED}","reason":"Invalid","details":{"name":"db","kind":"secrets","causes":[{"reason":"FieldValueInvalid","message":"${REDACTED}","field":"type"}]},"code":422}`,
      },
    ],
    [
      'delete options, which hold no secret',
      'DELETE',
      `${SECRETS}/db`,
      '{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0,"propagationPolicy":"Foreground","preconditions":{"uid":"u-1","resourceVersion":"7"},"dryRun":["All"]}',
      {
        json: '{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0,"propagationPolicy":"Foreground","preconditions":{"uid":"u-1","resourceVersion":"7"},"dryRun":["All"]}',
      },
    ],
  ])('%s', (_, method, raw, text, expected) => {
    expect(loggedText(method, raw, text)).toEqual(expected);
  });

  it.each<[string, string, string, string]>([
    [
      'a TokenRequest nested in a list',
      'POST',
      CONFIG_MAPS,
      `{"kind":"List","items":[{"kind":"TokenRequest","status":{"token":"${TOKEN}"}}]}`,
    ],
    [
      'a TokenReview with its kind spelled "Kind"',
      'POST',
      CONFIG_MAPS,
      `{"Kind":"TokenReview","spec":{"token":"${TOKEN}"}}`,
    ],
    ['a token review spelled in lower case', 'POST', CONFIG_MAPS, `{"kind":"tokenreview","spec":{"token":"${TOKEN}"}}`],
  ])('leaves out %s entirely', (_, method, raw, text) => {
    expect(loggedText(method, raw, text)).toEqual({ omitted: 'redacted: token requests and reviews carry tokens' });
  });

  it('logs a SelfSubjectReview as it is: it names the caller and carries no credential', () => {
    const review =
      '{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","status":{"userInfo":{"username":"system:serviceaccount:team-a:app","groups":["system:authenticated"]}}}';
    expect(loggedText('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review)).toEqual({ json: review });
  });
});

describe('loggedBody: a Secret serialized as JSON inside a string', () => {
  const crossplaneObject = (annotations: Record<string, string>) => ({
    apiVersion: 'kubernetes.crossplane.io/v1alpha2',
    kind: 'Object',
    metadata: { name: 'db-secret', namespace: 'team-a', annotations },
    spec: { forProvider: { manifest: SECRET } },
  });
  const appliedObject = JSON.stringify(crossplaneObject({}));
  const redactedApplied = JSON.parse(JSON.stringify(crossplaneObject({}))) as {
    spec: { forProvider: { manifest: unknown } };
  };
  redactedApplied.spec.forProvider.manifest = REDACTED_SECRET;

  it.each<[string, string, string, unknown, (annotations: Record<string, string>) => unknown]>([
    [
      "in the last-applied-configuration of an object that holds a Secret (Crossplane's Object)",
      'POST',
      '/apis/kubernetes.crossplane.io/v1alpha2/namespaces/team-a/objects',
      crossplaneObject({ [LAST_APPLIED]: `${appliedObject}\n` }),
      (annotations) => expect(JSON.parse(String(annotations[LAST_APPLIED]))).toEqual(redactedApplied),
    ],
    [
      'in any other annotation (kapp keeps the original there)',
      'POST',
      CONFIG_MAPS,
      {
        kind: 'ConfigMap',
        metadata: { name: 'c', annotations: { 'kapp.k14s.io/original': JSON.stringify(SECRET) } },
        data: { color: 'blue' },
      },
      (annotations) => expect(JSON.parse(String(annotations['kapp.k14s.io/original']))).toEqual(REDACTED_SECRET),
    ],
    [
      "in a Secret's own annotation, without a kind",
      'GET',
      `${SECRETS}/db`,
      {
        ...SECRET,
        metadata: {
          ...SECRET.metadata,
          annotations: { 'example.com/previous': `{"data":{"password":"${PASSWORD}"}}` },
        },
      },
      (annotations) => expect(annotations['example.com/previous']).toBe(`{"data":{"password":"${REDACTED}"}}`),
    ],
    [
      'but an annotation whose JSON holds no Secret is left as it was written',
      'POST',
      CONFIG_MAPS,
      {
        kind: 'ConfigMap',
        metadata: {
          name: 'c',
          annotations: { [LAST_APPLIED]: '{ "kind": "ConfigMap", "data": {"color": "blue"} }\n' },
        },
      },
      (annotations) => expect(annotations[LAST_APPLIED]).toBe('{ "kind": "ConfigMap", "data": {"color": "blue"} }\n'),
    ],
  ])('%s', (_, method, raw, body, check) => {
    const shown = logged(method, raw, body) as { metadata: { annotations: Record<string, string> } };
    check(shown.metadata.annotations);
    expect(JSON.stringify(shown)).not.toContain(PASSWORD);
  });
});

describe("loggedBody: the answer to a patch that can copy a Secret's values elsewhere", () => {
  const copied = { ...SECRET, metadata: { ...SECRET.metadata, annotations: { leaked: PASSWORD } } };
  const answer = (body: unknown) => capture(JSON.stringify(body), 'application/json');
  const patch = (body: string, contentType = 'application/json-patch+json', limit?: number) =>
    capture(body, contentType, undefined, limit);
  const patchSecret = attributesOf('PATCH', `${SECRETS}/db`);

  it.each<[string, BodyCapture, string]>([
    [
      'copy from /data to an annotation',
      patch('[{"op":"copy","from":"/data/password","path":"/metadata/annotations/leaked"}]'),
      'json-patch',
    ],
    [
      'move from /stringData, added in the same patch',
      patch(
        `[{"op":"add","path":"/stringData","value":{"p":"x"}},{"op":"move","from":"/stringData/p","path":"/metadata/annotations/leaked"}]`,
      ),
      'json-patch',
    ],
    [
      'an op the API server does not know (it answers with an error)',
      patch('[{"op":"Copy","from":"/data/password","path":"/metadata/annotations/leaked"}]'),
      'json-patch',
    ],
    [
      'a patch too long to read',
      patch(
        `[${'{"op":"test","path":"/type","value":"Opaque"},'.repeat(20)}{"op":"copy","from":"/data/password","path":"/metadata/annotations/leaked"}]`,
        undefined,
        256,
      ),
      'unread',
    ],
    ['a patch that is not JSON', patch('- op: copy\n', 'application/yaml'), 'unread'],
  ])('leaves out the answer after %s', (_, request, why) => {
    expect(loggedBody(answer(copied), patchSecret, false, { requestBody: request })).toEqual({
      omitted:
        why === 'json-patch'
          ? "redacted: a JSON patch that copies or moves values can put a Secret's value in any field of the answer"
          : "redacted: the patch could not be read, and a JSON patch can put a Secret's value in any field of the answer",
    });
  });

  it.each<[string, BodyCapture]>([
    [
      'a JSON patch that only adds, removes, replaces and tests',
      patch(`[{"op":"replace","path":"/data/password","value":"${PASSWORD}"},{"op":"remove","path":"/data/user"}]`),
    ],
    ['a merge patch', patch(`{"data":{"password":"${PASSWORD}"}}`, 'application/merge-patch+json')],
  ])('logs the answer after %s, redacted as any Secret', (_, request) => {
    expect(loggedBody(answer(SECRET), patchSecret, false, { requestBody: request })).toEqual({
      json: JSON.stringify(REDACTED_SECRET),
    });
  });
});

describe('loggedBody: what cannot be redacted is not logged', () => {
  const configMaps = attributesOf('POST', '/api/v1/namespaces/team-a/configmaps');

  it.each<[string, BodyCapture, LoggedBody]>([
    [
      'past the size limit',
      capture(JSON.stringify({ data: { a: 'x'.repeat(100) } }), 'application/json', undefined, 64),
      { omitted: '117 bytes, over --audit-max-body-bytes=64', truncated: true },
    ],
    ['gzip-encoded', capture('{}', 'application/json', 'gzip'), { omitted: 'gzip-encoded' }],
    [
      'protobuf',
      capture('k8s\0…', 'application/vnd.kubernetes.protobuf'),
      { omitted: 'not JSON (application/vnd.kubernetes.protobuf)' },
    ],
    ['CBOR', capture('\xd9\xd9\xf7', 'application/cbor'), { omitted: 'not JSON (application/cbor)' }],
    [
      'YAML',
      capture('kind: Secret\ndata: {}\n', 'application/apply-patch+yaml'),
      { omitted: 'not JSON (application/apply-patch+yaml)' },
    ],
    ['no content type and not JSON', capture('hello', undefined), { omitted: 'not JSON (no content type)' }],
  ])('%s', (_, captured, expected) => {
    expect(loggedBody(captured, configMaps, false)).toEqual(expected);
  });

  it.each<[string, BodyCapture, LoggedBody]>([
    [
      'a Secret in YAML',
      capture(`kind: Secret\ndata:\n  password: ${PASSWORD}\n`, 'application/yaml'),
      { omitted: 'not JSON (application/yaml)' },
    ],
    [
      'a Secret applied as YAML',
      capture(`kind: Secret\nstringData: {password: x}\n`, 'application/apply-patch+yaml'),
      { omitted: 'not JSON (application/apply-patch+yaml)' },
    ],
    [
      'a Secret in JSON cut short',
      capture(`{"kind":"Secret","data":{"password":"${PASSWORD}"`, 'application/json'),
      { omitted: 'not JSON (application/json)' },
    ],
    [
      'text without a content type',
      capture(`password=${PASSWORD}`, undefined),
      { omitted: 'not JSON (no content type)' },
    ],
  ])('the secrets resource: %s', (_, captured, expected) => {
    expect(loggedBody(captured, attributesOf('POST', SECRETS), false)).toEqual(expected);
  });

  it("leaves out a body nested too deep to walk, rather than failing the request's event", () => {
    const deep = capture(`${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'application/json');
    expect(loggedBody(deep, configMaps, false)).toEqual({ omitted: 'nested deeper than 512 levels' });
  });

  it('logs JSON sent as server-side apply (apply-patch+yaml is usually JSON)', () => {
    expect(loggedBody(capture('{"kind":"ConfigMap"}', 'application/apply-patch+yaml'), configMaps, false)).toEqual({
      json: '{"kind":"ConfigMap"}',
    });
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
    expect(logged('POST', '/api/v1/namespaces/x/configmaps', managed, true)).toEqual({
      metadata: { name: 'c' },
      data: {},
    });
    expect(
      logged('GET', '/api/v1/namespaces/x/configmaps', { kind: 'ConfigMapList', metadata: {}, items: [managed] }, true),
    ).toEqual({
      kind: 'ConfigMapList',
      metadata: {},
      items: [{ metadata: { name: 'c' }, data: {} }],
    });
  });

  it('keeps them otherwise', () => {
    expect(logged('POST', '/api/v1/namespaces/x/configmaps', managed, false)).toEqual(managed);
  });
});
