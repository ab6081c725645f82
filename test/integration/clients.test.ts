import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanEnv,
  startClusterAndAmbassador,
  stopClusterAndAmbassador,
  type RunningAmbassador,
} from '../support/ambassador.ts';
import type { TestCluster } from '../support/cluster.ts';
import { kubectl, writeProxyKubeconfig } from '../support/kubectl.ts';

const execFileAsync = promisify(execFile);

let cluster: TestCluster;
let ambassador: RunningAmbassador;

beforeAll(async () => {
  ({ cluster, ambassador } = await startClusterAndAmbassador());
});

afterAll(() => stopClusterAndAmbassador({ cluster, ambassador }));

describe('kubectl, with a kubeconfig that points at the ambassador and holds no credentials', () => {
  it('creates, lists, patches and deletes', async () => {
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'from-kubectl' },
      spec: { containers: [{ name: 'main', image: 'busybox' }] },
    });
    expect(await kubectl(kubeconfig, ['create', '-f', '-'], { input: manifest })).toMatchObject({
      code: 0,
      stdout: 'pod/from-kubectl created\n',
    });
    expect((await kubectl(kubeconfig, ['get', 'pods', '-o', 'name'])).stdout).toContain('pod/from-kubectl\n');
    expect(
      await kubectl(kubeconfig, [
        'patch',
        'pod',
        'from-kubectl',
        '--type',
        'merge',
        '-p',
        '{"metadata":{"labels":{"via":"kubectl"}}}',
      ]),
    ).toMatchObject({ code: 0 });
    const got = JSON.parse((await kubectl(kubeconfig, ['get', 'pod', 'from-kubectl', '-o', 'json'])).stdout) as V1Pod;
    expect(got.metadata?.labels).toEqual({ via: 'kubectl' });
    expect(await kubectl(kubeconfig, ['delete', 'pod', 'from-kubectl', '--wait=false'])).toMatchObject({
      code: 0,
      stdout: 'pod "from-kubectl" deleted\n',
    });
    const patchSeen = await cluster.api.waitForRequest(
      (r) => r.method === 'PATCH' && r.url.startsWith('/api/v1/namespaces/default/pods/from-kubectl'),
    );
    expect(patchSeen.headers.authorization).toBe('Bearer first-token');
  });

  it("shows the ambassador's refusal as a Kubernetes error", async () => {
    cluster.api.putPod('default', 'web');
    const kubeconfig = await writeProxyKubeconfig(cluster.dir, ambassador.url);
    const refused = await kubectl(kubeconfig, ['exec', 'web', '--', 'true']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--reject-paths');
  });
});

describe('the official Python client, configured with host=http://localhost:PORT', () => {
  it('lists, creates, reads and watches', async () => {
    cluster.api.putPod('default', 'seen-by-python');
    const script = `
import json, sys
from kubernetes import client, watch
configuration = client.Configuration(host=sys.argv[1])
core = client.CoreV1Api(client.ApiClient(configuration))
names = [pod.metadata.name for pod in core.list_namespaced_pod("default").items]
core.create_namespaced_pod("default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "from-python"}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
read = core.read_namespaced_pod("from-python", "default").metadata.name
events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1)]
print(json.dumps({"names": names, "read": read, "events": events}))
`;
    const { stdout } = await execFileAsync('/usr/bin/python3', ['-c', script, ambassador.url], { env: cleanEnv() });
    const result = JSON.parse(stdout) as { names: string[]; read: string; events: [string, string][] };
    expect(result.names).toContain('seen-by-python');
    expect(result.read).toBe('from-python');
    expect(result.events).toContainEqual(['ADDED', 'from-python']);
    const create = await cluster.api.waitForRequest(
      (r) => r.method === 'POST' && r.url === '/api/v1/namespaces/default/pods',
    );
    expect(create.headers.authorization).toBe('Bearer first-token');
  });
});

describe('@kubernetes/client-node pointed at the ambassador', () => {
  function kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    // client-node refuses plain http unless told not to verify; there is no TLS to verify on loopback.
    config.loadFromClusterAndUser(
      { name: 'ambassador', server: ambassador.url, skipTLSVerify: true },
      { name: 'nobody' },
    );
    return config;
  }

  it('lists and creates pods', async () => {
    const core = kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPod({
      namespace: 'default',
      // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- client-node's models are data-only classes, serialized field by field; its own examples pass plain objects
      body: { metadata: { name: 'from-node' }, spec: { containers: [{ name: 'main', image: 'busybox' }] } },
    });
    const list = await core.listNamespacedPod({ namespace: 'default' });
    expect(list.items.map((pod) => pod.metadata?.name)).toContain('from-node');
  });

  it('receives watch events as they happen', async () => {
    const events: [string, string | undefined][] = [];
    let onEvent!: () => void;
    const sawDeletion = new Promise<void>((resolve) => (onEvent = resolve));
    const request = await new Watch(kubeConfig()).watch(
      '/api/v1/namespaces/default/pods',
      {},
      (type: string, pod: V1Pod) => {
        events.push([type, pod.metadata?.name]);
        if (type === 'DELETED' && pod.metadata?.name === 'watched-by-node') onEvent();
      },
      () => undefined,
    );
    await cluster.api.waitForRequest(
      (r) => r.url.startsWith('/api/v1/namespaces/default/pods?') && r.url.includes('watch=true'),
    );
    cluster.api.putPod('default', 'watched-by-node');
    cluster.api.deletePod('default', 'watched-by-node');
    await sawDeletion;
    request.abort();
    expect(events).toContainEqual(['ADDED', 'watched-by-node']);
  });
});
