/**
 * Reading YAML/JSON configuration documents: the pieces the policy, the audit policy and the RBAC
 * reviews share. Each reader pushes a problem naming the field (`rules[2].verbs: …`) and goes on,
 * so that every problem of a document is reported at once.
 */
import { readFile } from 'node:fs/promises';
import { load as parseYaml } from 'js-yaml';
import { nearest } from './nearest.ts';
import { failure, success, type Result } from './result.ts';

/** Stands for the pod's own namespace (POD_NAMESPACE, else the service account's namespace file). */
export const POD_NAMESPACE_PLACEHOLDER = '$(POD_NAMESPACE)';

/** Without `$(POD_NAMESPACE)`'s value: how the ambassador learns it. Callers with another way say theirs. */
export const POD_NAMESPACE_SOURCES = 'the POD_NAMESPACE variable or a service account namespace file';

/** The value `$(POD_NAMESPACE)` stands for, and the ways to give it, named when it is missing. */
export interface PodNamespace {
  readonly value: string | undefined;
  readonly sources: string;
}

/** A namespace name: an RFC 1123 label (apimachinery ValidateNamespaceName). */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A parsed document and the text it was parsed from. */
export interface YamlDocument {
  readonly document: unknown;
  readonly text: string;
}

/** Reads and parses a YAML (or JSON) file. Never rejects. */
export async function readYamlFile(file: string): Promise<Result<YamlDocument, readonly string[]>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return failure([`cannot read ${file}: ${(error as Error).message}`]);
  }
  try {
    return success({ document: parseYaml(text), text });
  } catch (error) {
    return failure([`${file} is not valid YAML: ${(error as Error).message}`]);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value[name]` when `value` is a mapping; undefined otherwise. */
export function fieldOf(value: unknown, name: string): unknown {
  return isRecord(value) ? value[name] : undefined;
}

export function isNamespaceName(value: string): boolean {
  return NAMESPACE_NAME.test(value);
}

/** A problem for each key of `record` not in `known`: `did you mean verbs?`, else the list of known keys. */
export function unknownFields(
  record: Record<string, unknown>,
  known: ReadonlySet<string>,
  at: string,
  problems: string[],
  noun = 'field',
): void {
  for (const key of Object.keys(record)) {
    if (known.has(key)) continue;
    const suggestion = nearest(key, known);
    const hint = suggestion === undefined ? `expected ${[...known].join(', ')}` : `did you mean ${suggestion}?`;
    problems.push(`${at}${key}: unknown ${noun} (${hint})`);
  }
}

/** `record[key]` when it is a boolean; a problem at `path` when it is present but not one. */
export function booleanField(
  record: Record<string, unknown>,
  key: string,
  path: string,
  problems: string[],
): boolean | undefined {
  const value = record[key];
  if (value !== undefined && typeof value !== 'boolean') problems.push(`${path}: must be true or false`);
  return typeof value === 'boolean' ? value : undefined;
}

/** How a list of strings may be written; by default it must not be empty nor hold `""`. */
export interface StringListRules {
  readonly required?: boolean;
  /** `[]` reads as absent (the audit policy's lists, where an empty list matches everything, as in the API). */
  readonly emptyMeansAbsent?: boolean;
  /** `""` may be an item (the core API group, the cluster scope). */
  readonly allowEmptyString?: boolean;
}

/** `record[key]` as a list of strings; undefined when absent, or when it is not one (a problem then). */
export function stringList(
  record: Record<string, unknown>,
  key: string,
  at: string,
  problems: string[],
  rules: StringListRules = {},
): string[] | undefined {
  const value = record[key];
  if (value === undefined) {
    if (rules.required === true) problems.push(`${at}.${key}: required`);
    return undefined;
  }
  const isList = Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (rules.emptyMeansAbsent === true) {
    if (!isList) problems.push(`${at}.${key}: must be a list of strings`);
    return isList && value.length > 0 ? value : undefined;
  }
  if (!isList || value.length === 0) {
    problems.push(`${at}.${key}: must be a non-empty list of strings`);
    return undefined;
  }
  if (rules.allowEmptyString !== true && value.includes('')) problems.push(`${at}.${key}: has an empty string`);
  return value;
}

/** `namespace`, or the pod's namespace for `$(POD_NAMESPACE)`; without it, a problem naming how to give it. */
export function substitutePodNamespace(
  namespace: string,
  podNamespace: PodNamespace,
  at: string,
  problems: string[],
): string {
  if (namespace !== POD_NAMESPACE_PLACEHOLDER) return namespace;
  if (podNamespace.value === undefined)
    problems.push(`${at}: ${POD_NAMESPACE_PLACEHOLDER} needs ${podNamespace.sources}`);
  return podNamespace.value ?? '';
}
