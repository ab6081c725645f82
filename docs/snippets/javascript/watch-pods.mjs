import { KubeConfig, Watch } from '@kubernetes/client-node';

const kc = new KubeConfig();
kc.loadFromClusterAndUser(
  { name: 'ambassador', server: process.env.KUBERNETES_API ?? 'http://localhost:8001', skipTLSVerify: true },
  { name: 'ambassador' },
);

// Watch does not watch again by itself: `done` runs when the response ends, on an error, or after
// 30 s without data (client-node's own timer). Watch again there, or use makeInformer.
await new Watch(kc).watch(
  '/api/v1/namespaces/default/pods',
  {},
  (type, pod) => console.log(type, pod.metadata?.name),
  (err) => console.error('watch ended', err ?? ''),
);
