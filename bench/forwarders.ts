/**
 * Which forwarder should carry the ambassador: our node:https forwarding, or http-proxy-3?
 *
 *   npm run bench:forwarders [-- --duration 5 --warmup 1 --repeats 3 --connections 16,64]
 *
 * nginx on 127.0.0.1 plays the API server (TLS, bearer token, canned JSON). wrk loads it directly
 * (the limit), through the real ambassador CLI, and through a minimal http-proxy-3 forwarder. On a
 * small machine wrk, the forwarder and nginx share the cores, so besides requests/s we report the
 * forwarder's CPU time per 10,000 requests from /proc/PID/stat. Each cell runs `repeats` times with
 * the contenders interleaved; medians and min–max are reported, and the table is written to
 * bench/results/forwarders.md.
 */
import { NODE_FLAGS } from '../test/support/ambassador.ts';
import { startAmbassador, startHttpProxy3 } from './support/contenders.ts';
import { packageVersion } from './support/report.ts';
import { runComparison } from './support/runner.ts';

await runComparison({
  title: 'Forwarders: node:https (ours) vs http-proxy-3',
  command: 'npm run bench:forwarders',
  resultsFile: new URL('./results/forwarders.md', import.meta.url).pathname,
  forwarders: [startAmbassador, startHttpProxy3],
  headToHead: ['ours', 'http-proxy-3'],
  versions: [`http-proxy-3 ${packageVersion(new URL('../node_modules/http-proxy-3/package.json', import.meta.url))}`],
  description: `- **ours**: the real CLI as shipped, \`node ${NODE_FLAGS.join(' ')} src/main.ts --server … --certificate-authority … --token-file …\`,
  defaults otherwise (request filter on, header allow-list, metrics on, log level info, which logs nothing per request).
- **http-proxy-3**: \`createProxyServer({ target, agent: new https.Agent({ keepAlive: true, ca }), headers: { authorization },
  changeOrigin: true, secure: true })\` on \`http.createServer\` (bench/support/http-proxy-3-forwarder.ts). It does none of
  the ambassador's checks: no Host/path/method filter, no header allow-list, client headers passed through.`,
});
