import { Agent, request, type ClientRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { unsignedJwt } from '../support/requests.ts';
import {
  startAmbassador,
  startClusterAndAmbassador,
  stopClusterAndAmbassador,
  type RunningAmbassador,
} from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { promtoolCheckMetrics, startPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { release } from '../support/teardown.ts';

let cluster: TestCluster;
let ambassador: RunningAmbassador;

beforeAll(async () => {
  ({ cluster, ambassador } = await startClusterAndAmbassador());
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

interface Series {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text exposition into samples. */
function parseExposition(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    series.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return series;
}

async function scrape(target: RunningAmbassador = ambassador): Promise<{ text: string; series: Series[] }> {
  const response = await fetch(`${target.adminUrl}/metrics`);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const text = await response.text();
  return { text, series: parseExposition(text) };
}

function valueOf(series: Series[], name: string, labels: Record<string, string>): number | undefined {
  return series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('the /metrics endpoint', () => {
  it("counts requests with apiserver_request_total's labels plus the decision, and passes promtool", async () => {
    for (let i = 0; i < 3; i++)
      expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/metrics/pods')).status).toBe(200);
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/metrics/pods/missing')).status).toBe(404);
    expect(
      (
        await send(ambassador.port, 'POST', '/api/v1/namespaces/metrics/pods?dryRun=All', {
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).status,
    ).toBeGreaterThanOrEqual(400);
    expect(
      (
        await send(ambassador.port, 'GET', '/api/v1/namespaces/metrics/configmaps', {
          headers: { host: 'evil.example' },
        })
      ).status,
    ).toBe(403);
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/metrics/%2e%2e/secrets')).status).toBe(400);

    const { text, series } = await scrape();
    const requests = 'kube_api_ambassador_requests_total';
    const pods = { group: '', version: 'v1', resource: 'pods', subresource: '' };
    expect(
      valueOf(series, requests, {
        ...pods,
        verb: 'LIST',
        scope: 'namespace',
        code: '200',
        decision: 'allow',
        dry_run: '',
      }),
    ).toBe(3);
    expect(valueOf(series, requests, { ...pods, verb: 'GET', scope: 'resource', code: '404', decision: 'allow' })).toBe(
      1,
    );
    expect(
      valueOf(series, requests, { ...pods, verb: 'POST', scope: 'resource', decision: 'allow', dry_run: 'All' }),
    ).toBe(1);
    expect(valueOf(series, requests, { verb: 'GET', resource: '', code: '403', decision: 'deny' })).toBe(1);
    expect(valueOf(series, requests, { verb: 'GET', resource: '', code: '400', decision: 'invalid' })).toBe(1);
    expect(
      valueOf(series, 'kube_api_ambassador_request_duration_seconds_count', { verb: 'LIST', resource: 'pods' }),
    ).toBe(3);
    expect(valueOf(series, 'kube_api_ambassador_received_bytes_total', {})).toBeGreaterThan(0);
    expect(valueOf(series, 'kube_api_ambassador_sent_bytes_total', {})).toBeGreaterThan(0);
    expect(valueOf(series, 'kube_api_ambassador_build_info', { version: '0.1.0', node_version: process.version })).toBe(
      1,
    );
    expect(valueOf(series, 'process_cpu_seconds_total', {})).toBeGreaterThan(0);
    expect(valueOf(series, 'nodejs_eventloop_lag_seconds', {})).toBeGreaterThanOrEqual(0);

    const check = await promtoolCheckMetrics(text);
    expect(check.output).toBe('');
    expect(check.ok).toBe(true);
  });

  it('has no credential expiry sample for a token whose expiry cannot be read, as its HELP says', async () => {
    // The test cluster's token is opaque: no claims, no expiry. A 0 would read "expires now" and fire the README's alert.
    const { text, series } = await scrape();
    expect(text).toContain('# HELP kube_api_ambassador_credential_expiry_seconds ');
    expect(series.filter((s) => s.name === 'kube_api_ambassador_credential_expiry_seconds')).toEqual([]);
  });

  it('shows open watches and in-flight requests while they are open', async () => {
    const watch = request({
      host: '127.0.0.1',
      port: ambassador.port,
      path: '/api/v1/namespaces/metrics/pods?watch=1',
      headers: { host: 'localhost' },
    });
    const opened = new Promise<void>((resolve) => watch.on('response', () => resolve()));
    watch.on('error', () => undefined).end();
    await opened;
    try {
      const { series } = await scrape();
      expect(valueOf(series, 'kube_api_ambassador_long_running_requests', { kind: 'watch' })).toBe(1);
      expect(valueOf(series, 'kube_api_ambassador_requests_in_flight', {})).toBeGreaterThanOrEqual(1);
      expect(
        valueOf(series, 'kube_api_ambassador_long_running_first_byte_seconds_count', {
          verb: 'WATCH',
          resource: 'pods',
        }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      watch.destroy();
    }
  });

  it('counts upstream errors by cause', async () => {
    cluster.api.script((_, url) => url === '/api/v1/namespaces/metrics/pods/reset', 'reset');
    expect((await send(ambassador.port, 'GET', '/api/v1/namespaces/metrics/pods/reset')).status).toBe(503);
    expect(valueOf((await scrape()).series, 'kube_api_ambassador_upstream_errors_total', { cause: 'reset' })).toBe(1);
  });

  it('keeps label cardinality bounded under 10,000 requests with random names and invented resources', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    onTestFinished(() => agent.destroy());
    const get = (path: string): Promise<void> =>
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port: ambassador.port, path, agent, headers: { host: 'localhost' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
          .on('error', reject)
          .end();
      });
    const paths = Array.from({ length: 10_000 }, (_, i) =>
      i % 2 === 0
        ? `/api/v1/namespaces/ns-${randomUUID()}/pods/${randomUUID()}`
        : `/apis/g${i}.example.com/v1/namespaces/x/r${randomUUID().slice(0, 8)}`,
    );
    for (let i = 0; i < paths.length; i += 16) await Promise.all(paths.slice(i, i + 16).map(get));

    const { series } = await scrape();
    const requestSeries = series.filter((s) => s.name === 'kube_api_ambassador_requests_total');
    expect(requestSeries.length).toBeLessThan(400);
    expect(requestSeries.reduce((sum, s) => sum + s.value, 0)).toBeGreaterThanOrEqual(10_000);
    expect(
      valueOf(series, 'kube_api_ambassador_requests_total', { group: 'other', resource: 'other' }),
    ).toBeGreaterThan(4000);
    for (const s of requestSeries) expect(JSON.stringify(s.labels)).not.toMatch(/ns-|[0-9a-f]{8}-[0-9a-f]{4}/);
  }, 120_000);

  it('is off with --disable-metrics', async () => {
    const quiet = await startAmbassador([...cluster.ambassadorArgs, '--disable-metrics']);
    onTestFinished(() => quiet.stop().then(() => undefined));
    expect((await fetch(`${quiet.adminUrl}/metrics`)).status).toBe(404);
    expect((await send(quiet.port, 'GET', '/version')).status).toBe(200);
  });
});

describe('a real Prometheus scraping the ambassador', () => {
  /** The PromQL under each question heading of the README's metrics section. */
  function readmeQuery(question: string): string {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const query = new RegExp(
      `\\*\\*${question.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\*\\*[^\\n]*(?:\\n[^\\n]+)*\\n\\n\`\`\`promql\\n([^\`]+)\`\`\``,
    ).exec(readme)?.[1];
    if (query === undefined) throw new Error(`no PromQL for "${question}" in the README`);
    return query.trim();
  }

  const tokenLife = 300;
  let realCluster: TestCluster;
  let target: RunningAmbassador;
  let prometheus: RunningPrometheus;
  let openWatch: ClientRequest | undefined;

  beforeAll(async () => {
    realCluster = await startTestCluster();
    await realCluster.rotateToken(jwt(Math.floor(Date.now() / 1000) + tokenLife));
    target = await startAmbassador(realCluster.ambassadorArgs);
    prometheus = await startPrometheus([new URL(target.adminUrl).host], 200);
    realCluster.api.script((_, url) => url === '/api/v1/namespaces/default/pods/busy', {
      status: 429,
      headers: { 'retry-after': '1' },
      body: '{}',
    });
    realCluster.api.script((_, url) => url === '/api/v1/namespaces/default/pods/reset', 'reset');

    // Rates need an increase between two scrapes of a series: each kind of traffic once before a
    // scrape (which creates its series), and again after it.
    const traffic = async (times: number): Promise<void> => {
      for (let i = 0; i < times; i++) {
        await send(target.port, 'GET', '/api/v1/namespaces/default/pods');
        await send(target.port, 'GET', '/api/v1/namespaces/default/pods', { headers: { host: 'evil.example' } });
        await send(target.port, 'GET', '/api/v1/namespaces/default/pods/busy');
        await send(target.port, 'GET', '/api/v1/namespaces/default/pods/reset');
      }
    };
    await traffic(1);
    await prometheus.scrapedAfter(Date.now());
    await traffic(2);
    // A watch held open through the last scrape, for the open-watches gauge.
    openWatch = request({
      host: '127.0.0.1',
      port: target.port,
      path: '/api/v1/namespaces/default/pods?watch=1',
      headers: { host: 'localhost' },
    });
    const opened = new Promise<void>((resolve) => openWatch?.on('response', () => resolve()));
    openWatch.on('error', () => undefined).end();
    await opened;
    await prometheus.scrapedAfter(Date.now());
  }, 60_000);

  afterAll(async () => {
    openWatch?.destroy();
    await release(prometheus, target, realCluster);
  });

  it("answers the README's questions with the right numbers", async () => {
    const listed = await prometheus.query(
      'sum(kube_api_ambassador_requests_total{verb="LIST",resource="pods",code="200"})',
    );
    expect(listed.map((sample) => sample.value)).toEqual([3]);

    const deniedOrThrottled = await prometheus.query(readmeQuery('Which pods are denied or throttled?'));
    const byKind = new Map(
      deniedOrThrottled.map((sample) => [`${sample.metric['decision']}/${sample.metric['code']}`, sample.value]),
    );
    expect([...byKind.keys()].sort()).toEqual(['allow/429', 'deny/403']);
    // increase() extrapolates to the window's edges, so it reads at least what happened, not exactly.
    expect(byKind.get('deny/403')).toBeGreaterThanOrEqual(2);
    expect(byKind.get('allow/429')).toBeGreaterThanOrEqual(2);

    const p99 = await prometheus.query(readmeQuery('API latency p99 by resource'));
    const podsP99 = p99.find((sample) => sample.metric['resource'] === 'pods')?.value;
    expect(podsP99).toBeGreaterThan(0);
    expect(podsP99).toBeLessThanOrEqual(60);

    const expiring = await prometheus.query(readmeQuery("Is any sidecar's token about to expire?"));
    expect(expiring).toHaveLength(1);
    expect(expiring[0]?.value).toBeGreaterThan(0);
    expect(expiring[0]?.value).toBeLessThanOrEqual(tokenLife);
  });

  it('draws every panel of manifests/monitoring/dashboard.json: each query returns series', async () => {
    const dashboard = JSON.parse(
      readFileSync(new URL('../../manifests/monitoring/dashboard.json', import.meta.url), 'utf8'),
    ) as GrafanaDashboard;
    const panels = dashboard.panels
      .flatMap((panel) => [panel, ...(panel.panels ?? [])])
      .filter((panel) => panel.type !== 'row');
    expect(panels.map((panel) => panel.title)).toEqual([
      'Requests by verb',
      'Requests by resource',
      'Requests by code',
      'Requests by decision',
      'p99 latency by resource',
      'Open watches and streams',
      'Upstream errors by cause',
      'Credentials expire in',
      'Memory',
      'CPU',
    ]);
    const queries = [
      ...panels.flatMap((panel) =>
        (panel.targets ?? []).map((target) => ({
          what: `${panel.title} ${target.refId}`,
          promql: grafanaToPromql(target.expr, dashboard),
        })),
      ),
      ...dashboard.templating.list.flatMap((variable) =>
        variable.type === 'query'
          ? [
              {
                what: `variable ${variable.name}`,
                promql: grafanaToPromql(labelValuesToPromql(variable.definition ?? ''), dashboard),
              },
            ]
          : [],
      ),
    ];
    expect(queries.length).toBeGreaterThan(panels.length);
    for (const { what, promql } of queries) {
      const samples = await prometheus.query(promql);
      expect({ what, series: samples.length > 0 }).toEqual({ what, series: true });
      expect({ what, values: samples.filter((sample) => Number.isNaN(sample.value)) }).toEqual({ what, values: [] });
    }
  });
});

interface GrafanaPanel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly refId: string; readonly expr: string }[];
  readonly panels?: readonly GrafanaPanel[];
}

interface GrafanaDashboard {
  readonly panels: readonly GrafanaPanel[];
  readonly templating: {
    readonly list: readonly {
      readonly name: string;
      readonly type: string;
      readonly definition?: string;
      readonly allValue?: string;
    }[];
  };
}

/**
 * A panel's query as Grafana sends it with every variable at "All": each dashboard variable becomes
 * its allValue, $__rate_interval a window holding several of the test's 200 ms scrapes. An unknown
 * variable is an error: Grafana would send it as written.
 */
function grafanaToPromql(expr: string, dashboard: GrafanaDashboard): string {
  return expr.replaceAll(/\$(\w+)/g, (written, name: string) => {
    if (name === '__rate_interval') return '1m';
    const value = dashboard.templating.list.find((variable) => variable.name === name)?.allValue;
    if (value === undefined) throw new Error(`${written} in ${expr} is not a dashboard variable with an allValue`);
    return value;
  });
}

/** Grafana's label_values(metric, label) as a PromQL query returning one series per value. */
function labelValuesToPromql(definition: string): string {
  const match = /^label_values\((.+), *(\w+)\)$/.exec(definition);
  if (match === null) throw new Error(`not a label_values() query: ${definition}`);
  return `count by (${match[2] ?? ''}) (${match[1] ?? ''})`;
}

function jwt(exp: number): string {
  return unsignedJwt({ sub: 'system:serviceaccount:default:app', exp });
}
