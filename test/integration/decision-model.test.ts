/**
 * The decision table end to end: every row sent as raw HTTP/1.1 through the running ambassador to
 * the fake API server, which reads options, selectors and DeleteOptions as kube-apiserver does
 * (test/support/api-options.ts). A refused row reaches nothing; an allowed one arrives once, in the
 * form it was decided on, and is still allowed under the API server's own reading. Then property
 * tests generate queries and DeleteOptions bodies around the conditions and check what the API
 * server acted on.
 */
import fc from 'fast-check';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest, type Policy } from '../../src/policy/policy.ts';
import { isDryRun } from '../../src/request/dry-run.ts';
import { resolveTarget } from '../../src/request/resolve.ts';
import { cleanEnv, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import type { RecordedRequest } from '../support/api-server.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { DECISION_ROWS, TABLE_POLICY, type DecisionRow } from '../support/decision-table.ts';
import { parseRawResponse, sendRaw } from '../support/http.ts';
import { release } from '../support/teardown.ts';

let cluster: TestCluster;
let ambassador: RunningAmbassador;
let policy: Policy;
let sent = 0;

beforeAll(async () => {
  cluster = await startTestCluster();
  const policyFile = join(cluster.dir, 'policy.yaml');
  await writeFile(policyFile, TABLE_POLICY);
  const compiled = compilePolicy(parseYaml(TABLE_POLICY), 'policy.yaml', 'team-a');
  if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
  policy = compiled.value.policy;
  ambassador = await startAmbassador(
    [...cluster.ambassadorArgs, '--policy', policyFile],
    cleanEnv({ POD_NAMESPACE: 'team-a' }),
  );
  cluster.api.putConfigMap('team-a', 'x', { app: 'x' });
  cluster.api.putPod('team-a', 'web');
  cluster.api.putPod('team-a', 'job-1', { metadata: { labels: { 'job-name': 'a' } } });
  cluster.api.putPod('team-a', 'job-2', { metadata: { labels: { 'job-name': 'b', app: 'x' } } });
  cluster.api.putPod('team-a', 'other', { metadata: { labels: { app: 'x' } } });
});

afterAll(() => release(ambassador, cluster));

interface Sent {
  readonly marker: string;
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
  readonly arrived: RecordedRequest[];
}

async function sendRow(
  method: string,
  target: string,
  content: { contentType?: string; contentEncoding?: string; body?: string },
): Promise<Sent> {
  const marker = `decision-model-${sent++}`;
  const body = content.body === undefined ? undefined : Buffer.from(content.body);
  const head =
    `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ${marker}\r\nConnection: close\r\n` +
    (content.contentType === undefined ? '' : `Content-Type: ${content.contentType}\r\n`) +
    (content.contentEncoding === undefined ? '' : `Content-Encoding: ${content.contentEncoding}\r\n`) +
    (body === undefined ? '' : `Content-Length: ${body.length}\r\n`) +
    '\r\n';
  const raw = await sendRaw(ambassador.port, body === undefined ? head : Buffer.concat([Buffer.from(head), body]));
  const { status, body: json } = parseRawResponse(raw);
  return {
    marker,
    status,
    body: json,
    arrived: cluster.api.requests.filter((request) => request.headers['user-agent'] === marker),
  };
}

/** The arrived request, read back through the decision code: what the API server received. */
function resolvedOnArrival(arrived: RecordedRequest) {
  const contentType = arrived.headers['content-type'];
  const contentEncoding = arrived.headers['content-encoding'];
  const resolved = resolveTarget(arrived.method, arrived.url, { contentType, contentEncoding, bytes: arrived.body });
  if (!resolved.ok)
    throw new Error(`the API server received a request the ambassador refuses: ${resolved.problem.message}`);
  return resolved.value;
}

describe('the decision table, end to end', () => {
  it.each(
    DECISION_ROWS.map(
      (row) =>
        [`${row.method} ${row.target.slice(0, 120)} ${row.body?.slice(0, 60) ?? ''} → ${row.expected}`, row] as const,
    ),
  )('%s', async (_, row: DecisionRow) => {
    const { marker, status, body, arrived } = await sendRow(row.method, row.target, row);
    if (row.expected !== 'allow') {
      expect(status).toBe(row.expected);
      expect(body?.['kind']).toBe('Status');
      expect(arrived, 'a refused request must not reach the API server').toEqual([]);
      // The audit event and the decision label say what happened: a policy refusal, or a request refused as invalid.
      const event = await ambassador.waitForLog((line) => line['kind'] === 'Event' && line['userAgent'] === marker);
      expect(event['annotations']).toMatchObject({
        'kube-api-ambassador/decision': row.expected === 403 ? 'deny' : 'invalid',
      });
      return;
    }
    expect(status, JSON.stringify(body)).not.toBe(403);
    expect(arrived).toHaveLength(1);
    const [seen] = arrived;
    if (seen === undefined) return;
    expect(seen.body.toString('utf8')).toBe(row.body ?? '');
    const request = resolvedOnArrival(seen);
    expect(decideRequest(policy, request, false).allowed).toBe(true);
    if (row.verb !== undefined) expect(request.attributes.verb).toBe(row.verb);
    if (row.dryRun !== undefined) expect(isDryRun(request)).toBe(row.dryRun);
    if (row.forwardedQuery !== undefined) expect(seen.url.slice(seen.url.indexOf('?') + 1)).toBe(row.forwardedQuery);
  });

  it("left the ConfigMap every allowed delete named in place: each was a dry run in the API server's own reading", () => {
    const allowedDeletes = DECISION_ROWS.filter(
      (row) => row.method === 'DELETE' && row.expected === 'allow' && row.target.includes('/configmaps/x'),
    );
    expect(allowedDeletes.length).toBeGreaterThan(5);
    expect(cluster.api.configMap('team-a', 'x')).toBeDefined();
  });
});

const DRY_RUN_VALUES = ['All', 'all', 'ALL', '', 'None', 'All ', ' All', 'Al', 'All,All', 'Áll'];
const KEY_SPELLINGS = ['dryRun', 'DryRun', 'dryrun', 'dry%52un', 'dryRun%20', 'dryRun[]'];
const ENCODINGS = [
  (value: string) => encodeURIComponent(value),
  (value: string) => value.replaceAll(' ', '+'),
  (value: string) => encodeURIComponent(value).replaceAll('A', '%41'),
];

const queryPair = fc
  .tuple(
    fc.constantFrom(...KEY_SPELLINGS),
    fc.constantFrom(...DRY_RUN_VALUES),
    fc.constantFrom(...ENCODINGS),
    fc.boolean(),
  )
  .map(([key, value, encode, bare]) => (bare ? key : `${key}=${encode(value)}`));
const query = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constant('dryRun=All'), weight: 3 },
      { arbitrary: queryPair, weight: 3 },
      { arbitrary: fc.constantFrom('', 'propagationPolicy=Background'), weight: 1 },
    ),
    { maxLength: 3 },
  )
  .map((pairs) => pairs.join('&'));

const dryRunJson = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.array(fc.constantFrom(...DRY_RUN_VALUES), { maxLength: 3 }),
  fc.constantFrom('All', 1, true, {}),
);
const deleteBody = fc.oneof(
  fc.constant(undefined),
  fc.constant(undefined),
  fc.constant('{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}'),
  fc
    .tuple(
      fc.constantFrom('dryRun', 'DryRun', 'dryrun', 'dryRun '),
      dryRunJson,
      dryRunJson,
      fc.constantFrom(undefined, 'DeleteOptions', 'Pod', 'deleteoptions'),
      fc.boolean(),
    )
    .map(([key, first, second, kind, duplicate]) => {
      const fields: string[] = [];
      if (kind !== undefined) fields.push(`"kind":${JSON.stringify(kind)}`);
      if (first !== undefined) fields.push(`${JSON.stringify(key)}:${JSON.stringify(first)}`);
      if (duplicate && second !== undefined) fields.push(`"dryRun":${JSON.stringify(second)}`);
      return `{${fields.join(',')}}`;
    }),
  fc.constantFrom('', ' ', '{', 'null', '[]', '"All"', '{"dryRun":["All"]} x'),
);
const contentType = fc.constantFrom(
  undefined,
  undefined,
  'application/json',
  'application/json',
  'application/json;charset=utf-8',
  'application/yaml',
  'application/merge-patch+json',
  'text/plain',
);

describe('whatever reaches the API server is allowed under its own reading', () => {
  it('no delete the policy allows only as a dry run is carried out for real, whatever the query and DeleteOptions body', async () => {
    cluster.api.putConfigMap('team-a', 'keep');
    let forwarded = 0;
    await fc.assert(
      fc.asyncProperty(query, deleteBody, contentType, async (rawQuery, body, type) => {
        const target = `/api/v1/namespaces/team-a/configmaps/keep${rawQuery === '' ? '' : `?${rawQuery}`}`;
        const { status, arrived } = await sendRow('DELETE', target, {
          ...(type === undefined ? {} : { contentType: type }),
          ...(body === undefined ? {} : { body }),
        });
        expect(
          cluster.api.configMap('team-a', 'keep'),
          `DELETE ${target} ${body ?? ''} (${type ?? 'no type'}) → ${status} deleted the ConfigMap`,
        ).toBeDefined();
        if (arrived.length > 0) forwarded++;
      }),
      { numRuns: 400 },
    );
    expect(forwarded).toBeGreaterThan(10); // the generators reach real dry runs, not only refusals
  }, 120_000);

  const labelTerm = fc
    .tuple(
      fc.constantFrom('job-name', 'app', 'JOB-NAME', 'job-name '),
      fc.constantFrom('=', '==', '!=', ' in ', ' notin ', '', '!', '>', '<'),
      fc.constantFrom('a', 'b', '', '(a)', '(a,b)', '()', '1'),
    )
    .map(([key, operator, value]) =>
      operator === '!' ? `!${key}` : operator === '' ? key : `${key}${operator}${value}`,
    );
  const selector = fc
    .array(
      fc.oneof(
        { arbitrary: labelTerm, weight: 4 },
        { arbitrary: fc.constantFrom('job-name=a', 'job-name in (a,b)', 'job-name'), weight: 2 },
        { arbitrary: fc.constantFrom(' ', '', ','), weight: 1 },
      ),
      {
        maxLength: 3,
      },
    )
    .map((terms) => terms.join(','));
  const selectorEncoding = fc.constantFrom(...ENCODINGS);

  it('every pod a list the policy allows only with a job-name selector returns has a job-name label', async () => {
    let listed = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(selector, selectorEncoding), { maxLength: 2 }),
        fc.boolean(),
        async (selectors, watchFalse) => {
          const pairs = selectors.map(([text, encode]) => `labelSelector=${encode(text)}`);
          if (watchFalse) pairs.push('watch=fal%C5%BFe');
          const target = `/api/v1/namespaces/team-a/pods${pairs.length === 0 ? '' : `?${pairs.join('&')}`}`;
          const { status, body } = await sendRow('GET', target, {});
          if (status !== 200) return;
          listed++;
          const items = (body?.['items'] ?? []) as { metadata?: { name?: string; labels?: Record<string, string> } }[];
          for (const item of items)
            expect(item.metadata?.labels?.['job-name'], `${target} listed ${item.metadata?.name}`).toBeDefined();
        },
      ),
      { numRuns: 400 },
    );
    expect(listed).toBeGreaterThan(10);
  }, 120_000);
});
