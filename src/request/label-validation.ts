/**
 * The checks and messages apimachinery applies to a parsed label selector's keys and values
 * (pkg/labels/selector.go NewRequirement; pkg/api/validate/content kube.go, dns.go, errors.go;
 * pkg/util/validation/field errors.go). Lengths are counted in UTF-8 bytes, as Go does.
 */
import { failure, success, type Result } from '../config/result.ts';
import type { LabelOperator, LabelRequirement } from './selector-types.ts';

const LABEL_KEY_FORMAT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_KEY_MESSAGE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY = new RegExp(`^${LABEL_KEY_FORMAT}$`);
const LABEL_KEY_EXAMPLES = ['MyName', 'my.name', '123-abc'];
const LABEL_NAME_MAX_BYTES = 63;
const LABEL_VALUE_FORMAT = `(${LABEL_KEY_FORMAT})?`;
const LABEL_VALUE_MESSAGE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE = new RegExp(`^${LABEL_VALUE_FORMAT}$`);
const LABEL_VALUE_EXAMPLES = ['MyValue', 'my_value', '12345'];
const LABEL_VALUE_MAX_BYTES = 63;
const DNS1123_LABEL_FORMAT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FORMAT = `${DNS1123_LABEL_FORMAT}(\\.${DNS1123_LABEL_FORMAT})*`;
const DNS1123_SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_SUBDOMAIN_FORMAT}$`);
const DNS1123_SUBDOMAIN_EXAMPLES = ['example.com'];
const DNS1123_SUBDOMAIN_MAX_BYTES = 253;
const NO_ERRORS: readonly string[] = [];
const INT64_MAX_DIGITS = '9223372036854775807';
const INT64_MIN_DIGITS = '9223372036854775808';
/** Go's unicode.IsPrint, which decides what `%q` leaves unescaped. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const GO_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x07, '\\a'],
  [0x08, '\\b'],
  [0x0c, '\\f'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
  [0x09, '\\t'],
  [0x0b, '\\v'],
  [0x22, '\\"'],
  [0x5c, '\\\\'],
]);

/**
 * NewRequirement's checks that parsed input can fail (the key is already checked and the value
 * counts always hold): gt/lt values are int64, every value is a label value.
 */
export function newRequirement(key: string, operator: LabelOperator, values: string[]): Result<LabelRequirement> {
  let problems: string[] | undefined;
  if (operator === 'gt' || operator === 'lt') {
    for (let i = 0; i < values.length; i++) {
      const value = values[i] ?? '';
      if (!isInt64(value)) {
        problems ??= [];
        problems.push(
          invalidValue(`values[${String(i)}]`, value, "for 'Gt', 'Lt' operators, the value must be an integer"),
        );
      }
    }
  }
  for (let i = 0; i < values.length; i++) {
    const value = values[i] ?? '';
    const errors = labelValueErrors(value);
    if (errors.length === 0) continue;
    problems ??= [];
    problems.push(invalidValue(`values[${String(i)}][${key}]`, value, errors.join('; ')));
  }
  return problems === undefined ? success({ key, operator, values }) : failure(aggregate(problems));
}

/** content.IsLabelKey (alias validation.IsQualifiedName): `[DNS-1123 subdomain "/"] name`. */
export function labelKeyErrors(key: string): readonly string[] {
  const slash = key.indexOf('/');
  if (slash === -1 && utf8ByteLength(key) <= LABEL_NAME_MAX_BYTES && LABEL_KEY.test(key)) return NO_ERRORS;
  const errors: string[] = [];
  let name: string;
  if (slash === -1) {
    name = key;
  } else if (!key.includes('/', slash + 1)) {
    const prefix = key.slice(0, slash);
    name = key.slice(slash + 1);
    if (prefix === '') errors.push('prefix part must be non-empty');
    else for (const message of dns1123SubdomainErrors(prefix)) errors.push(`prefix part ${message}`);
  } else {
    return [
      `a valid label key ${regexError(LABEL_KEY_MESSAGE, LABEL_KEY_FORMAT, LABEL_KEY_EXAMPLES)}` +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name === '') errors.push('name part must be non-empty');
  else if (utf8ByteLength(name) > LABEL_NAME_MAX_BYTES)
    errors.push(`name part ${maxLengthError(LABEL_NAME_MAX_BYTES)}`);
  // Not an else: Go reports an empty name twice, as empty and as not matching.
  if (!LABEL_KEY.test(name)) {
    errors.push(`name part ${regexError(LABEL_KEY_MESSAGE, LABEL_KEY_FORMAT, LABEL_KEY_EXAMPLES)}`);
  }
  return errors;
}

/** content.IsLabelValue (validation.IsValidLabelValue): empty, or a name of at most 63 bytes. */
function labelValueErrors(value: string): readonly string[] {
  const isTooLong = utf8ByteLength(value) > LABEL_VALUE_MAX_BYTES;
  const isMatching = LABEL_VALUE.test(value);
  if (!isTooLong && isMatching) return NO_ERRORS;
  const errors: string[] = [];
  if (isTooLong) errors.push(maxLengthError(LABEL_VALUE_MAX_BYTES));
  if (!isMatching) {
    errors.push(regexError(LABEL_VALUE_MESSAGE, LABEL_VALUE_FORMAT, LABEL_VALUE_EXAMPLES));
  }
  return errors;
}

/** content.IsDNS1123Subdomain. */
function dns1123SubdomainErrors(value: string): string[] {
  const errors: string[] = [];
  if (utf8ByteLength(value) > DNS1123_SUBDOMAIN_MAX_BYTES) errors.push(maxLengthError(DNS1123_SUBDOMAIN_MAX_BYTES));
  if (!DNS1123_SUBDOMAIN.test(value)) {
    errors.push(regexError(DNS1123_SUBDOMAIN_MESSAGE, DNS1123_SUBDOMAIN_FORMAT, DNS1123_SUBDOMAIN_EXAMPLES));
  }
  return errors;
}

/** Whether Go's strconv.ParseInt(text, 10, 64) accepts text: an optional sign, decimal digits, in int64 range. */
function isInt64(text: string): boolean {
  let start = text.startsWith('+') || text.startsWith('-') ? 1 : 0;
  if (start === text.length) return false;
  for (let i = start; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  while (start < text.length - 1 && text.charCodeAt(start) === 0x30) start++;
  const digits = text.slice(start);
  const limit = text.startsWith('-') ? INT64_MIN_DIGITS : INT64_MAX_DIGITS;
  return digits.length < limit.length || (digits.length === limit.length && digits <= limit);
}

/** field.Invalid(path, value, detail).Error() for a string value: `path: Invalid value: "value": detail`. */
export function invalidValue(path: string, value: string, detail: string): string {
  return `${path}: Invalid value: ${quoteGo(value)}: ${detail}`;
}

/**
 * ErrorList.ToAggregate().Error(): duplicates dropped, one message alone, several as `[a, b]`.
 */
function aggregate(messages: readonly string[]): string {
  const unique = [...new Set(messages)];
  return unique.length === 1 ? (unique[0] ?? '') : `[${unique.join(', ')}]`;
}

/** content.RegexError, including its doubled space before "or". */
function regexError(message: string, format: string, examples: readonly string[]): string {
  let text = `${message} (e.g. `;
  for (const [i, example] of examples.entries()) {
    if (i > 0) text += ' or ';
    text += `'${example}', `;
  }
  return `${text}regex used for validation is '${format}')`;
}

function maxLengthError(bytes: number): string {
  return `must be no more than ${String(bytes)} bytes`;
}

/** Go's `%q` (strconv.Quote) for a valid UTF-8 string. */
export function quoteGo(text: string): string {
  let quoted = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const escape = GO_ESCAPES.get(code);
    if (escape !== undefined) quoted += escape;
    else if (code < 0x20 || code === 0x7f) quoted += `\\x${hex(code, 2)}`;
    else if (code < 0x80 || PRINTABLE.test(char)) quoted += char;
    else if (code < 0x10000) quoted += `\\u${hex(code, 4)}`;
    else quoted += `\\U${hex(code, 8)}`;
  }
  return `${quoted}"`;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** Go's len() of the string's UTF-8 encoding. */
function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // A surrogate is half of a 4-byte sequence.
    bytes += code < 0x80 ? 1 : code < 0x800 || (code >= 0xd800 && code <= 0xdfff) ? 2 : 3;
  }
  return bytes;
}
