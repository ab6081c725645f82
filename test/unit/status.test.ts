import { describe, expect, it } from 'vitest';
import { bodyStall, bodyTimeout, type BodyStall } from '../../src/proxy/status.ts';

describe('bodyStall: who stopped a request body that has not moved for --request-body-timeout', () => {
  it.each<[string, boolean, boolean, BodyStall]>([
    ['the client owes bytes and the API server is ready for them', false, false, 'client'],
    ['the client owes bytes but the pipe is paused: the API server is not taking them', false, true, 'upstream'],
    ['the client sent everything; it is still on its way up', true, false, 'upstream'],
    ['the client sent everything and the pipe is paused', true, true, 'upstream'],
  ])('%s', (_, clientFinished, upstreamBackPressure, expected) => {
    expect(bodyStall(clientFinished, upstreamBackPressure)).toBe(expected);
  });
});

describe('bodyTimeout', () => {
  it.each<[BodyStall, number, string, string]>([
    ['client', 408, 'Timeout', 'the request body stopped arriving: nothing for 1.5s (--request-body-timeout)'],
    ['upstream', 504, 'Timeout', 'the API server stopped taking the request body: nothing for 1.5s (--request-body-timeout)'],
  ])('a %s stall answers %i %s', (stall, code, reason, message) => {
    expect(bodyTimeout(stall, 1500)).toEqual({ code, reason, message });
  });
});
