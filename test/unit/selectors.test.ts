/**
 * Expectations come from k8s.io/apimachinery: pkg/labels/selector_test.go (TestSelectorParse,
 * TestSetSelectorParser, TestLexer, TestLexerSequence, TestParserLookahead, TestParseOperator,
 * TestRequirementConstructor, TestToString, TestDeterministicParse, TestSelectorMatches) and
 * pkg/fields/selector_test.go (TestSelectorParse, TestSplitTerms, TestSplitTerm, TestEscapeValue).
 * Rows marked "Go:" follow from reading the cited Go function where no Go test covers the case.
 * Messages are Go's, character for character, including content.RegexError's doubled spaces.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  escapeFieldValue,
  findExactFieldMatch,
  formatFieldSelector,
  formatLabelSelector,
  parseFieldSelector,
  parseLabelSelector,
  pinsLabelKey,
  selectsEverything,
  type FieldRequirement,
  type LabelOperator,
  type LabelRequirement,
} from '../../src/request/selectors.ts';

const KEY_RULE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character " +
  "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_RULE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end " +
  "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is " +
  "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const PREFIX_RULE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end " +
  "with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const GT_LT_RULE = "for 'Gt', 'Lt' operators, the value must be an integer";
const OPERATORS = 'in, notin, =, ==, !=, gt, lt';

function req(key: string, operator: LabelOperator, ...values: string[]): LabelRequirement {
  return { key, operator, values };
}

function term(field: string, operator: '=' | '!=', value: string): FieldRequirement {
  return { field, operator, value };
}

/** Parse's message for a key that fails validateLabelKey (parseKeyAndInferOperator passes a nil path). */
function badKey(quotedKey: string, detail: string): string {
  return `unable to parse requirement: <nil>: Invalid value: ${quotedKey}: ${detail}`;
}

/** NewRequirement's message for a value that fails validateLabelValue. */
function badValue(key: string, quotedValue: string, detail = VALUE_RULE): string {
  return `unable to parse requirement: values[0][${key}]: Invalid value: ${quotedValue}: ${detail}`;
}

type LabelRow = readonly [input: string, expected: readonly LabelRequirement[] | string, source: string];

const LABEL_ROWS: readonly LabelRow[] = [
  // TestSelectorParse testGoodStrings (and String() gives them back without blanks, see below)
  ['x=a,y=b,z=c', [req('x', '=', 'a'), req('y', '=', 'b'), req('z', '=', 'c')], 'TestSelectorParse'],
  ['', [], 'TestSelectorParse: the empty selector selects everything'],
  ['x!=a,y=b', [req('x', '!=', 'a'), req('y', '=', 'b')], 'TestSelectorParse'],
  ['x=', [req('x', '=', '')], 'TestSelectorParse: parseExactValue reads a missing value as ""'],
  ['x= ', [req('x', '=', '')], 'TestSelectorParse'],
  ['x=,z= ', [req('x', '=', ''), req('z', '=', '')], 'TestSelectorParse'],
  ['x= ,z= ', [req('x', '=', ''), req('z', '=', '')], 'TestSelectorParse'],
  ['!x', [req('x', '!')], 'TestSelectorParse'],
  ['x>1', [req('x', 'gt', '1')], 'TestSelectorParse'],
  ['x>1,z<5', [req('x', 'gt', '1'), req('z', 'lt', '5')], 'TestSelectorParse'],
  // TestSelectorParse testBadStrings, with Go's messages
  ['x=a||y=b', badValue('x', '"a||y"'), 'TestSelectorParse: `|` is an identifier character; the value fails'],
  ['x==a==b', "found '==', expected: ',' or 'end of string'", 'TestSelectorParse'],
  ['!x=a', "found '=', expected: ',' or 'end of string'", 'TestSelectorParse: `!key` takes no value'],
  ['x<a', `unable to parse requirement: values[0]: Invalid value: "a": ${GT_LT_RULE}`, 'TestSelectorParse'],
  // TestSetSelectorParser
  ['\rx', [req('x', 'exists')], 'TestSetSelectorParser: CR is a blank'],
  [
    'this-is-a-dns.domain.com/key-with-dash',
    [req('this-is-a-dns.domain.com/key-with-dash', 'exists')],
    'TestSetSelectorParser: prefixed key',
  ],
  [
    'this-is-another-dns.domain.com/key-with-dash in (so,what)',
    [req('this-is-another-dns.domain.com/key-with-dash', 'in', 'so', 'what')],
    'TestSetSelectorParser',
  ],
  [
    '0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)',
    [req('0.1.2.domain/99', 'notin', '10.10.100.1', 'tick.tack.clock')],
    'TestSetSelectorParser',
  ],
  ['foo  in\t (abc)', [req('foo', 'in', 'abc')], 'TestSetSelectorParser: tabs are blanks'],
  ['x notin\n (abc)', [req('x', 'notin', 'abc')], 'TestSetSelectorParser: LF is a blank'],
  ['x  notin\t\t\t(abc,def)', [req('x', 'notin', 'abc', 'def')], 'TestSetSelectorParser'],
  ['x in (abc,def)', [req('x', 'in', 'abc', 'def')], 'TestSetSelectorParser'],
  ['x in (abc,)', [req('x', 'in', '', 'abc')], 'TestSetSelectorParser: a trailing comma in a list adds ""'],
  ['x in (abc,abc)', [req('x', 'in', 'abc')], 'TestSetSelectorParser: values are a set'],
  ['x in ()', [req('x', 'in', '')], 'TestSetSelectorParser: `()` is the set {""}, not an error'],
  ['x in (a,,)', [req('x', 'in', '', 'a')], 'TestSetSelectorParser'],
  ['x in (a,,,,,,)', [req('x', 'in', '', 'a')], 'TestSetSelectorParser'],
  ['x in (a,,a,,a,,a,,)', [req('x', 'in', '', 'a')], 'TestSetSelectorParser'],
  [
    'x notin (abc,,def),bar,z in (),w',
    [req('bar', 'exists'), req('w', 'exists'), req('x', 'notin', '', 'abc', 'def'), req('z', 'in', '')],
    'TestSetSelectorParser: sorted by key',
  ],
  ['x,y in (a)', [req('x', 'exists'), req('y', 'in', 'a')], 'TestSetSelectorParser'],
  ['x=a', [req('x', '=', 'a')], 'TestSetSelectorParser'],
  ['x<7', [req('x', 'lt', '7')], 'TestSetSelectorParser'],
  ['x=a,y!=b', [req('x', '=', 'a'), req('y', '!=', 'b')], 'TestSetSelectorParser'],
  [
    'x=a,y!=b,z in (h,i,j)',
    [req('x', '=', 'a'), req('y', '!=', 'b'), req('z', 'in', 'h', 'i', 'j')],
    'TestSetSelectorParser',
  ],
  ['x,,y', "found ',', expected: identifier after ','", 'TestSetSelectorParser'],
  [',x,y', "found ',', expected: !, identifier, or 'end of string'", 'TestSetSelectorParser'],
  ['x nott in (y)', `unable to parse requirement: found 'nott', expected: ${OPERATORS}`, 'TestSetSelectorParser'],
  ['x notin ( )', [req('x', 'notin', '')], 'TestSetSelectorParser'],
  ['x notin (, a)', [req('x', 'notin', '', 'a')], 'TestSetSelectorParser: a leading comma adds ""'],
  ['a in (xyz),', "found '', expected: identifier after ','", 'TestSetSelectorParser: trailing comma'],
  ['a in (xyz)b notin ()', "found 'b', expected: ',' or 'end of string'", 'TestSetSelectorParser'],
  ['a ', [req('a', 'exists')], 'TestSetSelectorParser'],
  [
    'a in (x,y,notin, z,in)',
    [req('a', 'in', 'in', 'notin', 'x', 'y', 'z')],
    'TestSetSelectorParser: in and notin are values inside a list (ParserContext Values)',
  ],
  ['a in (xyz abc)', "unable to parse requirement: found 'abc', expected: ',' or ')'", 'TestSetSelectorParser'],
  ['a notin(', "unable to parse requirement: found '', expected: ',', ')' or identifier", 'TestSetSelectorParser'],
  ['a (', `unable to parse requirement: found '(', expected: ${OPERATORS}`, 'TestSetSelectorParser, TestParseOperator'],
  ['(', "found '(', expected: !, identifier, or 'end of string'", 'TestSetSelectorParser'],
  // TestSelectorMatches, TestDeterministicParse, TestLexer
  ['notin=in', [req('notin', '=', 'in')], 'TestSelectorMatches: in and notin as key and value'],
  ['x=a,a=x', [req('a', '=', 'x'), req('x', '=', 'a')], 'TestDeterministicParse: sort.Sort(ByKey)'],
  ['x=~', badValue('x', '"~"'), 'TestLexer: `~` is an identifier character'],
  ['x==a', [req('x', '==', 'a')], 'TestLexer: `==` is its own operator (selection.DoubleEquals)'],
  // Go: Parser and Lexer details no Go test pins down
  [' ', [], 'Go: Lex skips blanks (a form-decoded `+`) and finds the end: the empty selector'],
  [' \t\r\n ', [], 'Go: isWhitespace is space, tab, CR, LF'],
  ['key', [req('key', 'exists')], 'Go: parseKeyAndInferOperator infers exists before the end'],
  ['!key,other', [req('key', '!'), req('other', 'exists')], 'Go: parseKeyAndInferOperator, then a comma'],
  ['in in (in)', [req('in', 'in', 'in')], 'Go: in is a key where parse() looks ahead in Values context'],
  ['!in', [req('in', '!')], 'Go: !in is the key in, absent'],
  ['x in(a)', [req('x', 'in', 'a')], 'Go: scanIDOrKeyword stops at the special `(`'],
  [
    'b=1,a=2,b=0',
    [req('a', '=', '2'), req('b', '=', '1'), req('b', '=', '0')],
    'Go: sort.Sort keeps small equal keys in order',
  ],
  ['x=a,', "found '', expected: identifier after ','", 'Go: parse() after a trailing comma'],
  ['x=a b', "found 'b', expected: ',' or 'end of string'", 'Go: a blank ends a value'],
  [
    'x===a',
    "unable to parse requirement: found '=', expected: identifier",
    'Go: scanSpecialSymbol reads `==` then `=`',
  ],
  ['x>=1', "unable to parse requirement: found '=', expected: identifier", 'Go: `>=` is `>` then `=`'],
  ['x=)', "unable to parse requirement: found ')', expected: identifier", 'Go: parseExactValue'],
  ['x in a', "unable to parse requirement: found 'a' expected: '('", "Go: parseValues (no colon in Go's text)"],
  ['x in (a,b', "unable to parse requirement: found '', expected: ',' or ')'", 'Go: parseIdentifiersList'],
  ['x in (a,=)', "unable to parse requirement: found '=', expected: ',', or identifier", 'Go: parseIdentifiersList'],
  ['!', "unable to parse requirement: found '', expected: identifier", 'Go: parseKeyAndInferOperator'],
  ['!!x', "unable to parse requirement: found '!', expected: identifier", 'Go: `!!` is two `!` tokens'],
  ['=a', "found '=', expected: !, identifier, or 'end of string'", 'Go: parse()'],
  ['x>9223372036854775807', [req('x', 'gt', '9223372036854775807')], 'Go: strconv.ParseInt takes int64 max'],
  [
    'x>9223372036854775808',
    `unable to parse requirement: values[0]: Invalid value: "9223372036854775808": ${GT_LT_RULE}`,
    'Go: strconv.ParseInt out of range',
  ],
  ['x>-1', badValue('x', '"-1"'), 'Go: ParseInt takes -1 but it is no label value'],
  [
    'x>a-',
    `unable to parse requirement: [values[0]: Invalid value: "a-": ${GT_LT_RULE}, values[0][x]: Invalid value: "a-": ${VALUE_RULE}]`,
    'Go: NewRequirement aggregates both errors as [a, b]',
  ],
  [
    'x in (-a,b,c-)',
    `unable to parse requirement: [values[0][x]: Invalid value: "-a": ${VALUE_RULE}, values[2][x]: Invalid value: "c-": ${VALUE_RULE}]`,
    'Go: each bad value of the sorted list, by index',
  ],
  // Keys (validateLabelKey: content.IsLabelKey) and values (content.IsLabelValue)
  [
    'a/b/c',
    badKey(
      '"a/b/c"',
      `a valid label key ${KEY_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ),
    'Go: IsLabelKey, more than one /',
  ],
  ['/a', badKey('"/a"', 'prefix part must be non-empty'), 'Go: IsLabelKey, empty prefix'],
  [
    'a/',
    badKey('"a/"', `name part must be non-empty; name part ${KEY_RULE}`),
    'Go: IsLabelKey reports an empty name twice',
  ],
  ['A.b/c', badKey('"A.b/c"', `prefix part ${PREFIX_RULE}`), 'Go: IsDNS1123Subdomain is lower case'],
  ['-x', badKey('"-x"', `name part ${KEY_RULE}`), 'Go: a name starts with an alphanumeric'],
  ['x_', badKey('"x_"', `name part ${KEY_RULE}`), 'Go: a name ends with an alphanumeric'],
  ['a'.repeat(63), [req('a'.repeat(63), 'exists')], 'Go: a name of 63 bytes'],
  ['a'.repeat(64), badKey(`"${'a'.repeat(64)}"`, 'name part must be no more than 63 bytes'), 'Go: MaxLenError'],
  [
    'a'.repeat(254),
    badKey(`"${'a'.repeat(254)}"`, 'name part must be no more than 63 bytes'),
    'TestRequirementConstructor: a 254-byte key',
  ],
  [`${'p'.repeat(253)}/k`, [req(`${'p'.repeat(253)}/k`, 'exists')], 'Go: a prefix of 253 bytes'],
  [
    `${'p'.repeat(254)}/k`,
    badKey(`"${'p'.repeat(254)}/k"`, 'prefix part must be no more than 253 bytes'),
    'Go: IsDNS1123Subdomain MaxLenError',
  ],
  [`x=${'v'.repeat(63)}`, [req('x', '=', 'v'.repeat(63))], 'Go: a value of 63 bytes'],
  [
    `x=${'v'.repeat(64)}`,
    badValue('x', `"${'v'.repeat(64)}"`, 'must be no more than 63 bytes'),
    'TestRequirementConstructor: a value too long',
  ],
  ['x="a"', badValue('x', '"\\"a\\""'), 'Go: quotes are identifier characters, and %q escapes them'],
  ["x='a'", badValue('x', `"'a'"`), 'Go: single quotes too'],
  ['x=a\u0001', badValue('x', '"a\\x01"'), 'Go: %q writes control characters as \\x'],
  ['x=é', badValue('x', '"é"'), 'Go: non-ASCII values fail; %q keeps printable runes'],
  ['ключ=a', badKey('"ключ"', `name part ${KEY_RULE}`), 'Go: non-ASCII keys fail'],
  [
    `x=${'é'.repeat(32)}`,
    badValue('x', `"${'é'.repeat(32)}"`, `must be no more than 63 bytes; ${VALUE_RULE}`),
    'Go: length is counted in UTF-8 bytes (64 here, for 32 characters)',
  ],
  // Go's Lexer.read returns 0 for a NUL byte as for the end of the text.
  ['a \u0000junk', [req('a', 'exists')], 'Go: Lex at a NUL returns EndOfStringToken, so scan stops'],
  ['a\u0000=b', [req('a', '=', 'b')], 'Go: inside a token a NUL ends it and is skipped'],
];

describe('parseLabelSelector (labels.Parse)', () => {
  it.each(LABEL_ROWS)('%j → %j (%s)', (input, expected) => {
    const parsed = parseLabelSelector(input);
    if (typeof expected === 'string') expect(parsed).toEqual({ ok: false, problem: expected });
    else expect(parsed).toEqual({ ok: true, value: expected });
  });
});

describe('formatLabelSelector (labels Selector.String)', () => {
  it.each<[string, string]>([
    // TestSelectorParse: String() of a good string is the string without blanks
    ['x=a,y=b,z=c', 'x=a,y=b,z=c'],
    ['x= ,z= ', 'x=,z='],
    ['x>1,z<5', 'x>1,z<5'],
    // TestToString
    ['x in (abc,def),y notin (jkl),z', 'x in (abc,def),y notin (jkl),z'],
    ['x notin (abc,def),y!=jkl,!z', 'x notin (abc,def),y!=jkl,!z'],
    ['x notin (abc),y in (jkl,mno),z notin ()', 'x notin (abc),y in (jkl,mno),z notin ()'],
    ['x=abc,y==jkl,z!=a,z', 'x=abc,y==jkl,z!=a,z'],
    ['y<8,x>2,z', 'x>2,y<8,z'],
    ['x in (c,a,b,a)', 'x in (a,b,c)'],
  ])('%j → %j', (input, canonical) => {
    const parsed = parseLabelSelector(input);
    expect(parsed.ok && formatLabelSelector(parsed.value)).toBe(canonical);
  });
});

type FieldRow = readonly [input: string, expected: readonly FieldRequirement[] | string, source: string];

const FIELD_ROWS: readonly FieldRow[] = [
  // fields TestSelectorParse testGoodStrings
  ['x=a,y=b,z=c', [term('x', '=', 'a'), term('y', '=', 'b'), term('z', '=', 'c')], 'TestSelectorParse'],
  ['', [], 'TestSelectorParse: the empty selector selects everything'],
  ['x!=a,y=b', [term('x', '!=', 'a'), term('y', '=', 'b')], 'TestSelectorParse'],
  ['x=a||y\\=b', [term('x', '=', 'a||y=b')], 'TestSelectorParse: an escaped ='],
  ['x=a\\=\\=b', [term('x', '=', 'a==b')], 'TestSelectorParse'],
  // fields TestSelectorParse testBadStrings, with Go's messages (UnescapedRune prints the rune's number)
  ['x=a||y=b', 'invalid field selector: unescaped character in value: 61', 'TestSelectorParse'],
  ['x==a==b', 'invalid field selector: unescaped character in value: 61', 'TestSelectorParse'],
  ['x=a,b', "invalid selector: 'x=a,b'; can't understand 'b'", 'TestSelectorParse: terms are sorted first'],
  ['x in (a)', "invalid selector: 'x in (a)'; can't understand 'x in (a)'", 'TestSelectorParse'],
  ['x in (a,b,c)', "invalid selector: 'x in (a,b,c)'; can't understand 'b'", 'TestSelectorParse'],
  ['x', "invalid selector: 'x'; can't understand 'x'", 'TestSelectorParse'],
  // TestSplitTerms, TestSplitTerm, TestEscapeValue
  [
    'a=avalue,b==bvalue,c!=cvalue',
    [term('a', '=', 'avalue'), term('b', '=', 'bvalue'), term('c', '!=', 'cvalue')],
    'TestSplitTerms: == is =',
  ],
  ['a=a,', [term('a', '=', 'a')], 'TestSplitTerms: a trailing empty term is skipped'],
  [',a=a', [term('a', '=', 'a')], 'TestSplitTerms: a leading empty term is skipped'],
  // (`k2=…` sorts before `k=…`: '2' is 0x32, '=' 0x3d)
  ['k=\\,,k2=v2', [term('k2', '=', 'v2'), term('k', '=', ',')], 'TestSplitTerms: escaped comma'],
  ['k=\\\\,k2=v2', [term('k2', '=', 'v2'), term('k', '=', '\\')], 'TestSplitTerms: escaped backslash'],
  ['k=\\\\\\,,k2=v2', [term('k2', '=', 'v2'), term('k', '=', '\\,')], 'TestSplitTerms: both'],
  ['k=\\a\\b\\', 'invalid field selector: invalid escape sequence: \\a', 'TestSplitTerms, TestEscapeValue'],
  ['k=\\', 'invalid field selector: invalid escape sequence: \\', 'TestSplitTerms: orphan backslash'],
  ['k=\\\\\\', 'invalid field selector: invalid escape sequence: \\', 'TestEscapeValue'],
  ['함=수,목=록', [term('목', '=', '록'), term('함', '=', '수')], 'TestSplitTerms: multi-byte, sorted by bytes'],
  ['k=\\=', [term('k', '=', '=')], 'TestSplitTerm'],
  ['k=\\\\\\=\\,', [term('k', '=', '\\=,')], 'TestEscapeValue'],
  // Go: parseSelector, splitTerm, UnescapeValue, hasTerm.Transform
  [' ', "invalid selector: ' '; can't understand ' '", 'Go: unlike labels, a blank is a term and fails'],
  ['x=', [term('x', '=', '')], 'Go: an empty value'],
  ['=', [], 'Go: hasTerm.Transform makes ("", "") Everything, which andTerm drops'],
  ['!=,x=a', [term('x', '=', 'a')], 'Go: the same for notHasTerm'],
  ['=a', [term('', '=', 'a')], 'Go: the field is not checked'],
  [' x = a ', [term(' x ', '=', ' a ')], 'Go: blanks are kept on both sides'],
  ['!x=a', [term('!x', '=', 'a')], 'Go: splitTerm takes the first operator'],
  ['a!==b', 'invalid field selector: unescaped character in value: 61', 'Go: `!=` first, then `=b` fails'],
  ['a,,b=c', "invalid selector: 'a,,b=c'; can't understand 'a'", 'Go: the first bad term after sorting'],
  ['z=\\q,a', "invalid selector: 'z=\\q,a'; can't understand 'a'", 'Go: sorted, so `a` fails before `\\q`'],
  ['x=a,b=c\\q', 'invalid field selector: invalid escape sequence: \\q', 'Go: UnescapeValue'],
  ['k=\\😀', 'invalid field selector: invalid escape sequence: \\😀', 'Go: the escape sequence is a whole rune'],
  ['metadata.name!=foo', [term('metadata.name', '!=', 'foo')], 'Go: notHasTerm'],
  ['ключ=значение', [term('ключ', '=', 'значение')], 'Go: fields and values are not validated'],
  ['a=\uff46,a=😀', [term('a', '=', '\uff46'), term('a', '=', '😀')], 'Go: byte order puts U+FF46 before U+1F600'],
];

describe('parseFieldSelector (fields.ParseSelector)', () => {
  it.each(FIELD_ROWS)('%j → %j (%s)', (input, expected) => {
    const parsed = parseFieldSelector(input);
    if (typeof expected === 'string') expect(parsed).toEqual({ ok: false, problem: expected });
    else expect(parsed).toEqual({ ok: true, value: expected });
  });

  it.each<[string, string]>([
    // TestEscapeValue
    ['', ''],
    ['a', 'a'],
    ['=', '\\='],
    [',', '\\,'],
    ['\\', '\\\\'],
    ['\\=\\,\\', '\\\\\\=\\\\\\,\\\\'],
  ])('escapeFieldValue(%j) is %j (TestEscapeValue)', (value, escaped) => {
    expect(escapeFieldValue(value)).toBe(escaped);
  });
});

describe('selectsEverything, pinsLabelKey, findExactFieldMatch', () => {
  const keys: ReadonlySet<string> = new Set(['app', 'team']);

  it.each<[string, boolean]>([
    ['', true],
    [' ', true],
    ['app', false],
    ['!app', false],
  ])('label selector %j selects everything: %s (internalSelector.Empty)', (input, expected) => {
    const parsed = parseLabelSelector(input);
    expect(parsed.ok && selectsEverything(parsed.value)).toBe(expected);
  });

  it.each<[string, boolean]>([
    ['app=web', true],
    ['app==web', true],
    ['app in (web,api)', true],
    ['app in ()', true], // the set {""}: app must be present and empty
    ['app', true],
    ['other=x,team', true],
    ['!app', false],
    ['app!=web', false],
    ['app notin (web)', false],
    ['app>1', false],
    ['app<1', false],
    ['other=x', false],
    ['', false],
    ['app!=a,team notin (b),!other', false],
    ['example.com/app=web', false], // a prefixed key is another key
  ])('%j pins app or team: %s', (input, expected) => {
    const parsed = parseLabelSelector(input);
    expect(parsed.ok && pinsLabelKey(parsed.value, keys)).toBe(expected);
  });

  it.each<[string, string | undefined]>([
    ['metadata.name=a', 'a'],
    ['metadata.name==a', 'a'],
    ['metadata.name!=a', undefined],
    ['metadata.name=b,metadata.name=a', 'a'], // andTerm.RequiresExactMatch: first after sorting
    ['x=1', undefined],
    ['', undefined],
  ])('field selector %j requires metadata.name %j (RequiresExactMatch)', (input, expected) => {
    const parsed = parseFieldSelector(input);
    expect(parsed.ok ? findExactFieldMatch(parsed.value, 'metadata.name') : 'parse failed').toBe(expected);
  });
});

/** Selector text mostly made of pieces that parse, so the round trip is exercised often. */
const LABEL_KEYS = ['a', 'b', 'app', 'in', 'notin', 'x.y/z', 'example.com/k', 'A-1_b.c', '9'];
const LABEL_VALUES = ['', 'v', 'in', 'notin', '1', '42', 'a.b-c_d', 'Z9'];
const blank = fc.constantFrom('', ' ', '\t');
const labelKey = fc.constantFrom(...LABEL_KEYS);
const labelValue = fc.constantFrom(...LABEL_VALUES);
const labelRequirementText = fc.oneof(
  fc.tuple(blank, labelKey).map(([b, k]) => `${b}${k}`),
  fc.tuple(labelKey, blank).map(([k, b]) => `!${k}${b}`),
  fc.tuple(labelKey, fc.constantFrom('=', '==', '!='), blank, labelValue).map(([k, op, b, v]) => `${k}${op}${b}${v}`),
  fc.tuple(labelKey, fc.constantFrom('>', '<'), fc.nat()).map(([k, op, n]) => `${k}${op}${String(n)}`),
  fc
    .tuple(labelKey, fc.constantFrom(' in ', ' notin '), fc.array(labelValue, { maxLength: 4 }))
    .map(([k, op, vs]) => `${k}${op}(${vs.join(',')})`),
);
const labelSelectorText = fc.oneof(
  fc.array(labelRequirementText, { maxLength: 6 }).map((parts) => parts.join(',')),
  fc.string({ unit: fc.constantFrom('a', 'b', '1', ' ', '=', '!', '(', ')', ',', '<', '>', 'in', '-', '/', '.') }),
);
const fieldSelectorText = fc.string({
  unit: fc.constantFrom('a', 'b', 'é', '😀', '\uff46', ' ', '=', '!', ',', '\\', '.', 'metadata.name'),
});

describe('properties', () => {
  it('labels: the canonical text of parsed requirements parses to the same requirements', () => {
    fc.assert(
      fc.property(labelSelectorText, (text) => {
        const parsed = parseLabelSelector(text);
        if (!parsed.ok) return;
        const canonical = formatLabelSelector(parsed.value);
        expect(parseLabelSelector(canonical)).toEqual(parsed);
      }),
      { numRuns: 2000 },
    );
  });

  it('fields: the canonical text parses to the same requirements, in canonical order after one round', () => {
    fc.assert(
      fc.property(fieldSelectorText, (text) => {
        const parsed = parseFieldSelector(text);
        if (!parsed.ok) return;
        const again = parseFieldSelector(formatFieldSelector(parsed.value));
        // Go's String() writes `==` as `=` and re-escapes values, which can reorder terms that the
        // sort saw in another spelling; the set of requirements is the same.
        expect(again.ok && [...again.value].sort(byText)).toEqual([...parsed.value].sort(byText));
        if (!again.ok) return;
        expect(parseFieldSelector(formatFieldSelector(again.value))).toEqual(again);
      }),
      { numRuns: 2000 },
    );
  });

  it('fields: any value survives escapeFieldValue then parsing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        expect(parseFieldSelector(`f=${escapeFieldValue(value)}`)).toEqual({
          ok: true,
          value: [term('f', '=', value)],
        });
      }),
    );
  });

  it('neither parser throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        expect(typeof parseLabelSelector(text).ok).toBe('boolean');
        expect(typeof parseFieldSelector(text).ok).toBe('boolean');
      }),
    );
  });
});

function byText(a: FieldRequirement, b: FieldRequirement): number {
  const x = `${a.field}\u0000${a.operator}\u0000${a.value}`;
  const y = `${b.field}\u0000${b.operator}\u0000${b.value}`;
  return x < y ? -1 : x > y ? 1 : 0;
}
