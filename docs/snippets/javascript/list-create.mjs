import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

const kc = new KubeConfig();
// No credentials: the ambassador adds them. client-node refuses an http:// server unless
// skipTLSVerify is set; there is no TLS to verify on loopback, so it is harmless here.
kc.loadFromClusterAndUser(
  { name: 'ambassador', server: process.env.KUBERNETES_API ?? 'http://localhost:8001', skipTLSVerify: true },
  { name: 'ambassador' },
);
const core = kc.makeApiClient(CoreV1Api);

const pods = await core.listNamespacedPod({ namespace: 'default' });
for (const pod of pods.items) console.log(pod.metadata?.name);

await core.createNamespacedPod({
  namespace: 'default',
  body: { metadata: { name: 'made-by-node' }, spec: { containers: [{ name: 'main', image: 'busybox' }] } },
});
console.log('created made-by-node');
