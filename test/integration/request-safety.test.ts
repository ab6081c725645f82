import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startAmbassador,
  startClusterAndAmbassador,
  stopClusterAndAmbassador,
  type RunningAmbassador,
} from '../support/ambassador.ts';
import type { TestCluster } from '../support/cluster.ts';
import { request } from 'node:http';
import { connect } from 'node:net';
import { parseRawResponse, send, sendRaw } from '../support/http.ts';

let cluster: TestCluster;
let ambassador: RunningAmbassador;

beforeAll(async () => {
  ({ cluster, ambassador } = await startClusterAndAmbassador());
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

/** Sends a request target verbatim (no client normalisation) and returns the parsed answer. */
async function rawGet(
  target: string,
  headers = `Host: localhost:${ambassador.port}\r\n`,
): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  return parseRawResponse(
    await sendRaw(ambassador.port, `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`),
  );
}

describe('ambiguous request targets', () => {
  it.each([
    ['double slash', '/api/v1//namespaces/default/secrets'],
    ['leading double slash', '//api/v1/namespaces/default/pods'],
    ['dot segment', '/api/v1/namespaces/default/pods/./x'],
    ['dot-dot segment', '/api/v1/namespaces/default/pods/../secrets'],
    ['encoded slash', '/api/v1/namespaces/default/pods%2Fweb%2Fexec'],
    ['encoded slash, lower case', '/api/v1/namespaces/default/pods%2fweb'],
    ['encoded backslash', '/api/v1/namespaces/default/pods%5Cweb'],
    ['encoded dot', '/api/v1/namespaces/default/pods/%2E%2E/secrets'],
    ['half-encoded dot-dot', '/api/v1/namespaces/default/pods/.%2e/secrets'],
    ['raw backslash', '/api\\v1\\pods'],
    ['invalid escape', '/api/v1/namespaces/default/pods/%zz'],
    ['truncated escape', '/api/v1/namespaces/default/pods/%4'],
    ['encoded NUL', '/api/v1/namespaces/default/pods/a%00b'],
    ['encoded newline', '/api/v1/namespaces/default/pods/a%0Ab'],
    ['non-UTF-8 escape', '/api/v1/namespaces/default/pods/%C3%28'],
    ['absolute-form', 'http://evil.example/api/v1/pods'],
    ['asterisk-form', '*'],
    ['semicolon in the query', '/api/v1/pods?watch=0;watch=1'],
    ['invalid escape in the query', '/api/v1/pods?labelSelector=%G1'],
    ['fragment', '/api/v1/pods#x'],
  ])('refuses a %s with a 400 Status and sends nothing upstream', async (_, target) => {
    const before = cluster.api.requests.length;
    const { status, body } = await rawGet(target);
    expect(status).toBe(400);
    expect(body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'BadRequest',
      code: 400,
    });
    expect(cluster.api.requests.length).toBe(before);
  });

  it('refuses CONNECT with a Status', async () => {
    const raw = await sendRaw(ambassador.port, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`);
    expect(parseRawResponse(raw)).toMatchObject({ status: 400, body: { reason: 'BadRequest' } });
  });

  it('writes a Status on a raw socket with the status line and headers of any other Status answer', async () => {
    const headOf = (raw: string) => raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n');
    const onSocket = headOf(
      await sendRaw(ambassador.port, `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`),
    );
    const onResponse = headOf(
      await sendRaw(ambassador.port, 'GET /a//b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
    );
    expect(onSocket[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(onSocket[0]).toBe(onResponse[0]);
    const names = (head: string[]) =>
      head
        .slice(1)
        .map((line) => line.slice(0, line.indexOf(':')).toLowerCase())
        .filter((name) => name !== 'date')
        .sort();
    expect(names(onSocket)).toEqual(names(onResponse));
    expect(onSocket).toContain('cache-control: no-store');
  });

  it('answers a request Node cannot parse with a Status, and stays up', async () => {
    const raw = await sendRaw(
      ambassador.port,
      'GET /version HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(parseRawResponse(raw)).toMatchObject({ status: 400, body: { kind: 'Status', reason: 'BadRequest' } });
    expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
  });

  it('answers oversized headers with 431', async () => {
    const raw = await sendRaw(
      ambassador.port,
      `GET /version HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(parseRawResponse(raw)).toMatchObject({ status: 431, body: { kind: 'Status', code: 431 } });
  });

  it('accepts a trailing slash and a percent-encoded ordinary character', async () => {
    expect((await rawGet('/api/v1/namespaces/default/pods/')).status).toBe(200);
    expect((await rawGet('/api/v1/namespaces/default/%70ods')).status).toBe(200);
    await cluster.api.waitForRequest((r) => r.url === '/api/v1/namespaces/default/pods' && r.method === 'GET');
  });
});

describe('DNS rebinding and cross-site protection', () => {
  it.each([
    ['an external name', 'evil.example'],
    ['an external name with the proxy port', 'evil.example:8001'],
    ['a name that merely starts with localhost', 'localhost.evil.example'],
    ['the pod IP', '10.1.2.3:8001'],
  ])('refuses a Host header with %s', async (_, host) => {
    const before = cluster.api.requests.length;
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods', { headers: { host } });
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(cluster.api.requests.length).toBe(before);
  });

  it.each(['localhost', 'localhost:8001', '127.0.0.1:8001', '[::1]:8001', '[::1]'])(
    'accepts the local Host %s',
    async (host) => {
      const res = await send(ambassador.port, 'GET', '/version', { headers: { host } });
      expect(res.status).toBe(200);
    },
  );

  it('refuses a cross-site Origin, and accepts a local one', async () => {
    const crossSite = await send(ambassador.port, 'GET', '/version', { headers: { origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    const opaque = await send(ambassador.port, 'GET', '/version', { headers: { origin: 'null' } });
    expect(opaque.status).toBe(403);
    const local = await send(ambassador.port, 'GET', '/version', { headers: { origin: 'http://localhost:3000' } });
    expect(local.status).toBe(200);
  });

  it('refuses a cross-site WebSocket upgrade before it reaches the API server', async () => {
    const before = cluster.api.requests.length;
    const raw = await sendRaw(
      ambassador.port,
      'GET /api/v1/namespaces/default/pods/web/exec?command=echo&stdout=true HTTP/1.1\r\n' +
        `Host: localhost:${ambassador.port}\r\nOrigin: https://evil.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n',
    );
    expect(parseRawResponse(raw)).toMatchObject({ status: 403, body: { reason: 'Forbidden' } });
    expect(cluster.api.requests.length).toBe(before);
  });
});

describe('clients that reset the connection after a refusal', () => {
  // Regression: Node gives upgrade sockets no 'error' listener, and the Python client resets the
  // connection after reading a refused exec's 403, which crashed the ambassador.
  it.each([
    [
      'a refused upgrade',
      'GET /api/v1/namespaces/default/pods/web/exec?command=ls HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ],
    ['a refused CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
    [
      'a request Node cannot parse',
      'GET /version HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    ],
    ['oversized headers', `GET /version HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
  ])('keep the ambassador up: %s', async (_, bytes) => {
    await new Promise<void>((resolve, reject) => {
      const socket = connect(ambassador.port, '127.0.0.1', () => socket.write(bytes));
      socket.once('data', () => {
        socket.resetAndDestroy();
        resolve();
      });
      socket.on('error', reject);
    });
    expect((await send(ambassador.port, 'GET', '/version')).status).toBe(200);
    expect(ambassador.child.exitCode).toBeNull();
  });
});

describe('kubectl proxy filter defaults', () => {
  it('refuses exec and attach by default, and says which flag', async () => {
    for (const sub of ['exec', 'attach']) {
      const res = await send(ambassador.port, 'POST', `/api/v1/namespaces/default/pods/web/${sub}?command=ls`);
      expect(res.status).toBe(403);
      expect(String(res.json()['message'])).toContain('--reject-paths');
    }
  });

  it('does not mistake a pod named "exec" for the exec subresource', async () => {
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/exec');
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ reason: 'NotFound' });
    await cluster.api.waitForRequest((r) => r.url === '/api/v1/namespaces/default/pods/exec');
  });

  it('only upgrades exec, attach and portforward', async () => {
    const raw = await sendRaw(
      ambassador.port,
      'GET /api/v1/namespaces/default/pods/web/log HTTP/1.1\r\n' +
        `Host: localhost:${ambassador.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    expect(parseRawResponse(raw)).toMatchObject({ status: 400, body: { reason: 'BadRequest' } });
  });
});

describe('filter flags', () => {
  it('honours --reject-methods, --accept-paths and --accept-hosts', async () => {
    const strict = await startAmbassador([
      ...cluster.ambassadorArgs,
      '--reject-methods',
      '^DELETE$,^PUT$',
      '--accept-paths',
      '^/api/v1/namespaces/default/,^/version$',
      '--accept-hosts',
      '^app\\.local$',
    ]);
    try {
      const asApp = { host: 'app.local:8001' };
      expect((await send(strict.port, 'GET', '/version', { headers: asApp })).status).toBe(200);
      expect((await send(strict.port, 'GET', '/version')).status).toBe(403); // localhost is no longer accepted
      const deleted = await send(strict.port, 'DELETE', '/api/v1/namespaces/default/pods/web', { headers: asApp });
      expect(deleted.status).toBe(403);
      expect(String(deleted.json()['message'])).toContain('--reject-methods');
      const outside = await send(strict.port, 'GET', '/api/v1/namespaces/kube-system/secrets', { headers: asApp });
      expect(outside.status).toBe(403);
      expect(String(outside.json()['message'])).toContain('--accept-paths');
    } finally {
      await strict.stop();
    }
  });

  it('--disable-filter turns the filter off, and says so', async () => {
    const open = await startAmbassador([...cluster.ambassadorArgs, '--disable-filter']);
    try {
      await open.waitForLog((line) => line.level === 'warn' && String(line.msg).includes('request filter is disabled'));
      expect((await send(open.port, 'GET', '/version', { headers: { host: 'anything.example' } })).status).toBe(200);
    } finally {
      await open.stop();
    }
  });
});

describe('slow clients', () => {
  it('answers a client that trickles its headers (slowloris) with 408 after --request-header-timeout', async () => {
    const strict = await startAmbassador([...cluster.ambassadorArgs, '--request-header-timeout', '300ms']);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(strict.port, '127.0.0.1', () =>
          socket.write('GET /version HTTP/1.1\r\nHost: localhost\r\nX-Slow: '),
        );
        let received = '';
        socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      expect(parseRawResponse(answer)).toMatchObject({ status: 408, body: { kind: 'Status', code: 408 } });
      expect((await send(strict.port, 'GET', '/version')).status).toBe(200);
    } finally {
      await strict.stop();
    }
  });

  it("serves with a --request-header-timeout longer than Node's 5-minute limit on a whole request", async () => {
    const patient = await startAmbassador([...cluster.ambassadorArgs, '--request-header-timeout', '6m']);
    try {
      expect((await send(patient.port, 'GET', '/version')).status).toBe(200);
    } finally {
      await patient.stop();
    }
  });
});

describe('concurrency limits', () => {
  it('answers 429 with the wait until the next token past --max-qps and --max-burst', async () => {
    const limited = await startAmbassador([...cluster.ambassadorArgs, '--max-qps', '0.2', '--max-burst', '2']);
    try {
      expect((await send(limited.port, 'GET', '/version')).status).toBe(200);
      expect((await send(limited.port, 'GET', '/version')).status).toBe(200);
      const third = await send(limited.port, 'GET', '/version?third=1');
      expect(third.status).toBe(429);
      expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(third.headers['retry-after'])).toBeLessThanOrEqual(5);
      expect(String(third.json()['message'])).toContain('--max-qps=0.2');
      expect(cluster.api.requests.some((r) => r.url === '/version?third=1')).toBe(false);
    } finally {
      await limited.stop();
    }
  });

  it('answers 429 with Retry-After past --max-requests-in-flight, counting watches separately', async () => {
    const limited = await startAmbassador([
      ...cluster.ambassadorArgs,
      '--max-requests-in-flight',
      '2',
      '--max-long-running-requests',
      '1',
    ]);
    cluster.api.script((_, url) => url.startsWith('/api/v1/namespaces/default/pods/held'), 'hang');
    const held = ['/api/v1/namespaces/default/pods/held-1', '/api/v1/namespaces/default/pods/held-2'].map((path) => {
      const req = request({
        host: '127.0.0.1',
        port: limited.port,
        path,
        agent: false,
        headers: { host: 'localhost' },
      });
      req.on('error', () => undefined).end();
      return req;
    });
    const watch = request({
      host: '127.0.0.1',
      port: limited.port,
      path: '/api/v1/namespaces/default/pods?watch=1',
      agent: false,
      headers: { host: 'localhost' },
    });
    try {
      await Promise.all(['held-1', 'held-2'].map((name) => cluster.api.waitForRequest((r) => r.url.endsWith(name))));
      const third = await send(limited.port, 'GET', '/api/v1/namespaces/default/pods/web');
      expect(third.status).toBe(429);
      expect(third.headers['retry-after']).toBe('1');
      expect(third.json()).toMatchObject({
        kind: 'Status',
        reason: 'TooManyRequests',
        code: 429,
        details: { retryAfterSeconds: 1 },
      });

      const watching = new Promise<number>((resolve) => watch.on('response', (res) => resolve(res.statusCode ?? 0)));
      watch.on('error', () => undefined).end();
      expect(await watching).toBe(200); // long-running requests have their own limit
      const secondWatch = await send(limited.port, 'GET', '/api/v1/namespaces/default/pods?watch=1');
      expect(secondWatch.status).toBe(429);
      expect(String(secondWatch.json()['message'])).toContain('--max-long-running-requests=1');
    } finally {
      for (const req of [...held, watch]) req.destroy();
      await limited.stop();
    }
  });
});
