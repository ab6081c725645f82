/**
 * A dry-run-only policy with real kubectl: `--dry-run=server` sends its DeleteOptions in the body
 * (no query) for delete and `?dryRun=All` for apply; both are allowed, nothing is changed, and the
 * same commands without the dry run are refused before they reach the API server.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startAmbassador, type RunningAmbassador } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { kubectl, writeProxyKubeconfig } from '../support/kubectl.ts';
import { release } from '../support/teardown.ts';

const DRY_RUN_ONLY = `
rules:
  - name: discovery
    verbs: [get]
    nonResourceURLs: [/api, /api/*, /apis, /apis/*, /version, /openapi/*]
  - name: read
    verbs: [get, list, watch]
    apiGroups: [""]
    resources: [pods]
    namespaces: ["$(POD_NAMESPACE)"]
  - name: dry-run-writes
    verbs: [create, update, patch, delete, deletecollection]
    apiGroups: [""]
    resources: [pods]
    namespaces: ["$(POD_NAMESPACE)"]
    when: { dryRun: true }
`;

const POD = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'team-a', labels: { app: 'web' } },
  spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] },
});

let cluster: TestCluster;
let ambassador: RunningAmbassador;
let kubeconfig: string;

beforeAll(async () => {
  cluster = await startTestCluster();
  const policyFile = join(cluster.dir, 'dry-run-policy.yaml');
  await writeFile(policyFile, DRY_RUN_ONLY);
  ambassador = await startAmbassador(
    [...cluster.ambassadorArgs, '--policy', policyFile],
    cleanEnv({ POD_NAMESPACE: 'team-a' }),
  );
  kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
});

afterAll(() => release(ambassador, cluster));

function deletesOf(name: string) {
  return cluster.api.requests.filter((request) => request.method === 'DELETE' && request.url.includes(`/pods/${name}`));
}

describe('a dry-run-only policy, with kubectl', () => {
  it('allows kubectl delete --dry-run=server, whose DeleteOptions travel in the body, and deletes nothing', async () => {
    cluster.api.putPod('team-a', 'web');
    const result = await kubectl(kubeconfig, ['delete', 'pod', 'web', '-n', 'team-a', '--dry-run=server']);
    expect(result).toMatchObject({ code: 0, stdout: 'pod "web" deleted (server dry run)\n' });
    const [sent] = deletesOf('web');
    expect(sent?.url).not.toContain('dryRun');
    expect(JSON.parse(sent?.body.toString('utf8') ?? '{}')).toMatchObject({ dryRun: ['All'] });
    expect((await kubectl(kubeconfig, ['get', 'pod', 'web', '-n', 'team-a', '-o', 'name'])).stdout).toBe('pod/web\n');
  });

  it('records the body-carried dry run as a dry run in the audit event and the dry_run metric label', async () => {
    const event = await ambassador.waitForLog(
      (line) => line['kind'] === 'Event' && line['verb'] === 'delete' && line['stage'] === 'ResponseComplete',
    );
    expect(event['annotations']).toMatchObject({
      'kube-api-ambassador/decision': 'allow',
      'kube-api-ambassador/dry-run': 'true',
    });
    const metrics = await (await fetch(`${ambassador.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^kube_api_ambassador_requests_total\{verb="DELETE",[^}]*resource="pods"[^}]*dry_run="All",decision="allow"\} 1$/m,
    );
  });

  it('refuses kubectl delete without the dry run before it reaches the API server', async () => {
    const before = deletesOf('web').length;
    const result = await kubectl(kubeconfig, ['delete', 'pod', 'web', '-n', 'team-a']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('only as a dry run');
    expect(deletesOf('web')).toHaveLength(before);
    expect((await kubectl(kubeconfig, ['get', 'pod', 'web', '-n', 'team-a', '-o', 'name'])).stdout).toBe('pod/web\n');
  });

  it('allows kubectl apply --dry-run=server, creating and changing nothing', async () => {
    cluster.api.deletePod('team-a', 'web');
    const created = await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: POD });
    expect(created).toMatchObject({ code: 0, stdout: 'pod/web created (server dry run)\n' });
    expect((await kubectl(kubeconfig, ['get', 'pod', 'web', '-n', 'team-a'])).code).toBe(1); // still absent

    cluster.api.putPod('team-a', 'web', { metadata: { labels: { app: 'old' } } });
    const configured = await kubectl(kubeconfig, ['apply', '--dry-run=server', '-f', '-'], { input: POD });
    expect(configured).toMatchObject({ code: 0, stdout: 'pod/web configured (server dry run)\n' });
    const labels = await kubectl(kubeconfig, [
      'get',
      'pod',
      'web',
      '-n',
      'team-a',
      '-o',
      'jsonpath={.metadata.labels.app}',
    ]);
    expect(labels.stdout).toBe('old');
  });

  it('refuses kubectl apply without the dry run', async () => {
    const result = await kubectl(kubeconfig, ['apply', '-f', '-'], { input: POD });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('only as a dry run');
  });
});
