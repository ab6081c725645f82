import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterAndAmbassador, stopClusterAndAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import type { TestCluster } from '../support/cluster.ts';
import { curl, send } from '../support/http.ts';

let cluster: TestCluster;
let ambassador: RunningAmbassador;

beforeAll(async () => {
  ({ cluster, ambassador } = await startClusterAndAmbassador());
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

const podsUrl = (): string => `${ambassador.url}/api/v1/namespaces/default/pods`;

describe('forwarding with curl', () => {
  it('creates, gets, lists, patches and deletes a pod', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'crud' },
      spec: { containers: [{ name: 'main', image: 'busybox' }] },
    });
    const created = JSON.parse(
      (await curl(['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', manifest, podsUrl()])).stdout,
    ) as { metadata: { name: string } };
    expect(created.metadata.name).toBe('crud');

    const got = JSON.parse((await curl([`${podsUrl()}/crud`])).stdout) as { kind: string; metadata: { name: string } };
    expect(got).toMatchObject({ kind: 'Pod', metadata: { name: 'crud' } });

    const list = JSON.parse((await curl([podsUrl()])).stdout) as { items: { metadata: { name: string } }[] };
    expect(list.items.map((pod) => pod.metadata.name)).toContain('crud');

    const patched = JSON.parse(
      (
        await curl([
          '-X',
          'PATCH',
          '-H',
          'content-type: application/merge-patch+json',
          '--data-binary',
          '{"metadata":{"labels":{"tier":"web"}}}',
          `${podsUrl()}/crud`,
        ])
      ).stdout,
    ) as { metadata: { labels: Record<string, string> } };
    expect(patched.metadata.labels).toEqual({ tier: 'web' });

    await curl(['-X', 'DELETE', `${podsUrl()}/crud`]);
    const gone = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/crud');
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
  });

  it('forwards method, canonical path and query byte for byte, with the pod token', async () => {
    const target = '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb%2Ctier%21%3Ddb&limit=5&watch=0';
    await send(ambassador.port, 'GET', target);
    const seen = await cluster.api.waitForRequest((r) => r.url === target);
    expect(seen.method).toBe('GET');
    expect(seen.headers.authorization).toBe('Bearer first-token');
  });

  it('forwards a canonical re-encoding of an escaped segment, decoded exactly once', async () => {
    await send(ambassador.port, 'GET', '/api/v1/namespaces/default/configmaps/caf%C3%A9%41');
    const seen = await cluster.api.waitForRequest((r) => r.url.startsWith('/api/v1/namespaces/default/configmaps/caf'));
    expect(seen.url).toBe('/api/v1/namespaces/default/configmaps/caf%C3%A9A');
  });

  it('carries a 5 MB body up and back byte-exact', async () => {
    const payload = randomBytes(3_750_000).toString('base64'); // 5,000,000 characters
    const body = Buffer.from(
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { payload } }),
    );
    const digest = createHash('sha256').update(body).digest('hex');
    const created = await send(ambassador.port, 'POST', '/api/v1/namespaces/default/configmaps', {
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(created.status).toBe(201);
    const upstreamSaw = await cluster.api.waitForRequest(
      (r) => r.method === 'POST' && r.url === '/api/v1/namespaces/default/configmaps',
    );
    expect(upstreamSaw.sha256).toBe(digest);
    const back = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/configmaps/big');
    expect(back.body.length).toBe(body.length);
    expect(createHash('sha256').update(back.body).digest('hex')).toBe(digest);
  });

  it('streams a chunked request body up unchanged', async () => {
    const body = Buffer.from(
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'chunked' }, data: { a: 'b' } }),
    );
    const res = await send(ambassador.port, 'PUT', '/api/v1/namespaces/default/configmaps/chunked', {
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body,
    });
    expect(res.status).toBe(201);
    const seen = await cluster.api.waitForRequest((r) => r.method === 'PUT' && r.url.endsWith('/configmaps/chunked'));
    // HTTP/2 frames the body itself and forbids Transfer-Encoding (RFC 9113 §8.2.2).
    expect(seen.headers['transfer-encoding']).toBe(seen.httpVersion === '2.0' ? undefined : 'chunked');
    expect(seen.body.equals(body)).toBe(true);
  });

  it('forwards HEAD as HEAD and answers without a body', async () => {
    const head = await send(ambassador.port, 'HEAD', '/version?head=1');
    const seen = await cluster.api.waitForRequest((r) => r.url === '/version?head=1');
    expect(seen.method).toBe('HEAD');
    expect(head.status).toBe(405); // the test API server, like many, does not implement HEAD here
    expect(head.body.length).toBe(0);
  });

  it("passes the API server's own health endpoints through (the proxy listener serves only the API)", async () => {
    for (const path of ['/healthz', '/livez', '/readyz']) {
      const res = await send(ambassador.port, 'GET', path);
      expect(res.status).toBe(200);
      await cluster.api.waitForRequest((r) => r.url === path);
    }
  });

  it("relays the API server's errors untouched", async () => {
    cluster.api.script((_, url) => url === '/api/v1/namespaces/default/pods/throttled', {
      status: 429,
      headers: { 'retry-after': '7', 'content-type': 'application/json' },
      body: '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}',
    });
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/throttled');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toMatchObject({ reason: 'TooManyRequests' });
  });
});

/** The process's peak resident memory so far, in bytes (Linux `VmHWM`). */
function peakRss(pid: number): number {
  const kilobytes = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kilobytes) * 1024;
}

describe('connections and memory', () => {
  it('reuses one keep-alive connection to the API server for sequential requests', async () => {
    for (let i = 0; i < 5; i++) await send(ambassador.port, 'GET', `/version?reuse=${i}`);
    const ports = new Set(
      cluster.api.requests.filter((r) => r.url.startsWith('/version?reuse=')).map((r) => r.clientPort),
    );
    expect(ports.size).toBe(1);
  });

  it('keeps serving ordinary requests while many watches are open', async () => {
    const watches = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) =>
          new Promise<ReturnType<typeof request>>((resolve, reject) => {
            const watch = request(
              {
                host: '127.0.0.1',
                port: ambassador.port,
                path: `/api/v1/namespaces/default/pods?watch=1&n=${i}`,
                headers: { host: 'localhost' },
              },
              () => resolve(watch),
            );
            watch.on('error', reject).end();
          }),
      ),
    );
    try {
      expect(cluster.api.openWatches()).toBeGreaterThanOrEqual(30);
      expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods/none')).status).toBe(404);
    } finally {
      for (const watch of watches) watch.destroy();
    }
  });

  it('streams 50 MB up and down without holding it in memory', async () => {
    const pid = ambassador.child.pid ?? 0;
    const peakBefore = peakRss(pid);
    const size = 50 * 1024 * 1024;
    const body = Buffer.concat([
      Buffer.from('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"x":"'),
      Buffer.alloc(size, 'k'),
      Buffer.from('"}}'),
    ]);
    expect(
      (
        await send(ambassador.port, 'POST', '/api/v1/namespaces/default/configmaps', {
          headers: { 'content-type': 'application/json' },
          body,
        })
      ).status,
    ).toBe(201);
    const back = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/configmaps/huge');
    expect(back.body.length).toBe(body.length);
    // Both directions together moved 150 MB through the proxy (upload, echoed answer, download). Holding any one
    // body would add 50 MiB; V8's young generation alone may grow by up to 32 MiB under this churn (17-18 here).
    const peakGrowth = peakRss(pid) - peakBefore;
    console.info(`50 MB each way: ambassador peak RSS +${(peakGrowth / 1024 / 1024).toFixed(1)} MiB`);
    expect(peakGrowth).toBeLessThan(size * 0.8);
  });
});

describe('clients that go away', () => {
  /** Opens a request without a keep-alive agent, waits until the API server has it, then abandons it. */
  async function abandon(path: string): Promise<void> {
    const req = request({
      host: '127.0.0.1',
      port: ambassador.port,
      path,
      agent: false,
      headers: { host: 'localhost' },
    });
    req.on('error', () => undefined);
    req.end();
    await cluster.api.waitForRequest((r) => r.url === path);
    req.destroy();
  }

  it('leave no sockets behind in the proxy, mid-request or mid-watch', async () => {
    const pid = ambassador.child.pid ?? 0;
    const openFiles = (): number => readdirSync(`/proc/${pid}/fd`).length;
    cluster.api.script((_, url) => url.startsWith('/api/v1/namespaces/default/pods/abandoned'), 'hang');
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      await abandon(`/api/v1/namespaces/default/pods/abandoned?i=${i}`);
      await abandon(`/api/v1/namespaces/default/pods?watch=1&abandoned=${i}`);
    }
    await expect.poll(openFiles, { timeout: 5000 }).toBeLessThanOrEqual(before);
    await expect.poll(() => cluster.api.openWatches(), { timeout: 5000 }).toBe(0);
  });
});

describe('outgoing headers are built, not copied', () => {
  it("replaces the caller's credentials and drops forwarding, remote-user and hop-by-hop headers", async () => {
    const res = await send(ambassador.port, 'GET', '/api/v1/namespaces/default/pods?headers=1', {
      headers: {
        authorization: 'Bearer stolen',
        'proxy-authorization': 'Basic eDp5',
        'x-remote-user': 'system:admin',
        'x-remote-group': 'system:masters',
        'x-remote-extra-scopes': 'all',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=10.0.0.1',
        'x-real-ip': '10.0.0.1',
        'audit-id': 'client-chosen',
        cookie: 'session=1',
        'user-agent': 'test-agent/1.0',
        accept: 'application/json',
      },
    });
    expect(res.status).toBe(200);
    const seen = await cluster.api.waitForRequest((r) => r.url.endsWith('?headers=1'));
    expect(seen.headers.authorization).toBe('Bearer first-token');
    for (const name of [
      'proxy-authorization',
      'x-remote-user',
      'x-remote-group',
      'x-remote-extra-scopes',
      'x-forwarded-for',
      'x-forwarded-host',
      'forwarded',
      'x-real-ip',
      'cookie',
    ]) {
      expect(seen.headers[name], name).toBeUndefined();
    }
    // The client's Audit-ID is replaced by the ambassador's own, which the API server adopts.
    expect(seen.headers['audit-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(seen.headers['user-agent']).toBe('test-agent/1.0');
    // Over HTTP/2, Host travels as :authority.
    expect(seen.headers[seen.httpVersion === '2.0' ? ':authority' : 'host']).toBe(new URL(cluster.api.url).host);
    expect(seen.httpVersion).toBe(cluster.api.protocol === 'h2' ? '2.0' : '1.1');
  });

  it.each([
    ['Impersonate-User', 'system:admin', 403, 'Forbidden'],
    ['Impersonate-Group', 'system:masters', 403, 'Forbidden'],
    ['Impersonate-Uid', '1234', 403, 'Forbidden'],
    ['Impersonate-Extra-Scopes', 'all', 403, 'Forbidden'],
    ['X-HTTP-Method-Override', 'DELETE', 400, 'BadRequest'],
    ['X-Method-Override', 'DELETE', 400, 'BadRequest'],
  ])('refuses a request carrying %s (%s) with %i, and sends nothing upstream', async (name, value, code, reason) => {
    const marker = `/api/v1/namespaces/default/pods?refused=${name}`;
    const before = cluster.api.requests.length;
    const res = await send(ambassador.port, 'GET', marker, { headers: { [name]: value } });
    expect(res.status).toBe(code);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json()).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code });
    expect(String(res.json()['message'])).toContain(name);
    expect(cluster.api.requests.slice(before).some((r) => r.url === marker)).toBe(false);
  });
});
