/**
 * manifests/monitoring/prometheusrule.yaml: its rules checked and unit-tested by the machine's real
 * promtool (Debian's `prometheus` package, which CI installs) against prometheusrule.test.yaml; and
 * each alert shown to be held by those tests: one that never fires, or always fires, fails them.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderKustomize } from '../support/kubernetes-schemas.ts';
import { removeDirectory } from '../support/teardown.ts';

const execFileAsync = promisify(execFile);
const MONITORING = new URL('../../manifests/monitoring/', import.meta.url).pathname;
/** The name prometheusrule.test.yaml's rule_files gives the PrometheusRule's spec. */
const RULES_FILE = 'kube-api-ambassador.rules.yaml';
const TEST_FILE = 'prometheusrule.test.yaml';

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

interface RuleGroups {
  readonly groups: readonly { readonly name: string; readonly rules: readonly Rule[] }[];
}

interface PromtoolResult {
  readonly code: number;
  readonly output: string;
}

async function promtool(args: readonly string[], cwd: string): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await execFileAsync('promtool', args, {
      cwd,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (failed.code === 'ENOENT')
      throw new Error(
        "promtool is not installed: it comes with Debian's prometheus package (apt-get install prometheus), as .ci/run does",
        { cause: error },
      );
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

let dir: string;
let spec: RuleGroups;
let alerts: readonly Rule[];

/** Writes these rule groups where prometheusrule.test.yaml expects them and runs its tests. */
async function testRules(groups: RuleGroups): Promise<PromtoolResult> {
  await writeFile(join(dir, RULES_FILE), JSON.stringify(groups));
  return promtool(['test', 'rules', TEST_FILE], dir);
}

/** The rules with one alert's expression replaced. */
function withExpr(alert: string, expr: string): RuleGroups {
  return {
    groups: spec.groups.map((group) => ({
      ...group,
      rules: group.rules.map((rule) => (rule.alert === alert ? { ...rule, expr } : rule)),
    })),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'alerts-'));
  const manifest = load(await readFile(join(MONITORING, 'prometheusrule.yaml'), 'utf8')) as { spec: RuleGroups };
  spec = manifest.spec;
  alerts = spec.groups.flatMap((group) => group.rules);
  await copyFile(join(MONITORING, TEST_FILE), join(dir, TEST_FILE));
});

afterAll(() => removeDirectory(dir));

describe('manifests/monitoring/prometheusrule.yaml', () => {
  it('is part of the monitoring kustomization, a PrometheusRule next to the PodMonitor', async () => {
    const objects = await renderKustomize('manifests/monitoring');
    expect(objects.map((object) => `${object.apiVersion} ${object.kind}/${object.metadata.name}`)).toEqual([
      'monitoring.coreos.com/v1 PodMonitor/kube-api-ambassador',
      'monitoring.coreos.com/v1 PrometheusRule/kube-api-ambassador',
    ]);
    expect(objects[1]?.['spec']).toEqual(spec);
  });

  it('has the alerts a platform team pages or tickets on, each with a severity, a summary and a description', () => {
    expect(alerts.map((rule) => [rule.alert, rule.labels['severity']])).toEqual([
      ['KubeApiAmbassadorTokenExpiringSoon', 'warning'],
      ['KubeApiAmbassadorTokenExpired', 'critical'],
      ['KubeApiAmbassadorNotReady', 'warning'],
      ['KubeApiAmbassadorUpstreamErrors', 'critical'],
      ['KubeApiAmbassadorRequestsDenied', 'warning'],
      ['KubeApiAmbassadorRequestsThrottled', 'warning'],
      ['KubeApiAmbassadorAuditEventsLost', 'warning'],
      ['KubeApiAmbassadorMemoryNearLimit', 'warning'],
    ]);
    for (const rule of alerts) expect(Object.keys(rule.annotations).sort()).toEqual(['description', 'summary']);
  });

  it('passes promtool check rules', async () => {
    await writeFile(join(dir, RULES_FILE), JSON.stringify(spec));
    const result = await promtool(['check', 'rules', RULES_FILE], dir);
    expect(result.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(result.code).toBe(0);
  });

  it('passes its promtool unit tests, which expect every alert to fire', async () => {
    const tests = load(await readFile(join(MONITORING, TEST_FILE), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test);
    const firing = new Set(cases.filter((test) => test.exp_alerts.length > 0).map((test) => test.alertname));
    const quiet = new Set(cases.filter((test) => test.exp_alerts.length === 0).map((test) => test.alertname));
    expect([...firing].sort()).toEqual(alerts.map((rule) => rule.alert).sort());
    expect([...quiet].sort()).toEqual(alerts.map((rule) => rule.alert).sort());

    const result = await testRules(spec);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('would fail its unit tests with any alert that never fires, or fires on everything', async () => {
    for (const { alert } of alerts) {
      const never = await testRules(withExpr(alert, 'vector(1) < 0'));
      expect({ alert, never: never.code }).toEqual({ alert, never: 1 });
      expect(never.output).toContain(`alertname: ${alert}`);
      const always = await testRules(withExpr(alert, 'vector(1)'));
      expect({ alert, always: always.code }).toEqual({ alert, always: 1 });
    }
  }, 60_000);
});
