import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { load as parseYaml } from 'js-yaml';
import { auditVerdict, compileAuditPolicy } from '../../src/audit/policy.ts';
import type { AuditLevel } from '../../src/config/kinds.ts';
import { renderHelp } from '../../src/config/help.ts';
import { envName } from '../../src/config/options.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { decideRequest } from '../../src/policy/policy.ts';
import { parseRequestTarget } from '../../src/request/target.ts';
import { resolveAttributes } from '../../src/request/attributes.ts';
import { resolveTarget } from '../../src/request/resolve.ts';
import {
  badRequest,
  forbidden,
  gatewayTimeout,
  headersTooLarge,
  internalError,
  notFound,
  requestTimeout,
  serviceUnavailable,
  tooManyRequests,
  type ProxyStatus,
} from '../../src/proxy/status.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const POLICY_DOC = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
const AUDIT_DOC = readFileSync(new URL('../../docs/audit.md', import.meta.url), 'utf8');
const CONFIGURATION_DOC = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
const FLAGS = [...renderHelp('x').matchAll(/^ {2}(?:-\w, )?--([a-z-]+)(?: VALUE)? {3}\[/gm)].map(
  (match) => match[1] ?? '',
);

describe('the README documents', () => {
  it('every option, with its environment variable and default, in the configuration table of docs/configuration.md', () => {
    expect(FLAGS.length).toBeGreaterThan(20);
    for (const flag of FLAGS) {
      expect(CONFIGURATION_DOC, flag).toMatch(new RegExp(`^\\| \`--${flag}\`[^\\n]*\\| \`${envName(flag)}\` \\|`, 'm'));
    }
  });

  it('the options the README shows, each as docs/configuration.md has it', () => {
    const rows = README.split('\n').filter((line) => line.startsWith('| `--'));
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) expect(CONFIGURATION_DOC.split('\n')).toContain(row);
  });

  it.each<[string, ProxyStatus]>([
    ['badRequest', badRequest('x')],
    ['forbidden', forbidden('x')],
    ['notFound', notFound('x')],
    ['requestTimeout', requestTimeout('x')],
    ['tooManyRequests', tooManyRequests('x', 1)],
    ['headersTooLarge', headersTooLarge()],
    ['internalError', internalError('x')],
    ['serviceUnavailable', serviceUnavailable('x')],
    ['gatewayTimeout', gatewayTimeout('x')],
  ])('the Status that %s produces, in the errors table', (_, status) => {
    expect(README).toMatch(new RegExp(`^\\| ${status.code} \\| \`${status.reason}\` \\|`, 'm'));
  });
});

describe('the policy examples of the README and docs/policy.md', () => {
  const examples = new Map(
    [...`${README}\n${POLICY_DOC}`.matchAll(/^### Example: (.+)\n\n```yaml\n([\s\S]*?)```/gm)].map((match) => [
      match[1] ?? '',
      match[2] ?? '',
    ]),
  );

  function decides(example: string, method: string, raw: string): boolean {
    const compiled = compilePolicy(parseYaml(examples.get(example) ?? ''), 'README', 'team-a');
    if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
    const resolved = resolveTarget(method, raw);
    if (!resolved.ok) throw new Error(resolved.problem.message);
    return decideRequest(compiled.value.policy, resolved.value, false).allowed;
  }

  it.each<[string, string, string, boolean]>([
    ['read-only observer', 'GET', '/api/v1/namespaces/team-a/pods?watch=1', true],
    ['read-only observer', 'GET', '/apis/apps/v1/namespaces/team-a/deployments/web', true],
    ['read-only observer', 'GET', '/api/v1/namespaces/team-a/pods/web/log?follow=true', true],
    ['read-only observer', 'DELETE', '/api/v1/namespaces/team-a/pods/web', false],
    ['read-only observer', 'GET', '/api/v1/namespaces/team-a/secrets', false],
    ['read-only observer', 'GET', '/api/v1/namespaces/team-b/pods', false],
    ['read-only observer', 'GET', '/apis', true],
    ['the Job launcher of manifests/base', 'POST', '/apis/batch/v1/namespaces/team-a/jobs', true],
    ['the Job launcher of manifests/base', 'GET', '/apis/batch/v1/namespaces/team-a/jobs/report', true],
    ['the Job launcher of manifests/base', 'DELETE', '/apis/batch/v1/namespaces/team-a/jobs/report', false],
    [
      'the Job launcher of manifests/base',
      'GET',
      '/api/v1/namespaces/team-a/pods?labelSelector=job-name%3Dreport',
      true,
    ],
    ['the Job launcher of manifests/base', 'GET', '/api/v1/namespaces/team-a/pods', false],
    ['the Job launcher of manifests/base', 'GET', '/api/v1/namespaces/team-a/pods/report-x7k2/log', true],
    ['a controller watching one CRD', 'GET', '/apis/example.com/v1/widgets?watch=true', true],
    ['a controller watching one CRD', 'PUT', '/apis/example.com/v1/namespaces/x/widgets/w/status', true],
    ['a controller watching one CRD', 'PUT', '/apis/example.com/v1/namespaces/x/widgets/w', false],
    ['a controller watching one CRD', 'POST', '/api/v1/namespaces/x/events', true],
    [
      'a controller watching one CRD',
      'PUT',
      '/apis/coordination.k8s.io/v1/namespaces/team-a/leases/widget-controller',
      true,
    ],
    ['a controller watching one CRD', 'PUT', '/apis/coordination.k8s.io/v1/namespaces/team-a/leases/other', false],
  ])('%s: %s %s → %s', (example, method, url, allowed) => {
    expect(decides(example, method, url)).toBe(allowed);
  });

  it('has the three examples', () => {
    expect([...examples.keys()]).toEqual([
      'the Job launcher of manifests/base',
      'read-only observer',
      'a controller watching one CRD',
    ]);
  });

  it("the Job launcher's rules are those of manifests/base/policy.yaml", () => {
    const example = parseYaml(examples.get('the Job launcher of manifests/base') ?? '') as { rules: unknown[] };
    const base = parseYaml(readFileSync(new URL('../../manifests/base/policy.yaml', import.meta.url), 'utf8')) as {
      rules: unknown[];
    };
    expect(base.rules).toEqual(expect.arrayContaining(example.rules));
  });
});

describe("docs/audit.md's audit policy", () => {
  const block = /--audit-policy FILE` takes a Kubernetes audit policy[\s\S]*?```yaml\n([\s\S]*?)```/.exec(
    AUDIT_DOC,
  )?.[1];
  const compiled = compileAuditPolicy(parseYaml(block?.replace(/^ {2}/gm, '') ?? ''), 'team-a');

  it.each<[string, string, AuditLevel]>([
    ['GET', '/readyz', 'None'],
    ['GET', '/version', 'None'],
    ['POST', '/api/v1/namespaces/team-a/secrets', 'Metadata'],
    ['POST', '/api/v1/namespaces/team-a/configmaps', 'RequestResponse'],
    ['DELETE', '/apis/batch/v1/namespaces/team-a/jobs/report', 'RequestResponse'],
    ['POST', '/api/v1/namespaces/team-b/configmaps', 'Metadata'],
    ['GET', '/api/v1/namespaces/team-a/pods', 'Metadata'],
  ])('%s %s: %s', (method, raw, level) => {
    if (!compiled.ok) throw new Error(compiled.problem.join('\n'));
    const target = parseRequestTarget(raw);
    if (!target.ok) throw new Error(target.problem);
    expect(auditVerdict(compiled.value, resolveAttributes(method, target.value), undefined).level).toBe(level);
  });
});
