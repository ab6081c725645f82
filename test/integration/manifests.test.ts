import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAll, load } from 'js-yaml';
import { expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

type Document = Record<string, unknown>;

function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) current = (current as Record<string | number, unknown> | undefined)?.[key];
  return current;
}

it("manifests/monitoring renders with kubectl kustomize, and matches the README's sidecar snippet", async () => {
  const home = await mkdtemp(join(tmpdir(), 'kustomize-home-'));
  const { stdout } = await execFileAsync('kubectl', ['kustomize', join(root, 'manifests/monitoring')], {
    env: { PATH: process.env['PATH'] ?? '', HOME: home, KUBECONFIG: join(home, 'none') },
  });
  const [podMonitor] = loadAll(stdout) as Document[];
  expect(podMonitor).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor' });
  const endpoint = at(podMonitor, 'spec', 'podMetricsEndpoints', 0);
  expect(endpoint).toMatchObject({ port: 'ambassador-admin', path: '/metrics' });
  const selector = at(podMonitor, 'spec', 'selector', 'matchLabels') as Record<string, string>;

  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const snippet = load(
    /### Add it to a Deployment\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '',
  ) as Document;
  expect(at(snippet, 'spec', 'template', 'metadata', 'labels')).toMatchObject(selector);
  const sidecar = at(snippet, 'spec', 'template', 'spec', 'initContainers', 0);
  expect(at(sidecar, 'ports', 0)).toEqual({ name: 'ambassador-admin', containerPort: 8002 });

  const annotations = load(await readFile(join(root, 'manifests/monitoring/scrape-annotations.yaml'), 'utf8'));
  expect(at(annotations, 'spec', 'template', 'metadata', 'annotations')).toEqual({
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': '8002',
    'prometheus.io/path': '/metrics',
  });
});
