/**
 * Security review finding: metric labels were taken from the request path, so invented versions,
 * subresources, groups and resources each made new series (200 requests, 200 series), and 256
 * invented group/resource pairs pushed every real resource asked for later into "other".
 * 2,000 invented paths, half refused by the policy and half forwarded to the test API server
 * (which answers 404, or, through a pod's proxy subresource, a status code the client picked), with
 * a method no API server knows among them, must leave a handful of series, and real resources
 * asked for afterwards their own labels.
 */
import { writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { cleanEnv, startAmbassador, stopClusterAndAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';

const INVENTED_PATHS = 2_000;
const CONCURRENCY = 16;
const REQUESTS = 'kube_api_ambassador_requests_total';
/** Everything in namespace "open" is forwarded; everything else is refused. */
const POLICY = `
rules:
  - name: open
    verbs: ["*"]
    apiGroups: ["*"]
    resources: ["*"]
    namespaces: [open]
`;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PROPFIND'];
/** What the test API server answers through pods/web/proxy: the code the path asks for. */
const PROXIED = /^\/api\/v1\/namespaces\/open\/pods\/web\/proxy\/(\d{3})$/;

let cluster: TestCluster;
let ambassador: RunningAmbassador;

beforeAll(async () => {
  cluster = await startTestCluster();
  const policyFile = join(cluster.dir, 'policy.yaml');
  await writeFile(policyFile, POLICY);
  ambassador = await startAmbassador(
    [...cluster.ambassadorArgs, '--policy', policyFile, '--policy-mode', 'enforce'],
    cleanEnv(),
  );
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

/** The i-th invented path: a version, subresource, group or resource no API server serves, or a status code without a name. */
function inventedPath(i: number): string {
  const namespace = i % 2 === 0 ? 'open' : 'closed';
  switch (Math.floor(i / 2) % 7) {
    case 0:
      return `/api/v${i}/namespaces/${namespace}/pods`;
    case 1:
      return `/apis/apps/v${i}beta1/namespaces/${namespace}/deployments/d${i}`;
    case 2:
      return `/api/v1/namespaces/${namespace}/pods/p${i}/sub${i}`;
    case 3:
      return `/apis/g${i}.example.com/v1/namespaces/${namespace}/things`;
    case 4:
      return `/api/v1/namespaces/${namespace}/resource${i}`;
    case 5: {
      // status codes without a name: 250-299 and 550-599
      const n = Math.floor(i / 14);
      return `/api/v1/namespaces/${namespace}/pods/web/proxy/${(n % 2 === 0 ? 250 : 550) + (Math.floor(n / 2) % 50)}`;
    }
    default:
      return `/apis/g${i}.example.com/v${i}alpha1/namespaces/${namespace}/r${i}/n/s${i}`;
  }
}

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of one counter in a Prometheus text exposition. */
function samplesOf(exposition: string, name: string): Series[] {
  const series: Series[] = [];
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    for (const pair of line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1] ?? ''] = pair[2] ?? '';
    series.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return series;
}

function valueOf(series: Series[], labels: Record<string, string>): number | undefined {
  return series.find((s) => Object.entries(labels).every(([key, value]) => s.labels[key] === value))?.value;
}

function valuesOf(series: Series[], label: string): string[] {
  return [...new Set(series.map((s) => s.labels[label] ?? ''))].sort();
}

it('keeps every label of 2,000 invented paths in a closed set, and real resources asked for afterwards their own labels', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  onTestFinished(() => agent.destroy());
  cluster.api.script((_, url) => PROXIED.test(url), {
    respond: (req, res) => {
      res.writeHead(Number(PROXIED.exec(req.url ?? '')?.[1]), { 'content-length': '0' });
      res.end();
    },
  });
  const statuses = new Map<number, number>();
  const sendInvented = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const method = METHODS[i % METHODS.length] ?? 'GET';
      request(
        {
          host: '127.0.0.1',
          port: ambassador.port,
          method,
          path: inventedPath(i),
          agent,
          headers: { host: 'localhost' },
        },
        (res) => {
          statuses.set(res.statusCode ?? 0, (statuses.get(res.statusCode ?? 0) ?? 0) + 1);
          res.resume();
          res.on('end', resolve);
        },
      )
        .on('error', reject)
        .end();
    });
  for (let i = 0; i < INVENTED_PATHS; i += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, INVENTED_PATHS - i) }, (_, j) => sendInvented(i + j)));
  }
  expect(statuses.get(403)).toBe(INVENTED_PATHS / 2);
  expect(statuses.get(404)).toBeGreaterThan(INVENTED_PATHS / 4);
  expect([...statuses.keys()].filter((code) => code !== 403 && code !== 404)).toHaveLength(100);

  cluster.api.script(
    (method, url) => method === 'GET' && url === '/apis/stable.example.com/v1/namespaces/open/crontabs',
    {
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"kind":"CronTabList","apiVersion":"stable.example.com/v1","metadata":{},"items":[]}',
    },
  );
  expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/open/secrets/db')).status).toBe(404);
  expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/closed/secrets')).status).toBe(403);
  expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/open/pods')).status).toBe(200);
  expect((await send(ambassador.port, 'GET', '/apis/stable.example.com/v1/namespaces/open/crontabs')).status).toBe(200);

  const exposition = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
  const series = samplesOf(exposition, REQUESTS);
  expect(series.reduce((sum, s) => sum + s.value, 0)).toBe(INVENTED_PATHS + 4);
  // Soft: a regression shows every guarantee it breaks at once.
  // 58: the closed sets this traffic reaches (verbs × path shapes × allowed or refused, and the proxy's code classes).
  expect.soft(series.length).toBeLessThan(100);
  expect.soft(exposition.length).toBeLessThan(128 * 1024);
  expect.soft(valuesOf(series, 'group')).toEqual(['', 'apps', 'other', 'stable.example.com']);
  expect.soft(valuesOf(series, 'version')).toEqual(['other', 'v1']);
  expect.soft(valuesOf(series, 'resource')).toEqual(['crontabs', 'deployments', 'other', 'pods', 'secrets']);
  expect.soft(valuesOf(series, 'subresource')).toEqual(['', 'other', 'proxy']);
  expect
    .soft(valuesOf(series, 'verb'))
    .toEqual(['CONNECT', 'DELETE', 'DELETECOLLECTION', 'GET', 'LIST', 'POST', 'PUT', 'other']);
  expect.soft(valuesOf(series, 'code')).toEqual(['200', '2xx', '403', '404', '5xx']);

  const secrets = { group: '', version: 'v1', resource: 'secrets', subresource: '' };
  expect.soft(valueOf(series, { ...secrets, verb: 'GET', code: '404', decision: 'allow' })).toBe(1);
  expect.soft(valueOf(series, { ...secrets, verb: 'LIST', code: '403', decision: 'deny' })).toBe(1);
  expect
    .soft(valueOf(series, { group: '', version: 'v1', resource: 'pods', verb: 'LIST', code: '200', decision: 'allow' }))
    .toBe(1);
  expect
    .soft(
      valueOf(series, { group: 'stable.example.com', version: 'v1', resource: 'crontabs', verb: 'LIST', code: '200' }),
    )
    .toBe(1);
}, 120_000);
