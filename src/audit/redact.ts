/**
 * What of a captured body goes into an audit event (`requestObject`, `responseObject`): the JSON
 * object, with every secret value replaced, or nothing and the reason. Pure.
 * Secrets keep their keys but not their values: `data`, `stringData`, a JSON patch's `value`, and
 * kubectl's last-applied-configuration annotation (which holds the whole Secret). Token requests
 * and reviews are never logged: their bodies are the tokens.
 */
import type { BodyCapture } from '../proxy/body-capture.ts';
import { isRecord } from '../policy/policy.ts';
import type { RequestAttributes } from '../request/attributes.ts';

export const REDACTED = '<redacted>';

export type LoggedBody = { readonly json: string } | { readonly omitted: string; readonly truncated?: boolean };

const SECRET_VALUE_FIELDS = ['data', 'stringData', 'value'] as const;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const SECRET_KINDS = new Set(['Secret', 'SecretList']);
const TOKEN_KINDS = new Set(['TokenRequest', 'TokenReview']);
/** Content types the API server also speaks that are not JSON. */
const BINARY_TYPES = /^application\/(vnd\.kubernetes\.protobuf|cbor)/;

export function loggedBody(capture: BodyCapture, attributes: RequestAttributes | undefined, omitManagedFields: boolean): LoggedBody {
  if (attributes !== undefined && carriesTokens(attributes)) return { omitted: 'redacted: token requests and reviews carry tokens' };
  if (capture.truncated) return { omitted: `${capture.bytes} bytes, over --audit-max-body-bytes=${capture.limit}`, truncated: true };
  if (capture.contentEncoding !== undefined && capture.contentEncoding !== 'identity') return { omitted: `${capture.contentEncoding}-encoded` };
  if (capture.contentType !== undefined && BINARY_TYPES.test(capture.contentType)) return { omitted: `not JSON (${capture.contentType})` };
  let body: unknown;
  try {
    body = JSON.parse(capture.text() ?? '');
  } catch {
    return { omitted: `not JSON (${capture.contentType ?? 'no content type'})` };
  }
  if (isRecord(body) && typeof body['kind'] === 'string' && TOKEN_KINDS.has(body['kind'])) {
    return { omitted: 'redacted: token requests and reviews carry tokens' };
  }
  redactSecrets(body, attributes !== undefined && isSecretResource(attributes));
  if (omitManagedFields) removeManagedFields(body);
  return { json: JSON.stringify(body) };
}

function carriesTokens(attributes: RequestAttributes): boolean {
  return (
    (attributes.resource === 'serviceaccounts' && attributes.subresource === 'token' && attributes.apiGroup === '') ||
    (attributes.resource === 'tokenreviews' && attributes.apiGroup === 'authentication.k8s.io')
  );
}

function isSecretResource(attributes: RequestAttributes): boolean {
  return attributes.isResourceRequest && attributes.resource === 'secrets' && attributes.apiGroup === '';
}

/**
 * Everything under a Secret (or under any body of the secrets resource: objects, lists, tables,
 * patches without a kind) has its secret fields replaced; elsewhere, any object of kind Secret.
 */
function redactSecrets(value: unknown, inSecret: boolean): void {
  if (Array.isArray(value)) {
    for (const item of value) redactSecrets(item, inSecret);
    return;
  }
  if (!isRecord(value)) return;
  const secret = inSecret || (typeof value['kind'] === 'string' && SECRET_KINDS.has(value['kind']));
  if (secret) redactSecretFields(value);
  for (const key of Object.keys(value)) {
    const child = value[key];
    if (typeof child === 'object' && child !== null) redactSecrets(child, secret);
  }
}

function redactSecretFields(object: Record<string, unknown>): void {
  for (const field of SECRET_VALUE_FIELDS) {
    const values = object[field];
    if (values === undefined) continue;
    if (!isRecord(values)) object[field] = REDACTED;
    else for (const key of Object.keys(values)) values[key] = REDACTED;
  }
  const metadata = object['metadata'];
  const annotations = isRecord(metadata) ? metadata['annotations'] : undefined;
  if (isRecord(annotations) && annotations[LAST_APPLIED] !== undefined) annotations[LAST_APPLIED] = REDACTED;
}

/** `omitManagedFields`, as kube-apiserver applies it: on the object, or on each item of a list. */
function removeManagedFields(body: unknown): void {
  if (!isRecord(body)) return;
  const objects = Array.isArray(body['items']) ? [body, ...(body['items'] as unknown[])] : [body];
  for (const object of objects) {
    if (isRecord(object) && isRecord(object['metadata'])) delete object['metadata']['managedFields'];
  }
}
