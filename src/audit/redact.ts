/**
 * What of a captured body goes into an audit event (`requestObject`, `responseObject`): the JSON
 * value, with every secret value replaced, or nothing and the reason. Pure.
 *
 * A Secret shows only the fields that never hold its values (kind, apiVersion, metadata, type,
 * immutable; a list's items, a table's rows, a JSON patch's op, path and from, an error's reason
 * and code); every other field keeps its keys and loses its values, however it is spelled. So does
 * every body of the secrets resource, whatever its kind says. Secrets are found anywhere in other
 * bodies, also serialized as JSON inside a string (kubectl's last-applied-configuration). Token
 * requests and reviews are never logged: their bodies are the tokens.
 */
import type { BodyCapture } from '../request/body-capture.ts';
import { isRecord } from '../config/document.ts';
import { failure, success, type Result } from '../config/result.ts';
import type { RequestAttributes } from '../request/attributes.ts';

export const REDACTED = '<redacted>';

/** Why a body is left out of the log, in words; `truncated` when it was over the capture limit. */
export interface OmittedBody {
  readonly omitted: string;
  readonly truncated?: boolean;
}

export type LoggedBody = { readonly json: string } | OmittedBody;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Content types the API server also speaks that are not JSON. */
const BINARY_TYPES = /^application\/(vnd\.kubernetes\.protobuf|cbor)/;
/** A string that may be a serialized object: JSON text may start with whitespace. */
const JSON_TEXT = /^\s*[[{]/;
/** Deeper than any Kubernetes object nests; a body past it is left out rather than overflow the stack. */
const MAX_DEPTH = 512;

const TOKENS_OMITTED = 'redacted: token requests and reviews carry tokens';
const PATCH_MOVES_VALUES =
  "redacted: a JSON patch that copies or moves values can put a Secret's value in any field of the answer";
const PATCH_UNREAD =
  "redacted: the patch could not be read, and a JSON patch can put a Secret's value in any field of the answer";

/**
 * The fields of a Secret, or of any body of the secrets resource, that never hold its values:
 * the Secret's own, and those of the other shapes its bodies take (lists, tables, JSON patches,
 * Status errors, DeleteOptions). A Status's messages are not among them: an error can quote what
 * it was sent. `metadata` is shown too, with its annotations redacted (see redactSecretMetadata).
 *
 * An allow-list matched exactly. kube-apiserver reads a Secret's values only from `data` and
 * `stringData` spelled exactly: it decodes JSON (and YAML, turned into JSON first) with
 * sigs.k8s.io/json's UnmarshalCaseSensitivePreserveInts, or UnmarshalStrict, which also reports
 * unknown and duplicate fields (apimachinery pkg/runtime/serializer/json/json.go,
 * Serializer.unmarshal; case-sensitive since 1.12, through json-iterator until 1.23). There "Data"
 * is an unknown field, dropped or refused per fieldValidation, and of duplicates the last wins, as
 * in JSON.parse. A client that wrote "Data" still meant a secret, and servers before 1.12 matched
 * keys as encoding/json does, ignoring case: every field not listed here is hidden, however spelled.
 */
const SHOWN_IN_SECRETS = new Set([
  ...['kind', 'apiVersion', 'type', 'immutable'],
  'items',
  ...['columnDefinitions', 'rows', 'cells', 'object', 'name', 'format', 'description', 'priority'],
  ...['op', 'path', 'from'],
  ...['status', 'reason', 'code', 'details', 'group', 'uid', 'retryAfterSeconds', 'causes', 'field'],
  ...['gracePeriodSeconds', 'propagationPolicy', 'orphanDependents', 'preconditions', 'resourceVersion', 'dryRun'],
]);

/** JSON patch operations that write only the values the patch itself carries (RFC 6902 §4). */
const OPS_WITHOUT_FROM = new Set(['add', 'remove', 'replace', 'test']);

/**
 * `answering` is the request when `capture` is its response: the answer to a patch of a Secret is
 * logged only when the patch was captured and is known not to copy or move values.
 */
export function loggedBody(
  capture: BodyCapture,
  attributes: RequestAttributes | undefined,
  omitManagedFields: boolean,
  answering?: { readonly requestBody?: BodyCapture | undefined },
): LoggedBody {
  if (attributes !== undefined && carriesTokens(attributes)) return { omitted: TOKENS_OMITTED };
  const inSecrets = attributes !== undefined && isSecretResource(attributes);
  if (inSecrets && answering !== undefined && attributes.verb === 'patch') {
    const omission = patchAnswerOmission(answering.requestBody);
    if (omission !== undefined) return { omitted: omission };
  }
  const parsed = parsedBody(capture);
  if (!parsed.ok) return parsed.problem;
  const walk: Walk = { redacted: false, carriesTokens: false };
  let body: unknown;
  try {
    body = inSecrets ? redactSecretBody(parsed.value, walk, 0) : redactSecretsWithin(parsed.value, walk, 0);
  } catch (error) {
    if (error instanceof TooDeep) return { omitted: `nested deeper than ${MAX_DEPTH} levels` };
    throw error;
  }
  if (walk.carriesTokens) return { omitted: TOKENS_OMITTED };
  if (omitManagedFields) removeManagedFields(body);
  return { json: JSON.stringify(body) };
}

/** The captured body as JSON, or why it cannot be read as such. */
function parsedBody(capture: BodyCapture): Result<unknown, OmittedBody> {
  if (capture.truncated)
    return failure({
      omitted: `${capture.bytes} bytes, over --audit-max-body-bytes=${capture.limit}`,
      truncated: true,
    });
  if (capture.contentEncoding !== undefined && capture.contentEncoding !== 'identity')
    return failure({ omitted: `${capture.contentEncoding}-encoded` });
  if (capture.contentType !== undefined && BINARY_TYPES.test(capture.contentType))
    return failure({ omitted: `not JSON (${capture.contentType})` });
  try {
    return success(JSON.parse(capture.text() ?? ''));
  } catch {
    return failure({ omitted: `not JSON (${capture.contentType ?? 'no content type'})` });
  }
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

/** Why the answer to this patch of a Secret is left out, if it is. */
function patchAnswerOmission(patch: BodyCapture | undefined): string | undefined {
  const parsed = patch === undefined ? undefined : parsedBody(patch);
  if (parsed?.ok !== true) return PATCH_UNREAD;
  return movesValues(parsed.value) ? PATCH_MOVES_VALUES : undefined;
}

/**
 * Whether a patch may copy a Secret's value to another field: any JSON patch (an array) with an
 * operation other than those that only write their own `value` (copy, move, or one the API server
 * refuses, whose error could quote anything). Merge, strategic-merge and apply patches are objects
 * and copy nothing.
 */
function movesValues(patch: unknown): boolean {
  if (!Array.isArray(patch)) return false;
  return !patch.every(
    (operation) => isRecord(operation) && typeof operation['op'] === 'string' && OPS_WITHOUT_FROM.has(operation['op']),
  );
}

interface Walk {
  /** Something was replaced: a JSON string is re-serialized only then. */
  redacted: boolean;
  carriesTokens: boolean;
}

class TooDeep extends Error {}

/**
 * Whether an object names itself a Secret (or list of them) or a token request or review, by any
 * key that kube-apiserver would read as `kind`. It finds an object's kind with Go's encoding/json
 * (apimachinery pkg/runtime/serializer/json/meta.go, SimpleMetaFactory.Interpret), which matches
 * keys case-insensitively, with Unicode simple folding: "Kind", "KIND" and "\u212Aind" (the Kelvin
 * sign) are all `kind` (encoding/json fold.go, foldName). Scheme kinds are case-sensitive; matching
 * the value case-insensitively too only hides more.
 */
function kindOf(object: Record<string, unknown>): 'secret' | 'token' | undefined {
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (typeof value !== 'string' || !isKindKey(key)) continue;
    const kind = folded(value);
    if (kind === 'secret' || kind === 'secretlist') return 'secret';
    if (kind === 'tokenrequest' || kind === 'tokenreview') return 'token';
  }
  return undefined;
}

/**
 * Upper- then lower-casing maps every character that Unicode simple folding equates with an ASCII
 * letter onto it (ſ to s, the Kelvin sign to k), and a few more (ı to i): a superset of Go's
 * EqualFold for ASCII names.
 */
function folded(text: string): string {
  return text.toUpperCase().toLowerCase();
}

const KELVIN_SIGN = 0x21_2a;

function isKindKey(key: string): boolean {
  if (key.length !== 4) return false;
  const first = key.charCodeAt(0);
  return (first === 0x6b || first === 0x4b || first === KELVIN_SIGN) && (key === 'kind' || folded(key) === 'kind');
}

/** Outside the secrets resource: the Secrets and tokens anywhere in a value, also inside JSON strings. */
function redactSecretsWithin(value: unknown, walk: Walk, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (typeof value === 'string')
    return JSON_TEXT.test(value) ? redactSerialized(value, walk, depth, redactSecretsWithin) : value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const redacted = redactSecretsWithin(item, walk, depth + 1);
      if (redacted !== item) value[i] = redacted;
    }
    return value;
  }
  if (!isRecord(value)) return value;
  const kind = kindOf(value);
  if (kind === 'secret') return redactSecret(value, walk, depth);
  if (kind === 'token') {
    walk.carriesTokens = true;
    return value;
  }
  for (const key of Object.keys(value)) {
    const child = value[key];
    const redacted = redactSecretsWithin(child, walk, depth + 1);
    if (redacted !== child) value[key] = redacted;
  }
  return value;
}

/** A body of the secrets resource: an object, or an array of them (a JSON patch); anything else is hidden. */
function redactSecretBody(body: unknown, walk: Walk, depth: number): unknown {
  if (isRecord(body)) return redactSecret(body, walk, depth);
  if (!Array.isArray(body)) return hidden(body, walk);
  for (let i = 0; i < body.length; i++)
    body[i] = isRecord(body[i]) ? redactSecret(body[i], walk, depth + 1) : hidden(body[i], walk);
  return body;
}

/** A Secret, or an object in a body of the secrets resource: only the fields in SHOWN_IN_SECRETS keep their values. */
function redactSecret(value: unknown, walk: Walk, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = redactSecret(value[i], walk, depth + 1);
    return value;
  }
  if (!isRecord(value)) return value;
  for (const key of Object.keys(value)) {
    const child = value[key];
    if (key === 'metadata' && isRecord(child)) redactSecretMetadata(child, walk, depth + 1);
    else if (SHOWN_IN_SECRETS.has(key)) value[key] = redactSecret(child, walk, depth + 1);
    else value[key] = hidden(child, walk);
  }
  return value;
}

/** Keys stay (a Secret's data keys are file names), values go. */
function hidden(value: unknown, walk: Walk): unknown {
  walk.redacted = true;
  if (!isRecord(value)) return REDACTED;
  for (const key of Object.keys(value)) value[key] = REDACTED;
  return value;
}

/**
 * A Secret's metadata as it is, but for its annotations: kubectl's last-applied-configuration is
 * the whole Secret, and any other annotation holding JSON is read as (part of) the Secret too.
 */
function redactSecretMetadata(metadata: Record<string, unknown>, walk: Walk, depth: number): void {
  const annotations = metadata['annotations'];
  if (annotations === undefined) return;
  if (!isRecord(annotations)) {
    metadata['annotations'] = hidden(annotations, walk);
    return;
  }
  for (const key of Object.keys(annotations)) {
    const annotation = annotations[key];
    if (key === LAST_APPLIED) annotations[key] = hidden(annotation, walk);
    else if (typeof annotation === 'string' && JSON_TEXT.test(annotation))
      annotations[key] = redactSerialized(annotation, walk, depth, redactSecretBody);
  }
}

/** JSON inside a string, redacted and re-serialized if it held anything secret; any other string as it is. */
function redactSerialized(
  text: string,
  walk: Walk,
  depth: number,
  redact: (value: unknown, walk: Walk, depth: number) => unknown,
): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  const outer = walk.redacted;
  walk.redacted = false;
  const redacted = redact(value, walk, depth + 1);
  // `redact` sets walk.redacted, which TypeScript cannot see: it still reads the `false` set above.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  if (!walk.redacted) {
    walk.redacted = outer;
    return text;
  }
  return JSON.stringify(redacted);
}

/** `omitManagedFields`, as kube-apiserver applies it: on the object, or on each item of a list. */
function removeManagedFields(body: unknown): void {
  if (!isRecord(body)) return;
  const objects = Array.isArray(body['items']) ? [body, ...(body['items'] as unknown[])] : [body];
  for (const object of objects) {
    if (isRecord(object) && isRecord(object['metadata'])) delete object['metadata']['managedFields'];
  }
}
