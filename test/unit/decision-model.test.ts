/**
 * The decision table (test/support/decision-table.ts) through the pure decision code: each request
 * is resolved as kube-apiserver reads it and decided against the table's policy.
 */
import { load as parseYaml } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest } from '../../src/policy/policy.ts';
import { DELETE_OPTIONS_BODY_LIMIT } from '../../src/request/delete-options.ts';
import { isDryRun } from '../../src/request/dry-run.ts';
import { resolveTarget } from '../../src/request/resolve.ts';
import { DECISION_ROWS, TABLE_POLICY, type DecisionRow, type Expected } from '../support/decision-table.ts';

const compiled = compilePolicy(parseYaml(TABLE_POLICY), 'policy.yaml', 'team-a');
if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
const policy = compiled.value.policy;

function contentOf(row: DecisionRow) {
  return {
    contentType: row.contentType,
    contentEncoding: row.contentEncoding,
    bytes: row.body === undefined ? undefined : Buffer.from(row.body),
  };
}

function decided(row: DecisionRow): Expected {
  if (row.body !== undefined && row.method === 'DELETE' && Buffer.byteLength(row.body) > DELETE_OPTIONS_BODY_LIMIT)
    return 413;
  const resolved = resolveTarget(row.method, row.target, contentOf(row));
  if (!resolved.ok) return 400;
  const decision = decideRequest(policy, resolved.value, false);
  return decision.allowed ? 'allow' : decision.code;
}

it('has at least 80 rows, each citing the Go behaviour it pins', () => {
  expect(DECISION_ROWS.length).toBeGreaterThanOrEqual(80);
  for (const row of DECISION_ROWS) expect(row.cite.length, `${row.method} ${row.target}`).toBeGreaterThan(10);
});

describe('the decision model, row by row', () => {
  it.each(
    DECISION_ROWS.map(
      (row) =>
        [
          `${row.method} ${row.target.slice(0, 120)} ${row.body?.slice(0, 60) ?? ''} → ${row.expected} (${row.cite})`,
          row,
        ] as const,
    ),
  )('%s', (_, row) => {
    expect(decided(row)).toBe(row.expected);
    if (row.verb === undefined && row.dryRun === undefined && row.forwardedQuery === undefined) return;
    const resolved = resolveTarget(row.method, row.target, contentOf(row));
    if (!resolved.ok) throw new Error(resolved.problem.message);
    if (row.verb !== undefined) expect(resolved.value.attributes.verb).toBe(row.verb);
    if (row.dryRun !== undefined) expect(isDryRun(resolved.value)).toBe(row.dryRun);
    if (row.forwardedQuery !== undefined) expect(resolved.value.query).toBe(row.forwardedQuery);
  });
});
