/**
 * How the fake API server reads request options, as kube-apiserver does on every point the
 * ambassador decides on (written apart from src/, so the suite compares two readings):
 * - booleans: runtime.Convert_Slice_string_To_bool (first value; only "0" or EqualFold "false" is false);
 * - DeleteOptions: endpoints/handlers/delete.go (a non-empty body is decoded and the query ignored);
 * - dryRun: validation.ValidateDryRun (only "All", else 422) and dryrun.IsDryRun (a non-empty list);
 * - label selectors: labels.Parse, through the ambassador's port of it (test/unit/selectors.test.ts
 *   holds it to apimachinery's own test tables), then matched against an object's labels here.
 */
import type { IncomingMessage } from 'node:http';
import { parseLabelSelector, type LabelRequirement } from '../../src/request/selectors.ts';
import { ApiError, badRequest, type JsonObject } from './api-status.ts';
import { isObject, metadataOf, stringField } from './api-store.ts';

/** runtime.Convert_Slice_string_To_bool on the first value of `name`. */
export function goBool(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return !(value === '0' || value.toLowerCase().replaceAll('\u017f', 's') === 'false');
}

/** ValidateDryRun then IsDryRun. */
function dryRunList(values: readonly string[]): boolean {
  const unsupported = values.find((value) => value !== 'All');
  if (unsupported !== undefined) {
    throw new ApiError({
      code: 422,
      reason: 'Invalid',
      message: `dryRun: Unsupported value: ${JSON.stringify(unsupported)}: supported values: "All"`,
    });
  }
  return values.length > 0;
}

/** Create, update and patch: CreateOptions/UpdateOptions/PatchOptions come from the query only. */
export function writeIsDryRun(query: URLSearchParams): boolean {
  return dryRunList(query.getAll('dryRun'));
}

/** delete.go: a non-empty body is DeleteOptions (JSON here; anything else is refused as the real server would refuse what it cannot decode), else the query. */
export function deleteIsDryRun(req: IncomingMessage, body: Buffer, query: URLSearchParams): boolean {
  if (body.length === 0) return dryRunList(query.getAll('dryRun'));
  const mediaType = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new ApiError({
      code: 415,
      reason: 'UnsupportedMediaType',
      message: `the body of the request was in an unknown format - accepted media types include: application/json`,
    });
  }
  let options: unknown;
  try {
    options = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ApiError({
      code: 400,
      reason: 'BadRequest',
      message: `couldn't get version/kind; json parse error: ${String(error)}`,
    });
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ApiError({
      code: 400,
      reason: 'BadRequest',
      message: "couldn't get version/kind; json parse error: not an object",
    });
  }
  const { kind, dryRun } = options as { kind?: unknown; dryRun?: unknown };
  if (kind !== undefined && kind !== 'DeleteOptions') {
    throw new ApiError({
      code: 400,
      reason: 'BadRequest',
      message: 'decoded object cannot be converted to DeleteOptions',
    });
  }
  if (dryRun === undefined || dryRun === null) return false;
  if (!Array.isArray(dryRun) || !dryRun.every((value): value is string => typeof value === 'string')) {
    throw new ApiError({
      code: 400,
      reason: 'BadRequest',
      message: 'json: cannot unmarshal into Go struct field DeleteOptions.dryRun of type []string',
    });
  }
  return dryRunList(dryRun);
}

/** ListOptions.LabelSelector: labels.Parse on the first value; a selector that does not parse is a 400. */
export function labelSelector(query: URLSearchParams): (labels: Readonly<Record<string, string>>) => boolean {
  const text = query.get('labelSelector');
  if (text === null) return () => true;
  const parsed = parseLabelSelector(text);
  if (!parsed.ok)
    throw new ApiError({ code: 400, reason: 'BadRequest', message: `unable to parse requirement: ${parsed.problem}` });
  const requirements = parsed.value;
  return (labels) => requirements.every((requirement) => matches(requirement, labels));
}

/** labels.Requirement.Matches. */
function matches(requirement: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key] ?? '';
  switch (requirement.operator) {
    case '=':
    case '==':
    case 'in':
      return has && requirement.values.includes(value);
    case '!=':
    case 'notin':
      return !has || !requirement.values.includes(value);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || !/^[+-]?\d+$/.test(value)) return false;
      const bound = Number(requirement.values[0]);
      return requirement.operator === 'gt' ? Number(value) > bound : Number(value) < bound;
    }
  }
}

const SELECTABLE_FIELDS = new Map<string, (object: JsonObject) => string | undefined>([
  ['metadata.name', (object) => stringField(metadataOf(object), 'name')],
  ['metadata.namespace', (object) => stringField(metadataOf(object), 'namespace')],
]);

function fieldSelector(query: URLSearchParams): (object: JsonObject) => boolean {
  const selector = query.get('fieldSelector');
  if (!selector) return () => true;
  const requirements = selector.split(',').map(fieldRequirement);
  return (object) => requirements.every((requirement) => requirement(object));
}

/** ListOptions' label and field selectors together, as a list, watch or deletecollection applies them. */
export function selector(query: URLSearchParams): (object: JsonObject) => boolean {
  const byFields = fieldSelector(query);
  const byLabels = labelSelector(query);
  return (object) => byFields(object) && byLabels(labelsOf(object));
}

function labelsOf(object: JsonObject): Record<string, string> {
  const labels = metadataOf(object).labels;
  return isObject(labels)
    ? Object.fromEntries(
        Object.entries(labels).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
      )
    : {};
}

function fieldRequirement(term: string): (object: JsonObject) => boolean {
  const match = /^([^!=]+)(==|!=|=)(.*)$/.exec(term);
  if (match === null) throw badRequest(`invalid field selector: ${term}`);
  const [, field = '', operator, expected = ''] = match;
  const read = SELECTABLE_FIELDS.get(field);
  if (read === undefined) throw badRequest(`field label not supported: ${field}`);
  return operator === '!=' ? (object) => read(object) !== expected : (object) => read(object) === expected;
}
