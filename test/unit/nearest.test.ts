import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, nearest } from '../../src/config/nearest.ts';

describe('editDistance', () => {
  it.each<[string, string, number]>([
    ['', '', 0],
    ['port', 'port', 0],
    ['', 'port', 4],
    ['port', '', 4],
    ['prot', 'port', 1], // a swap of neighbours is one edit
    ['lsit', 'list', 1],
    ['wacth', 'watch', 1],
    ['namespace', 'namespaces', 1],
    ['kitten', 'sitting', 3],
    ['ca', 'abc', 3], // optimal string alignment: a swapped pair is not edited again
  ])('%j → %j: %d', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('nearest', () => {
  const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
  it.each<[string, readonly string[], string | undefined]>([
    ['lsit', VERBS, 'list'],
    ['wacth', VERBS, 'watch'],
    ['gte', VERBS, 'get'],
    ['Get', VERBS, 'get'], // case is not an edit
    ['deletecolection', VERBS, 'deletecollection'],
    ['escalate', VERBS, undefined],
    ['bogus', VERBS, undefined],
    ['pacth', VERBS, 'patch'],
    ['prot', ['address', 'port', 'policy'], 'port'],
    ['po', ['address', 'port', 'policy'], undefined], // two edits in a short word is another word
    ['audit-levle', ['audit-level', 'audit-policy'], 'audit-level'],
    ['resourceName', ['resources', 'resourceNames'], 'resourceNames'],
    ['x', [], undefined],
  ])('%j among %j: %j', (word, candidates, expected) => {
    expect(nearest(word, candidates)).toBe(expected);
  });

  it('takes the first of equally near candidates', () => {
    expect(nearest('cat', ['bat', 'cab'])).toBe('bat');
  });
});

describe('didYouMean', () => {
  it('renders the suggestion as it would be typed, or says nothing', () => {
    expect(didYouMean('prot', ['port'], (name) => `--${name}`)).toBe(', did you mean --port?');
    expect(didYouMean('bogus', ['port'])).toBe('');
  });
});
