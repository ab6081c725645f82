/**
 * Label and field selectors read as kube-apiserver reads `?labelSelector=` and `?fieldSelector=`
 * once the query is form-decoded (k8s.io/apimachinery pkg/labels/selector.go Parse, via
 * label-selector.ts, and pkg/fields/selector.go ParseSelector): the requirements Go builds, in
 * Go's order, or a failure with Go's message. Pure functions; nothing is compiled per call.
 *
 * Label selectors: requirements joined by `,`, blanks (space, tab, CR, LF) around tokens:
 *   `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)`, `key notin (v1,v2)`,
 *   `key>integer`, `key<integer`; keys must be qualified names and values label values.
 * Field selectors: terms joined by `,`: `field=value`, `field==value`, `field!=value`, where `\`
 *   escapes `\`, `,` and `=` in the value; fields are not checked (the API server checks them per resource).
 */
import { failure, success, type Result } from '../config/result.ts';
import {
  compareUtf8,
  type FieldRequirement,
  type LabelOperator,
  type LabelRequirement,
  type SelectorParse,
} from './selector-types.ts';

export { parseLabelSelector } from './label-selector.ts';
export type {
  FieldOperator,
  FieldRequirement,
  LabelOperator,
  LabelRequirement,
  SelectorParse,
} from './selector-types.ts';

const PINNING_OPERATORS: ReadonlySet<LabelOperator> = new Set<LabelOperator>(['=', '==', 'in', 'exists']);
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const BANG = 0x21;
const FIELD_VALUE_SPECIAL = /[\\,=]/g;

/**
 * fields.ParseSelector: the terms sorted as strings, each split at its first operator; empty
 * terms, and terms with neither field nor value (Transform makes them Everything), select nothing.
 */
export function parseFieldSelector(text: string): SelectorParse<FieldRequirement> {
  const terms = splitTerms(text).sort(compareUtf8);
  const requirements: FieldRequirement[] = [];
  for (const term of terms) {
    if (term === '') continue;
    const at = findTermOperator(term);
    if (at === -1) return failure(`invalid selector: '${text}'; can't understand '${term}'`);
    const isNegated = term.charCodeAt(at) === BANG;
    const operatorLength = isNegated || term.charCodeAt(at + 1) === EQUALS ? 2 : 1;
    const value = unescapeFieldValue(term.slice(at + operatorLength));
    if (!value.ok) return value;
    const field = term.slice(0, at);
    if (field !== '' || value.value !== '')
      requirements.push({ field, operator: isNegated ? '!=' : '=', value: value.value });
  }
  return success(requirements);
}

/** fields splitTerms: split at each `,` that no `\` escapes; the escapes stay in the terms. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  if (text === '') return terms;
  let start = 0;
  let isEscaped = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (isEscaped) isEscaped = false;
    else if (char === BACKSLASH) isEscaped = true;
    else if (char === COMMA) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

/** fields splitTerm: where the first `!=`, `==` or `=` starts; -1 for none. */
function findTermOperator(term: string): number {
  for (let i = 0; i < term.length; i++) {
    const char = term.charCodeAt(i);
    if (char === EQUALS || (char === BANG && term.charCodeAt(i + 1) === EQUALS)) return i;
  }
  return -1;
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are the only escapes; a bare `,` or `=` is refused. */
function unescapeFieldValue(raw: string): Result<string> {
  let value = '';
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const char = raw.charCodeAt(i);
    if (char === COMMA || char === EQUALS) {
      // Go prints the rune with %v, which is its number.
      return failure(`invalid field selector: unescaped character in value: ${String(char)}`);
    }
    if (char !== BACKSLASH) continue;
    const escaped = raw.codePointAt(i + 1);
    if (escaped !== BACKSLASH && escaped !== COMMA && escaped !== EQUALS) {
      const sequence = escaped === undefined ? '\\' : `\\${String.fromCodePoint(escaped)}`;
      return failure(`invalid field selector: invalid escape sequence: ${sequence}`);
    }
    value += raw.slice(start, i);
    start = i + 1;
    i++;
  }
  return success(start === 0 ? raw : value + raw.slice(start));
}

/** fields.EscapeValue. */
export function escapeFieldValue(value: string): string {
  return value.replace(FIELD_VALUE_SPECIAL, '\\$&');
}

/** Whether a parsed selector selects everything: it has no requirement (Go's Selector.Empty). */
export function selectsEverything(requirements: readonly unknown[]): boolean {
  return requirements.length === 0;
}

/**
 * Whether a label selector confines the objects to some value of one of `keys` (of any key when
 * `keys` is undefined): it holds a requirement on one of them with `=`, `==`, `in` (never with no
 * value: Go refuses that) or `exists`. `!=`, `notin`, `!`, `gt` and `lt` never pin a key.
 */
export function pinsLabelKey(
  requirements: readonly LabelRequirement[],
  keys: ReadonlySet<string> | undefined,
): boolean {
  for (const requirement of requirements) {
    if ((keys === undefined || keys.has(requirement.key)) && PINNING_OPERATORS.has(requirement.operator)) return true;
  }
  return false;
}

/** fields Selector.RequiresExactMatch: the value of the first `=` requirement on `field`. */
export function findExactFieldMatch(requirements: readonly FieldRequirement[], field: string): string | undefined {
  for (const requirement of requirements) {
    if (requirement.field === field && requirement.operator === '=') return requirement.value;
  }
  return undefined;
}

/** labels Selector.String: the canonical text, which parses back to the same requirements. */
export function formatLabelSelector(requirements: readonly LabelRequirement[]): string {
  let text = '';
  for (const [i, requirement] of requirements.entries()) {
    if (i > 0) text += ',';
    text += formatLabelRequirement(requirement);
  }
  return text;
}

/** labels Requirement.String. */
function formatLabelRequirement({ key, operator, values }: LabelRequirement): string {
  const joined = values.length === 1 ? (values[0] ?? '') : [...values].sort(compareUtf8).join(',');
  switch (operator) {
    case 'exists':
      return key;
    case '!':
      return `!${key}`;
    case 'in':
    case 'notin':
      return `${key} ${operator} (${joined})`;
    case 'gt':
      return `${key}>${joined}`;
    case 'lt':
      return `${key}<${joined}`;
    case '=':
    case '==':
    case '!=':
      return `${key}${operator}${joined}`;
  }
}

/** fields Selector.String: the canonical text, with values escaped. */
export function formatFieldSelector(requirements: readonly FieldRequirement[]): string {
  let text = '';
  for (const [i, { field, operator, value }] of requirements.entries()) {
    if (i > 0) text += ',';
    text += `${field}${operator}${escapeFieldValue(value)}`;
  }
  return text;
}
