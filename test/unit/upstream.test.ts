import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/cluster/credentials.ts';
import { Upstream } from '../../src/cluster/upstream.ts';

describe('Upstream.request', () => {
  it("adds Host and the credentials to a list of its own, never to the caller's, so the same headers can be sent again", async () => {
    const credentials = await CredentialStore.open(
      () =>
        Promise.resolve({
          authorization: 'Bearer not-a-real-token',
          impersonateUser: 'someone',
          tls: { ca: undefined, cert: undefined, key: undefined, servername: undefined },
          expiresAt: undefined,
          identity: undefined,
        }),
      60_000,
      pino({ enabled: false }),
    );
    // Nothing listens on port 9 of the loopback: the request is destroyed before it could connect anyway.
    const upstream = new Upstream(new URL('https://127.0.0.1:9'), credentials, 0, 'http1.1');
    const headers = ['accept', 'application/json', 'audit-id', 'a1'];
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const request = upstream.request('GET', '/api', headers);
        request.on('error', () => undefined);
        request.destroy();
      }
      expect(headers).toEqual(['accept', 'application/json', 'audit-id', 'a1']);
    } finally {
      upstream.close();
      credentials.close();
    }
  });
});
