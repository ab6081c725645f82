/**
 * config/document.ts: the one reader of YAML/JSON document fields that the policy, the audit
 * policy and the RBAC reviews share. Each reader reports its problem by field and goes on.
 */
import { describe, expect, it } from 'vitest';
import {
  booleanField,
  fieldOf,
  isNamespaceName,
  POD_NAMESPACE_SOURCES,
  stringList,
  substitutePodNamespace,
  unknownFields,
  type StringListRules,
} from '../../src/config/document.ts';

const ALLOW_LIST: StringListRules = {};
const AUDIT_LIST: StringListRules = { emptyMeansAbsent: true, allowEmptyString: true };

function readList(value: unknown, rules: StringListRules): [string[] | undefined, string[]] {
  const problems: string[] = [];
  const record: Record<string, unknown> = value === undefined ? {} : { verbs: value };
  return [stringList(record, 'verbs', 'rules[0]', problems, rules), problems];
}

describe('stringList: one reader, the rules of each document', () => {
  it.each<[string, unknown, StringListRules, string[] | undefined, string[]]>([
    ['a list', ['get', 'list'], ALLOW_LIST, ['get', 'list'], []],
    ['absent', undefined, ALLOW_LIST, undefined, []],
    ['absent but required', undefined, { required: true }, undefined, ['rules[0].verbs: required']],
    ['empty, in the allow-list', [], ALLOW_LIST, undefined, ['rules[0].verbs: must be a non-empty list of strings']],
    ['not a list', 'get', ALLOW_LIST, undefined, ['rules[0].verbs: must be a non-empty list of strings']],
    ['a non-string item', ['get', 1], ALLOW_LIST, undefined, ['rules[0].verbs: must be a non-empty list of strings']],
    ['an empty string', ['get', ''], ALLOW_LIST, ['get', ''], ['rules[0].verbs: has an empty string']],
    ['an empty string where allowed', [''], { allowEmptyString: true }, [''], []],
    ['empty, in the audit policy: matches everything', [], AUDIT_LIST, undefined, []],
    ['a list, in the audit policy', ['', 'apps'], AUDIT_LIST, ['', 'apps'], []],
    ['not a list, in the audit policy', 'get', AUDIT_LIST, undefined, ['rules[0].verbs: must be a list of strings']],
  ])('%s', (_, value, rules, expected, problems) => {
    expect(readList(value, rules)).toEqual([expected, problems]);
  });
});

describe('unknownFields: a near miss is named, else the known fields are listed', () => {
  const known = new Set(['verbs', 'resources', 'namespaces']);
  it.each<[string, Record<string, unknown>, string, string[]]>([
    ['known fields', { verbs: [], resources: [] }, 'rules[0].', []],
    ['a typo', { verb: [] }, 'rules[0].', ['rules[0].verb: unknown field (did you mean verbs?)']],
    [
      'nothing near',
      { level: 'None' },
      'rules[0].',
      ['rules[0].level: unknown field (expected verbs, resources, namespaces)'],
    ],
    ['at the top level', { resource: [] }, '', ['resource: unknown field (did you mean resources?)']],
  ])('%s', (_, record, at, expected) => {
    const problems: string[] = [];
    unknownFields(record, known, at, problems);
    expect(problems).toEqual(expected);
  });

  it('names what it reports', () => {
    const problems: string[] = [];
    unknownFields({ folow: false }, new Set(['follow']), 'rules[0].when.', problems, 'condition');
    expect(problems).toEqual(['rules[0].when.folow: unknown condition (did you mean follow?)']);
  });
});

describe('substitutePodNamespace: $(POD_NAMESPACE), and one message for how to give it', () => {
  it.each<[string, string, string | undefined, string, string[]]>([
    ['a namespace is kept', 'team-b', 'team-a', 'team-b', []],
    ['the placeholder is the pod namespace', '$(POD_NAMESPACE)', 'team-a', 'team-a', []],
    [
      'without a pod namespace',
      '$(POD_NAMESPACE)',
      undefined,
      '',
      [`rules[0].namespaces: $(POD_NAMESPACE) needs ${POD_NAMESPACE_SOURCES}`],
    ],
    ['a namespace needs none', 'team-b', undefined, 'team-b', []],
  ])('%s', (_, namespace, podNamespace, expected, expectedProblems) => {
    const problems: string[] = [];
    const value = substitutePodNamespace(
      namespace,
      { value: podNamespace, sources: POD_NAMESPACE_SOURCES },
      'rules[0].namespaces',
      problems,
    );
    expect([value, problems]).toEqual([expected, expectedProblems]);
  });
});

describe('isNamespaceName: an RFC 1123 label', () => {
  it.each<[string, boolean]>([
    ['team-a', true],
    ['a', true],
    ['0team', true],
    ['Team', false],
    ['-team', false],
    ['team-', false],
    ['team.a', false],
    ['', false],
  ])('%j → %s', (value, expected) => {
    expect(isNamespaceName(value)).toBe(expected);
  });
});

describe('booleanField and fieldOf', () => {
  it.each<[unknown, boolean | undefined, string[]]>([
    [true, true, []],
    [false, false, []],
    [undefined, undefined, []],
    ['true', undefined, ['omitManagedFields: must be true or false']],
  ])('booleanField(%j)', (value, expected, expectedProblems) => {
    const problems: string[] = [];
    const record = value === undefined ? {} : { omitManagedFields: value };
    expect([booleanField(record, 'omitManagedFields', 'omitManagedFields', problems), problems]).toEqual([
      expected,
      expectedProblems,
    ]);
  });

  it.each<[unknown, unknown]>([
    [{ message: 'm' }, 'm'],
    [{}, undefined],
    [['message'], undefined],
    [null, undefined],
    ['message', undefined],
  ])('fieldOf(%j, "message")', (value, expected) => {
    expect(fieldOf(value, 'message')).toBe(expected);
  });
});
