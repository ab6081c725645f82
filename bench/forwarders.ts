/**
 * Which forwarder should carry the ambassador, and how far is it from Node's own floor?
 *
 *   npm run bench:forwarders [-- --duration 5 --warmup 1 --repeats 3 --connections 16,64]
 *
 * nginx on 127.0.0.1 plays the API server (TLS, bearer token, canned JSON, HTTP/2 offered). wrk
 * loads it directly (the limit), through the real ambassador CLI as the image runs it, through a
 * minimal http-proxy-3 forwarder, through the thinnest node:http to node:http2 forwarder (the floor
 * for any Node forwarder), and through kubectl proxy. On a small machine wrk, the forwarder and
 * nginx share the cores, so besides requests/s we report each forwarder's CPU time per 10,000
 * requests from /proc/PID/stat. Each cell runs `repeats` times with the contenders interleaved;
 * medians and min–max are reported, and the table is written to bench/results/forwarders.md.
 */
import { NODE_FLAGS } from '../test/support/ambassador.ts';
import { buildAmbassador } from './support/build.ts';
import {
  startAmbassador,
  startHttpProxy3,
  startKubectlProxy,
  startThinHttp2,
  THIN_HTTP2,
} from './support/contenders.ts';
import type { StartContender } from './support/comparison.ts';
import { packageVersion } from './support/report.ts';
import { runComparison } from './support/runner.ts';

const startOurs: StartContender = async (upstream, home) =>
  startAmbassador(upstream, home, { entry: await buildAmbassador({ dir: home }) });

await runComparison({
  title: 'Forwarders: ours vs http-proxy-3, the thinnest node:http2 forwarder and kubectl proxy',
  command: 'npm run bench:forwarders',
  resultsFile: new URL('./results/forwarders.md', import.meta.url).pathname,
  forwarders: [startOurs, startHttpProxy3, startThinHttp2, startKubectlProxy],
  headToHead: ['ours', THIN_HTTP2],
  versions: [`http-proxy-3 ${packageVersion(new URL('../node_modules/http-proxy-3/package.json', import.meta.url))}`],
  description: `- **ours**: the real CLI as the image runs it, \`node ${NODE_FLAGS.join(' ')} dist/main.js --server … --certificate-authority … --token-file …\`
  (built from src/ at the start of the run), defaults otherwise (request filter, header allow-list, metrics, audit log to stdout
  at Metadata level); HTTP/2 to nginx.
- **http-proxy-3**: \`createProxyServer({ target, agent: new https.Agent({ keepAlive: true, ca }), headers: { authorization },
  changeOrigin: true, secure: true })\` on \`http.createServer\` (bench/support/http-proxy-3-forwarder.ts); HTTP/1.1 to nginx,
  the only protocol it forwards with. It does none of the ambassador's checks: no Host/path/method filter, no header
  allow-list, client headers passed through.
- **${THIN_HTTP2}**: \`http.createServer\` sending each request as a stream of one \`http2.connect\` session and piping the
  answer back (bench/support/thin-http2-forwarder.ts): the least any Node forwarder does, so the floor of Node's own cost.
- **kubectl proxy**: \`kubectl proxy --port=0\` on a generated kubeconfig, for reference (npm run bench has the full comparison).`,
});
