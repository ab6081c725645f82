import { describe, expect, it } from 'vitest';
import { bodyStall, bodyTimeout, upstreamFailure, type BodyStall } from '../../src/proxy/status.ts';

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
    [
      'upstream',
      504,
      'Timeout',
      'the API server stopped taking the request body: nothing for 1.5s (--request-body-timeout)',
    ],
  ])('a %s stall answers %i %s', (stall, code, reason, message) => {
    expect(bodyTimeout(stall, 1500)).toEqual({ code, reason, message });
  });
});

describe('upstreamFailure', () => {
  function errno(code: string, cause?: unknown): NodeJS.ErrnoException {
    return Object.assign(new Error(code, cause === undefined ? {} : { cause }), { code });
  }

  it.each<[string, NodeJS.ErrnoException, string, string]>([
    [
      'refused',
      errno('ECONNREFUSED'),
      'connect_refused',
      'the API server at h:443 refused the connection (ECONNREFUSED)',
    ],
    [
      'a stream cancelled because its connection could not open: the cause',
      errno('ERR_HTTP2_STREAM_CANCEL', errno('ECONNREFUSED')),
      'connect_refused',
      'the API server at h:443 refused the connection (ECONNREFUSED)',
    ],
    [
      'a stream cancelled on a connection that went away',
      errno('ERR_HTTP2_STREAM_CANCEL'),
      'reset',
      'the connection to the API server at h:443 was closed before it answered (ERR_HTTP2_STREAM_CANCEL)',
    ],
    [
      'a stream cancelled with a cause that is not a system error',
      errno('ERR_HTTP2_STREAM_CANCEL', 'why'),
      'reset',
      'the connection to the API server at h:443 was closed before it answered (ERR_HTTP2_STREAM_CANCEL)',
    ],
  ])('%s', (_, error, cause, message) => {
    const failure = upstreamFailure(error, 'h:443');
    expect(failure.cause).toBe(cause);
    expect(failure.status).toMatchObject({ code: 503, message });
  });
});
