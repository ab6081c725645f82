/**
 * Is the ambassador cheaper than `kubectl proxy`? Direct, kubectl proxy and ours side by side in
 * one run on this machine (issue 7):
 *
 *   npm run bench [-- --duration 5 --warmup 1 --repeats 3 --connections 1,16,64
 *                     --only idle,requests,watches --watches 1000 --watch-seconds 10]
 *
 * - idle: each proxy started afresh, timed to serving and to ready, its RSS read when idle, then
 *   while it streams the 5 MB list from that idle state;
 * - requests: nginx over TLS as the API server, wrk loading /version, one pod, a pod list and a
 *   5 MB list at each connection count, cells interleaved (bench/support/measure.ts);
 * - watches: a streaming upstream and a client in their own processes, 1,000 watches with one
 *   event per second each (bench/support/watches.ts).
 *
 * Needs Debian's nginx and wrk, and kubectl on PATH. Prints the report and writes it to
 * bench/results/bench.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { benchDocuments, largeListDocument } from './support/api-documents.ts';
import { benchReport } from './support/bench-report.ts';
import { buildAmbassador } from './support/build.ts';
import { KUBECTL_PROXY, kubectlProgram, startAmbassador, startKubectlProxy } from './support/contenders.ts';
import type { StartContender } from './support/comparison.ts';
import { checkContenders, measureAll, type Cell } from './support/measure.ts';
import {
  loadAverage,
  NGINX_TOOL,
  requireTools,
  settingsFrom,
  settingsOptions,
  startContenders,
  startNginxUpstream,
  withWorkspace,
  WRK_TOOL,
  type Tool,
} from './support/runner.ts';
import { measureStartups, type StartupRun } from './support/startup.ts';
import { measureWatches, type WatchRun } from './support/watches.ts';

const RESULTS_FILE = new URL('./results/bench.md', import.meta.url).pathname;
const PARTS = ['idle', 'requests', 'watches'] as const;
type Part = (typeof PARTS)[number];

const KUBECTL_TOOL: Tool = {
  name: 'kubectl',
  present: () => spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 }).status === 0,
  install:
    "kubectl comes with the machine image (Google Cloud SDK's); on plain Debian: apt-get install -y kubernetes-client",
};

const { values } = parseArgs({
  options: {
    ...settingsOptions('1,16,64'),
    only: { type: 'string', default: PARTS.join(',') },
    watches: { type: 'string', default: '1000' },
    'watch-seconds': { type: 'string', default: '10' },
  },
});
const settings = settingsFrom(values);
const parts = new Set(values.only.split(','));
for (const part of parts) {
  if (!PARTS.includes(part as Part)) throw new Error(`--only takes ${PARTS.join(', ')}, not ${part}`);
}
const watchSettings = {
  watches: Number(values.watches),
  windowSeconds: Number(values['watch-seconds']),
  repeats: settings.repeats,
};
if (![watchSettings.watches, watchSettings.windowSeconds].every((n) => Number.isInteger(n) && n > 0 && n <= 10_000)) {
  throw new Error('--watches and --watch-seconds must be whole numbers from 1 to 10000');
}
requireTools([NGINX_TOOL, WRK_TOOL, KUBECTL_TOOL]);

const options = process.argv.slice(2);
const command = `npm run bench${options.length > 0 ? ` -- ${options.join(' ')}` : ''}`;
const loadAtStart = loadAverage();

const markdown = await withWorkspace(async (workspace) => {
  const entry = await buildAmbassador(workspace);
  const forwarders: StartContender[] = [startKubectlProxy, (access, home) => startAmbassador(access, home, { entry })];
  const largeList = largeListDocument();
  const documents = [...benchDocuments(), largeList];
  const upstream = await startNginxUpstream(workspace, documents);

  const startups: StartupRun[] = parts.has('idle')
    ? await measureStartups(workspace, upstream, forwarders, settings.repeats, largeList)
    : [];

  const contenders = await startContenders(workspace, upstream, forwarders);
  const kubectl = contenders.find((c) => c.name === KUBECTL_PROXY);
  const program = kubectl?.pid === undefined ? 'unknown' : kubectlProgram(kubectl.pid);
  let cells: Cell[] = [];
  if (parts.has('requests')) {
    await checkContenders(contenders, documents, workspace.pki.caPem);
    cells = await measureAll(contenders, documents, settings);
  }
  for (const contender of contenders) await contender.running?.stop();

  const watches: WatchRun[] = parts.has('watches') ? await measureWatches(workspace, forwarders, watchSettings) : [];

  return benchReport({
    command,
    settings,
    watchSettings,
    loadAtStart,
    loadAtEnd: loadAverage(),
    kubectlProgram: program,
    documents,
    largeList,
    cells,
    startups,
    watches,
  });
});
await mkdir(dirname(RESULTS_FILE), { recursive: true });
await writeFile(RESULTS_FILE, markdown);
process.stdout.write(`${markdown}\nWritten to ${RESULTS_FILE}\n`);
