/**
 * Does the ambassador live within the memory budget the manifests give it? It runs as the image
 * runs in the manifests' limit (BUDGETED_NODE_FLAGS, --memory-limit 192Mi, audit log and metrics on)
 * in front of nginx, and wrk holds 64 connections fetching the 5 MB list for 60 s while its memory is
 * read from /proc every 100 ms:
 *
 *   npm run bench:budget [-- --seconds 60 --connections 64 --limit 192]
 *
 * With a --limit (MiB) below what the load needs, it shows the shedding instead: 429s, and no death.
 *
 * Reports the peak RSS, anonymous and file-backed (RssAnon, RssFile: the file pages of one image are
 * shared by the pods of a node, the anonymous ones are not), how many answers were 429s (the budget's
 * shedding), and whether the peak stayed under the limit. Writes bench/results/budget.md; exits 1
 * when the peak reached the limit or the ambassador died.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { SHED_AT } from '../src/proxy/memory-budget.ts';
import { BUDGETED_NODE_FLAGS, IMAGE_NODE_FLAGS, MANIFEST_MEMORY_LIMIT_MIB } from '../test/support/ambassador.ts';
import { largeListDocument } from './support/api-documents.ts';
import { buildAmbassador } from './support/build.ts';
import { startAmbassador } from './support/contenders.ts';
import { hasExited } from './support/processes.ts';
import {
  loadAverage,
  NGINX_TOOL,
  requireTools,
  startForwarder,
  startNginxUpstream,
  withWorkspace,
  WRK_TOOL,
} from './support/runner.ts';
import { markdownTable, round } from './support/stats.ts';
import { runWrk } from './support/wrk.ts';

const RESULTS_FILE = new URL('./results/budget.md', import.meta.url).pathname;
const SAMPLE_EVERY_MS = 100;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    connections: { type: 'string', default: '64' },
    limit: { type: 'string', default: String(MANIFEST_MEMORY_LIMIT_MIB) },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
/** A limit below the manifests' shows the shedding: 429s instead of growth. */
const limitMib = Number(values.limit);
if (![seconds, connections, limitMib].every((n) => Number.isInteger(n) && n > 0 && n <= 3600)) {
  throw new Error('--seconds, --connections and --limit (MiB) must be whole numbers from 1 to 3600');
}
requireTools([NGINX_TOOL, WRK_TOOL]);

/** RSS and its anonymous and file-backed parts, MiB, from /proc/PID/status. */
function memoryOf(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: mib('VmRSS'), anon: mib('RssAnon'), file: mib('RssFile') };
}

/** The image's flags as they come out in this limit (half of it for the old generation), as in BUDGETED_NODE_FLAGS. */
const nodeFlags = [BUDGETED_NODE_FLAGS[0], `--max-old-space-size=${Math.round(limitMib / 2)}`];
const loadAtStart = loadAverage();
const markdown = await withWorkspace(async (workspace) => {
  const entry = await buildAmbassador(workspace);
  const document = largeListDocument();
  const upstream = await startNginxUpstream(workspace, [document]);
  const ours = await startForwarder(workspace, upstream, (access, home) =>
    startAmbassador(access, home, { entry, nodeFlags, args: ['--memory-limit', `${limitMib}Mi`] }),
  );
  const pid = ours.pid ?? 0;
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const idle = memoryOf(pid);
  const peak = { ...idle };
  const sampler = setInterval(() => {
    if (ours.running === undefined || hasExited(ours.running.child)) return;
    const now = memoryOf(pid);
    peak.rss = Math.max(peak.rss, now.rss);
    peak.anon = Math.max(peak.anon, now.anon);
    peak.file = Math.max(peak.file, now.file);
  }, SAMPLE_EVERY_MS);
  const result = await runWrk({
    url: ours.baseUrl + document.path,
    threads: 2,
    connections,
    durationSeconds: seconds,
    timeoutSeconds: 30,
  });
  clearInterval(sampler);
  const alive = ours.running !== undefined && !hasExited(ours.running.child);
  const after = alive ? memoryOf(pid) : { rss: NaN, anon: NaN, file: NaN };
  const { connect, read, write, timeout } = result.socketErrors;
  const withinBudget = alive && peak.rss < limitMib;
  process.exitCode = withinBudget ? 0 : 1;
  return `# Memory budget: ${connections} connections of the ${round(document.body.length / 2 ** 20)} MiB list for ${seconds} s

Run on ${new Date().toISOString()} with \`npm run bench:budget${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`, Node ${process.version},
load average ${loadAtStart} at the start, ${loadAverage()} at the end. Ours as the image runs it in the manifests' limit:
\`node ${nodeFlags.join(' ')} dist/main.js --memory-limit ${limitMib}Mi\` (on this machine without the cgroup,
--max-old-space-size stands for the image's ${IMAGE_NODE_FLAGS[1]}), audit log and metrics on, nginx over TLS
and HTTP/2 as the API server. Memory from /proc/PID/status every ${SAMPLE_EVERY_MS} ms.

${markdownTable(
  ['', 'RSS MiB', 'anonymous MiB', 'file-backed MiB'],
  [
    ['idle, before', round(idle.rss), round(idle.anon), round(idle.file)],
    ['peak under load', round(peak.rss), round(peak.anon), round(peak.file)],
    ['after the load', round(after.rss), round(after.anon), round(after.file)],
  ],
)}

| | |
|---|---|
| memory limit | ${limitMib} MiB${limitMib === MANIFEST_MEMORY_LIMIT_MIB ? " (the manifests')" : ''}; shedding from ${round(limitMib * SHED_AT)} MiB |
| lists served | ${result.requests - result.non2xx3xx} (${round((result.requests - result.non2xx3xx) / result.seconds)}/s) |
| answered 429 (shed) | ${result.non2xx3xx} |
| socket errors (connect, read, write, timeout) | ${connect}, ${read}, ${write}, ${timeout} |
| alive at the end | ${alive ? 'yes' : 'no'} |
| **peak RSS under the limit** | **${withinBudget ? 'yes' : 'no'}** |
`;
});
await mkdir(dirname(RESULTS_FILE), { recursive: true });
await writeFile(RESULTS_FILE, markdown);
process.stdout.write(`${markdown}\nWritten to ${RESULTS_FILE}\n`);
