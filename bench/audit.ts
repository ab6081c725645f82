/**
 * What does the audit log cost per request? The same CLI with its default audit log (one
 * audit.k8s.io/v1 event per request, written asynchronously to stdout) and with --audit-level None.
 *
 *   npm run bench:audit [-- --duration 5 --warmup 1 --repeats 3 --connections 16,64]
 *
 * Same harness as bench/forwarders.ts (bench/support/runner.ts); the table is written to
 * bench/results/audit.md.
 */
import { NODE_FLAGS } from '../test/support/ambassador.ts';
import { startAmbassador } from './support/contenders.ts';
import { runComparison } from './support/runner.ts';

const AUDIT_OFF = 'ours --audit-level None';

await runComparison({
  title: 'Audit log: ours with its default audit log vs --audit-level None',
  command: 'npm run bench:audit',
  resultsFile: new URL('./results/audit.md', import.meta.url).pathname,
  forwarders: [
    startAmbassador,
    (upstream, home) => startAmbassador(upstream, home, { name: AUDIT_OFF, args: ['--audit-level', 'None'] }),
  ],
  headToHead: ['ours', AUDIT_OFF],
  description: `- **ours**: the real CLI as shipped, \`node ${NODE_FLAGS.join(' ')} src/main.ts --server … --certificate-authority … --token-file …\`,
  defaults otherwise: every request writes one audit.k8s.io/v1 event (Metadata level) to stdout, which the harness reads
  and discards, as a container runtime would collect it; metrics on.
- **${AUDIT_OFF}**: the same without the audit log.`,
});
