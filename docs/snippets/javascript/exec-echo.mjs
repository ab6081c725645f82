import { Exec, KubeConfig } from '@kubernetes/client-node';

const kc = new KubeConfig();
kc.loadFromClusterAndUser(
  { name: 'ambassador', server: process.env.KUBERNETES_API ?? 'http://localhost:8001', skipTLSVerify: true },
  { name: 'ambassador' },
);

// A WebSocket upgrade (v5.channel.k8s.io, else v4) through the ambassador; refused (403) unless
// its --reject-paths or --policy allows exec.
await new Exec(kc).exec('default', 'web', 'main', ['echo', 'hi'], process.stdout, process.stderr, null, false,
  (status) => console.error('exec', status.status));
