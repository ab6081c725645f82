/**
 * `npm run demo`: the test API server on loopback with a few pods, and the ambassador in front of
 * it on 127.0.0.1:8001 (probes on 127.0.0.1:8002), so it can be tried without a cluster.
 * `npm run demo -- --policy policy.yaml` (any flags) passes the flags on, with the pod's namespace
 * "default" for $(POD_NAMESPACE).
 */
import { cleanEnv, spawnAmbassador } from './ambassador.ts';
import type { RbacRules } from './api-server.ts';
import { startTestCluster } from './cluster.ts';

const PORT = process.env['DEMO_PORT'] ?? '8001';
const ADMIN_PORT = process.env['DEMO_ADMIN_PORT'] ?? '8002';
const LOG_INTERVAL_MS = 5_000;

/** The test API server lets its token do anything, so its rules reviews say so, as cluster-admin's would. */
const EVERYTHING: RbacRules = {
  resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
  nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
};
const NAMESPACE = 'default';

const cluster = await startTestCluster({ rbacRules: EVERYTHING });
cluster.api.putPod(NAMESPACE, 'web', { metadata: { labels: { app: 'web' } } });
cluster.api.putPod(NAMESPACE, 'worker', { metadata: { labels: { app: 'worker' } } });
let tick = 0;
const heartbeat = setInterval(
  () => cluster.api.appendLog(NAMESPACE, 'web', `web is serving (line ${++tick})`),
  LOG_INTERVAL_MS,
);

const ambassador = spawnAmbassador(
  [
    ...cluster.ambassadorArgs,
    '--port',
    PORT,
    '--admin-address',
    '127.0.0.1',
    '--admin-port',
    ADMIN_PORT,
    '--reject-paths',
    '',
    ...process.argv.slice(2),
  ],
  cleanEnv({ POD_NAMESPACE: NAMESPACE }),
);
ambassador.child.stdout?.pipe(process.stderr);
let port: string;
let adminPort: string;
try {
  const serving = await ambassador.waitForLog((line) => typeof line['proxy'] === 'string');
  port = String(serving['proxy']).split(':').pop() ?? PORT;
  adminPort = String(serving['probes']).split(':').pop() ?? ADMIN_PORT;
} catch {
  process.stderr.write(`The ambassador did not start (is port ${PORT} free? set DEMO_PORT). ${ambassador.stderr()}\n`);
  clearInterval(heartbeat);
  await cluster.close();
  process.exit(1);
}

process.stdout.write(`
kube-api-ambassador is serving a test API server (${cluster.api.url}) on http://localhost:${port}.
Try, from another terminal:

  curl localhost:${port}/version
  curl localhost:${port}/api/v1/namespaces/default/pods
  curl "localhost:${port}/api/v1/namespaces/default/pods?watch=1"          # then, elsewhere:
  curl -X DELETE localhost:${port}/api/v1/namespaces/default/pods/worker    # ...the watch shows it
  curl "localhost:${port}/api/v1/namespaces/default/pods/web/log?follow=true"
  curl -H 'Host: evil.example' localhost:${port}/version                    # refused: 403 Status
  curl --path-as-is localhost:${port}/api/v1/namespaces/default/pods/../secrets   # refused: 400 Status
  curl localhost:${adminPort}/readyz

kubectl works too, with a kubeconfig whose server is http://localhost:${port} (no credentials):
  kubectl --server http://localhost:${port} get pods
  kubectl --server http://localhost:${port} exec web -- echo hello

The test API server lets its token do anything (it enforces no RBAC), and its rules reviews say so:
with a policy (npm run demo -- --policy policy.yaml), the start-up RBAC check finds every rule allowed.

Ctrl-C stops both.
`);

async function shutdown(): Promise<void> {
  clearInterval(heartbeat);
  await ambassador.stop();
  await cluster.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
