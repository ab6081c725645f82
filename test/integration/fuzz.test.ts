/**
 * Property-based, through the running proxy: request targets spelled every which way are sent raw;
 * whatever reaches the test API server must resolve to exactly the attributes the proxy decided on
 * for what was sent, and nothing the policy denies may ever arrive.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest, type Policy } from '../../src/policy/policy.ts';
import { resolveTarget, type ResolvedRequest } from '../../src/request/resolve.ts';
import { cleanEnv, startAmbassador, stopClusterAndAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { parseRawResponse, sendRaw } from '../support/http.ts';

const RULES = [
  { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/log'], namespaces: ['team-a'] },
  { verbs: ['get'], nonResourceURLs: ['/version'] },
];

let cluster: TestCluster;
let ambassador: RunningAmbassador;
let policy: Policy;

beforeAll(async () => {
  cluster = await startTestCluster();
  const file = join(cluster.dir, 'policy.json');
  await writeFile(file, JSON.stringify({ rules: RULES }));
  const compiled = compilePolicy({ rules: RULES }, file, undefined);
  if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
  policy = compiled.value.policy;
  ambassador = await startAmbassador([...cluster.ambassadorArgs, '--policy', file], cleanEnv());
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

const SEGMENTS = [
  'api',
  'apis',
  'v1',
  'apps',
  'namespaces',
  'team-a',
  'team-b',
  'kube-system',
  'pods',
  'secrets',
  'web',
  'log',
  'exec',
  'watch',
  'proxy',
  'version',
  'status',
];
const TRICKS = [
  '.',
  '..',
  '',
  '%2e',
  '%2E%2e',
  '%2F',
  '%2f',
  '%5C',
  '\\',
  '%00',
  '%zz',
  '%c3%28',
  'é',
  '%C3%A9',
  ';',
  'a%20b',
  '*',
  '~',
];
const QUERIES = [
  '',
  '?watch=1',
  '?watch',
  '?watch=0&watch=1',
  '?watch=false',
  '?fieldSelector=metadata.name%3Dweb',
  '?follow=true',
  '?a=1;b=2',
  '?x=%zz',
  '?dryRun=All',
  '#f',
];

/** Percent-encodes some characters of a segment, in either hex case. */
const spelled = (segment: string): fc.Arbitrary<string> =>
  fc
    .array(fc.constantFrom('keep', 'upper', 'lower'), { minLength: segment.length, maxLength: segment.length })
    .map((choices) =>
      // eslint-disable-next-line @typescript-eslint/no-misused-spread -- segments are ASCII path words, one code unit per character, as charCodeAt below assumes
      [...segment]
        .map((ch, i) => {
          if (choices[i] === 'keep') return ch;
          const hex = ch.charCodeAt(0).toString(16).padStart(2, '0');
          return `%${choices[i] === 'upper' ? hex.toUpperCase() : hex}`;
        })
        .join(''),
    );

/** Real requests, allowed and denied, that the spellings below are made from. */
const TEMPLATES = [
  ['api', 'v1', 'namespaces', 'team-a', 'pods'],
  ['api', 'v1', 'namespaces', 'team-a', 'pods', 'web'],
  ['api', 'v1', 'namespaces', 'team-a', 'pods', 'web', 'log'],
  ['api', 'v1', 'watch', 'namespaces', 'team-a', 'pods'],
  ['version'],
  ['api', 'v1', 'namespaces', 'kube-system', 'secrets'],
  ['api', 'v1', 'namespaces', 'team-a', 'pods', 'web', 'exec'],
  ['api', 'v1', 'namespaces', 'team-b', 'pods'],
];

/** A template with each segment spelled at random and up to two tricks spliced in. */
const fromTemplate = fc
  .constantFrom(...TEMPLATES)
  .chain((segments) =>
    fc.tuple(
      fc.tuple(...segments.map(spelled)),
      fc.array(fc.tuple(fc.nat(segments.length), fc.constantFrom(...TRICKS)), { maxLength: 2 }),
    ),
  )
  .map(([parts, tricks]) => {
    const all = [...parts];
    for (const [at, trick] of tricks) all.splice(at, 0, trick);
    return all;
  });

/** Segments and tricks in any order. */
const soup = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...SEGMENTS).chain(spelled) },
    { weight: 1, arbitrary: fc.constantFrom(...TRICKS) },
  ),
  {
    minLength: 1,
    maxLength: 7,
  },
);

const target = fc
  .tuple(
    fc.oneof({ weight: 3, arbitrary: fromTemplate }, { weight: 1, arbitrary: soup }),
    fc.constantFrom(...QUERIES),
    fc.boolean(),
  )
  .map(([parts, query, leadingDouble]) => `${leadingDouble ? '/' : ''}/${parts.join('/')}${query}`);

/** What the proxy decides on for a target, or undefined when it refuses the target as ambiguous. */
function decidedOn(method: string, raw: string): ResolvedRequest | undefined {
  const resolved = resolveTarget(method, raw);
  return resolved.ok ? resolved.value : undefined;
}

it('forwards only what it decided on, and nothing the policy denies', async () => {
  let sent = 0;
  let forwarded = 0;
  await fc.assert(
    fc.asyncProperty(target, fc.constantFrom('GET', 'HEAD', 'DELETE'), async (raw, method) => {
      const marker = `fuzz-${sent++}`;
      const response = await sendRaw(
        ambassador.port,
        `${method} ${raw} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ${marker}\r\nConnection: close\r\n\r\n`,
      );
      const { status } = parseRawResponse(response);
      const arrived = cluster.api.requests.filter((request) => request.headers['user-agent'] === marker);
      const expected = decidedOn(method, raw);
      if (expected === undefined || !decideRequest(policy, expected, false).allowed) {
        expect(arrived, `${method} ${raw} → ${status} must not reach the API server`).toEqual([]);
        expect([400, 403]).toContain(status);
        return;
      }
      forwarded++;
      expect(arrived).toHaveLength(1);
      const seen = arrived[0];
      expect(seen?.method).toBe(method);
      expect(decidedOn(method, seen?.url ?? '')?.attributes).toEqual(expected.attributes);
    }),
    { numRuns: 1000 },
  );
  expect(forwarded).toBeGreaterThan(0); // the generator reaches allowed requests too (a few percent of runs), not only refusals
}, 120_000);
