import { describe, expect, it } from 'vitest';
import { parseAuditEvent } from '../support/audit-schema.ts';

const VALID = {
  kind: 'Event',
  apiVersion: 'audit.k8s.io/v1',
  level: 'Metadata',
  auditID: 'a',
  stage: 'ResponseComplete',
  requestURI: '/version',
  verb: 'get',
  user: { username: 'u' },
  requestReceivedTimestamp: '2026-11-22T03:41:12.104000Z',
  stageTimestamp: '2026-11-22T03:41:12.109000Z',
};

/** The tests read every audit line through this check, so it must refuse what the Go types would. */
describe('the audit.k8s.io/v1 Event check the audit tests read lines with', () => {
  it('accepts a valid event', () => {
    expect(parseAuditEvent(JSON.stringify(VALID))).toEqual(VALID);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown field', { ...VALID, decision: 'allow' }, 'decision: not a field of the type'],
    ['a missing field', { ...VALID, verb: undefined }, 'verb: required'],
    ['a wrong stage', { ...VALID, stage: 'Done' }, 'stage: must be one of'],
    [
      'millisecond timestamps',
      { ...VALID, stageTimestamp: '2026-11-22T03:41:12.109Z' },
      'stageTimestamp: must be a MicroTime',
    ],
    ['a code as a string', { ...VALID, responseStatus: { code: '200' } }, 'responseStatus: code: must be an integer'],
    [
      'an annotation that is not a string',
      { ...VALID, annotations: { a: true } },
      'annotations: must map strings to strings',
    ],
    [
      'an unknown objectRef field',
      { ...VALID, objectRef: { resource: 'pods', group: '' } },
      'objectRef: group: not a field of the type',
    ],
  ])('refuses %s', (_, event, problem) => {
    expect(() => parseAuditEvent(JSON.stringify(event))).toThrow(problem);
  });
});
