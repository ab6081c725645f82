/**
 * The label selector parser of k8s.io/apimachinery pkg/labels/selector.go (Lexer, Parser, Parse),
 * token for token: the same requirements, sorted by key, or Go's error message. Only
 * `selectors.ts` imports this module; callers use that one.
 */
import { failure, success, type Result } from '../config/result.ts';
import { invalidValue, labelKeyErrors, newRequirement } from './label-validation.ts';
import { compareUtf8, type LabelOperator, type LabelRequirement, type SelectorParse } from './selector-types.ts';

/** labels.Token, without ErrorToken: every special character is a token alone, so the lexer never yields it. */
const TOKEN = {
  end: 1,
  closePar: 2,
  comma: 3,
  doesNotExist: 4,
  doubleEquals: 5,
  equals: 6,
  greaterThan: 7,
  identifier: 8,
  in: 9,
  lessThan: 10,
  notEquals: 11,
  notIn: 12,
  openPar: 13,
} as const;
type Token = (typeof TOKEN)[keyof typeof TOKEN];

/** labels.string2token. */
const LITERAL_TOKENS: ReadonlyMap<string, Token> = new Map<string, Token>([
  [')', TOKEN.closePar],
  [',', TOKEN.comma],
  ['!', TOKEN.doesNotExist],
  ['==', TOKEN.doubleEquals],
  ['=', TOKEN.equals],
  ['>', TOKEN.greaterThan],
  ['in', TOKEN.in],
  ['<', TOKEN.lessThan],
  ['!=', TOKEN.notEquals],
  ['notin', TOKEN.notIn],
  ['(', TOKEN.openPar],
]);
const BINARY_OPERATORS: ReadonlyMap<Token, LabelOperator> = new Map<Token, LabelOperator>([
  [TOKEN.in, 'in'],
  [TOKEN.notIn, 'notin'],
  [TOKEN.equals, '='],
  [TOKEN.doubleEquals, '=='],
  [TOKEN.notEquals, '!='],
  [TOKEN.greaterThan, 'gt'],
  [TOKEN.lessThan, 'lt'],
]);
const BINARY_OPERATOR_NAMES = [...BINARY_OPERATORS.values()].join(', ');

/** labels.ParserContext: in Values, `in` and `notin` are plain identifiers. */
const CONTEXT = { keyAndOperator: 0, values: 1 } as const;
type Context = (typeof CONTEXT)[keyof typeof CONTEXT];

interface Lexer {
  readonly text: string;
  position: number;
}

interface Parser {
  readonly tokens: Token[];
  readonly literals: string[];
  position: number;
}

/** labels.Parse: the requirements, sorted by key. */
export function parseLabelSelector(text: string): SelectorParse<LabelRequirement> {
  const parser = scan(text);
  const requirements: LabelRequirement[] = [];
  for (;;) {
    const token = lookahead(parser, CONTEXT.values);
    if (token === TOKEN.end) break;
    if (token !== TOKEN.identifier && token !== TOKEN.doesNotExist) {
      return failure(`found '${currentLiteral(parser)}', expected: !, identifier, or 'end of string'`);
    }
    const requirement = parseRequirement(parser);
    if (!requirement.ok) return failure(`unable to parse requirement: ${requirement.problem}`);
    requirements.push(requirement.value);
    const next = consume(parser, CONTEXT.values);
    if (next === TOKEN.end) break;
    if (next !== TOKEN.comma) return failure(`found '${previousLiteral(parser)}', expected: ',' or 'end of string'`);
    const following = lookahead(parser, CONTEXT.values);
    if (following !== TOKEN.identifier && following !== TOKEN.doesNotExist) {
      return failure(`found '${currentLiteral(parser)}', expected: identifier after ','`);
    }
  }
  // Go's sort.Sort(ByKey) is an insertion sort, so stable, up to 12 requirements; beyond that
  // the relative order of requirements sharing a key may differ from Go's.
  return success(requirements.sort(compareKeys));
}

/** labels Parser.parseRequirement, then NewRequirement's checks. */
function parseRequirement(parser: Parser): Result<LabelRequirement> {
  const keyAndOperator = parseKeyAndInferOperator(parser);
  if (!keyAndOperator.ok) return keyAndOperator;
  const { key, operator: unary } = keyAndOperator.value;
  if (unary !== undefined) return success({ key, operator: unary, values: [] });
  const operator = parseOperator(parser);
  if (!operator.ok) return operator;
  const values = operator.value === 'in' || operator.value === 'notin' ? parseValues(parser) : parseExactValue(parser);
  return values.ok ? newRequirement(key, operator.value, values.value) : values;
}

/** Parser.parseKeyAndInferOperator: `exists` when the key ends the requirement; `!` stays `!` whatever follows. */
function parseKeyAndInferOperator(parser: Parser): Result<{ key: string; operator: 'exists' | '!' | undefined }> {
  let token = consume(parser, CONTEXT.values);
  const isNegated = token === TOKEN.doesNotExist;
  if (isNegated) token = consume(parser, CONTEXT.values);
  const key = previousLiteral(parser);
  if (token !== TOKEN.identifier) return failure(`found '${key}', expected: identifier`);
  const errors = labelKeyErrors(key);
  // Parse passes no field path, which Go prints as <nil>.
  if (errors.length > 0) return failure(invalidValue('<nil>', key, errors.join('; ')));
  if (isNegated) return success({ key, operator: '!' });
  const next = lookahead(parser, CONTEXT.values);
  return success({ key, operator: next === TOKEN.end || next === TOKEN.comma ? 'exists' : undefined });
}

/** Parser.parseOperator. */
function parseOperator(parser: Parser): Result<LabelOperator> {
  const operator = BINARY_OPERATORS.get(consume(parser, CONTEXT.keyAndOperator));
  return operator === undefined
    ? failure(`found '${previousLiteral(parser)}', expected: ${BINARY_OPERATOR_NAMES}`)
    : success(operator);
}

/** Parser.parseValues: `(…)`; `()` is the one empty value. */
function parseValues(parser: Parser): Result<string[]> {
  if (consume(parser, CONTEXT.values) !== TOKEN.openPar) {
    return failure(`found '${previousLiteral(parser)}' expected: '('`);
  }
  const token = lookahead(parser, CONTEXT.values);
  if (token === TOKEN.closePar) {
    consume(parser, CONTEXT.values);
    return success(['']);
  }
  if (token !== TOKEN.identifier && token !== TOKEN.comma) {
    return failure(`found '${currentLiteral(parser)}', expected: ',', ')' or identifier`);
  }
  const values = parseIdentifiersList(parser);
  if (!values.ok) return values;
  consume(parser, CONTEXT.values); // the `)` that parseIdentifiersList stopped at
  return values;
}

/** Parser.parseIdentifiersList: a missing value between commas, or at either end, is `''`. */
function parseIdentifiersList(parser: Parser): Result<string[]> {
  const values = new Set<string>();
  for (;;) {
    const token = consume(parser, CONTEXT.values);
    if (token === TOKEN.identifier) {
      values.add(previousLiteral(parser));
      const next = lookahead(parser, CONTEXT.values);
      if (next === TOKEN.closePar) return success(sortedValues(values));
      if (next !== TOKEN.comma) return failure(`found '${currentLiteral(parser)}', expected: ',' or ')'`);
    } else if (token === TOKEN.comma) {
      const next = lookahead(parser, CONTEXT.values);
      if (values.size === 0 || next === TOKEN.closePar || next === TOKEN.comma) values.add('');
      if (next === TOKEN.closePar) return success(sortedValues(values));
    } else {
      return failure(`found '${previousLiteral(parser)}', expected: ',', or identifier`);
    }
  }
}

/** Parser.parseExactValue: a missing value is `''`. */
function parseExactValue(parser: Parser): Result<string[]> {
  const next = lookahead(parser, CONTEXT.values);
  if (next === TOKEN.end || next === TOKEN.comma) return success(['']);
  if (consume(parser, CONTEXT.values) === TOKEN.identifier) return success([previousLiteral(parser)]);
  return failure(`found '${previousLiteral(parser)}', expected: identifier`);
}

/** Parser.scan: every token up to and including the end. */
function scan(text: string): Parser {
  const lexer: Lexer = { text, position: 0 };
  const parser: Parser = { tokens: [], literals: [], position: 0 };
  let token: Token;
  do token = lex(lexer, parser);
  while (token !== TOKEN.end);
  return parser;
}

/** Lexer.Lex: appends the next token and its literal to the parser's lists. */
function lex(lexer: Lexer, parser: Parser): Token {
  let char = read(lexer);
  while (isWhitespace(char)) char = read(lexer);
  let token: Token;
  let literal: string;
  const start = lexer.position - 1;
  if (char === 0) {
    token = TOKEN.end;
    literal = '';
  } else if (isSpecialSymbol(char)) {
    // Lexer.scanSpecialSymbol: the longest run of special characters that is a token.
    let end = start + 1;
    token = LITERAL_TOKENS.get(lexer.text.slice(start, end)) ?? TOKEN.end; // each special character is a token
    for (;;) {
      const next = read(lexer);
      if (next === 0) break;
      const longer = isSpecialSymbol(next) ? LITERAL_TOKENS.get(lexer.text.slice(start, lexer.position)) : undefined;
      if (longer === undefined) {
        lexer.position--;
        break;
      }
      token = longer;
      end = lexer.position;
    }
    literal = lexer.text.slice(start, end);
  } else {
    // Lexer.scanIDOrKeyword: everything up to a blank or special character.
    let end = start + 1;
    for (;;) {
      const next = read(lexer);
      if (next === 0) break;
      if (isSpecialSymbol(next) || isWhitespace(next)) {
        lexer.position--;
        break;
      }
      end = lexer.position;
    }
    literal = lexer.text.slice(start, end);
    token = LITERAL_TOKENS.get(literal) ?? TOKEN.identifier;
  }
  parser.tokens.push(token);
  parser.literals.push(literal);
  return token;
}

/**
 * Lexer.read: the next byte, 0 at the end. Go reads bytes and this reads UTF-16 units, which
 * split tokens alike (every byte that matters is ASCII); like Go, a NUL reads as the end.
 */
function read(lexer: Lexer): number {
  return lexer.position < lexer.text.length ? lexer.text.charCodeAt(lexer.position++) : 0;
}

/** labels isWhitespace. */
function isWhitespace(char: number): boolean {
  return char === 0x20 || char === 0x09 || char === 0x0d || char === 0x0a;
}

/** labels isSpecialSymbol: `=`, `!`, `(`, `)`, `,`, `>`, `<`. */
function isSpecialSymbol(char: number): boolean {
  switch (char) {
    case 0x3d:
    case 0x21:
    case 0x28:
    case 0x29:
    case 0x2c:
    case 0x3e:
    case 0x3c:
      return true;
    default:
      return false;
  }
}

/** Parser.lookahead. */
function lookahead(parser: Parser, context: Context): Token {
  return asContext(parser.tokens[parser.position] ?? TOKEN.end, context);
}

/** Parser.consume. */
function consume(parser: Parser, context: Context): Token {
  return asContext(parser.tokens[parser.position++] ?? TOKEN.end, context);
}

function asContext(token: Token, context: Context): Token {
  return context === CONTEXT.values && (token === TOKEN.in || token === TOKEN.notIn) ? TOKEN.identifier : token;
}

function currentLiteral(parser: Parser): string {
  return parser.literals[parser.position] ?? '';
}

function previousLiteral(parser: Parser): string {
  return parser.literals[parser.position - 1] ?? '';
}

function sortedValues(values: ReadonlySet<string>): string[] {
  return [...values].sort(compareUtf8);
}

function compareKeys(a: LabelRequirement, b: LabelRequirement): number {
  return compareUtf8(a.key, b.key);
}
