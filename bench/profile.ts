/**
 * Where the ambassador's CPU goes per request: the built ambassador (as the bench runs it) under
 * `node --cpu-prof` in front of the bench's nginx, loaded by wrk, and its profile read back as
 * microseconds of CPU per request by category (bench/support/cpu-profile.ts): our code by src/
 * folder, prom-client, pino, Node's http/http2/tls/net/streams/timers, garbage collection.
 *
 *   npm run bench:profile [-- --path /version --connections 16 --duration 10 --warmup 2 --repeats 2]
 *
 * Only the samples taken during the measured wrk run count (the profile's timestamps and this
 * process's `process.hrtime` read the same monotonic clock), so start-up, warm-up and shutdown do
 * not. Each repeat is a fresh ambassador. Prints the report and writes it to bench/results/profile.md.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUDGETED_NODE_FLAGS } from '../test/support/ambassador.ts';
import { benchDocuments, type ApiDocument } from './support/api-documents.ts';
import { buildAmbassador } from './support/build.ts';
import { startAmbassador, type UpstreamAccess } from './support/contenders.ts';
import { breakdown, GC, IDLE, OURS_PREFIX, PROGRAM, type Breakdown, type CpuProfile } from './support/cpu-profile.ts';
import { checkContenders, THREADS } from './support/measure.ts';
import { cpuSeconds, mainThreadCpuSeconds } from './support/processes.ts';
import { versions } from './support/report.ts';
import {
  loadAverage,
  NGINX_TOOL,
  requireTools,
  startForwarder,
  startNginxUpstream,
  withWorkspace,
  WRK_TOOL,
  type Workspace,
} from './support/runner.ts';
import { markdownTable, round } from './support/stats.ts';
import { runWrk } from './support/wrk.ts';

const RESULTS_FILE = new URL('./results/profile.md', import.meta.url).pathname;
const ROOT = new URL('../', import.meta.url).pathname;
const TOP_FUNCTIONS = 15;

const { values } = parseArgs({
  options: {
    path: { type: 'string', default: '/version' },
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '2' },
    'interval-us': { type: 'string', default: '500' },
    /** Where to keep the .cpuprofile files (for Chrome DevTools); by default they are removed with the workspace. */
    'profiles-dir': { type: 'string' },
  },
});
const connections = Number(values.connections);
const durationSeconds = Number(values.duration);
const warmupSeconds = Number(values.warmup);
const repeats = Number(values.repeats);
const intervalUs = Number(values['interval-us']);
if (![connections, durationSeconds, warmupSeconds, repeats].every((n) => Number.isInteger(n) && n > 0 && n <= 600)) {
  throw new Error('--connections, --duration, --warmup and --repeats must be whole numbers from 1 to 600');
}
if (!Number.isInteger(intervalUs) || intervalUs < 50 || intervalUs > 10_000) {
  throw new Error('--interval-us must be a whole number from 50 to 10000');
}
const document = benchDocument(values.path);
requireTools([NGINX_TOOL, WRK_TOOL]);

interface ProfileRun {
  readonly requests: number;
  readonly requestsPerSecond: number;
  /** User + system CPU of the whole process (every thread) during the measured run, from /proc. */
  readonly processCpuUs: number;
  /** The same for the main thread alone, the one the profile samples. */
  readonly mainThreadCpuUs: number;
  readonly breakdown: Breakdown;
}

const options = process.argv.slice(2);
const command = `npm run bench:profile${options.length > 0 ? ` -- ${options.join(' ')}` : ''}`;
const loadAtStart = loadAverage();

const markdown = await withWorkspace(async (workspace) => {
  const entry = await buildAmbassador(workspace);
  const upstream = await startNginxUpstream(workspace, [document]);
  const runs: ProfileRun[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const run = await profileRun(workspace, upstream, entry, repeat);
    runs.push(run);
    process.stderr.write(
      `run ${repeat + 1}: ${round(run.requestsPerSecond)} req/s, ${round(run.mainThreadCpuUs / run.requests)} µs of main-thread CPU per request\n`,
    );
  }
  return profileReport(runs);
});
await mkdir(dirname(RESULTS_FILE), { recursive: true });
await writeFile(RESULTS_FILE, markdown);
process.stdout.write(`${markdown}\nWritten to ${RESULTS_FILE}\n`);

async function profileRun(
  workspace: Workspace,
  upstream: UpstreamAccess,
  entry: string,
  repeat: number,
): Promise<ProfileRun> {
  const profileDir = await mkdtemp(join(workspace.dir, 'cpu-profile-'));
  const nodeFlags = [
    ...BUDGETED_NODE_FLAGS,
    '--cpu-prof',
    '--cpu-prof-dir',
    profileDir,
    '--cpu-prof-interval',
    String(intervalUs),
  ];
  const ambassador = await startForwarder(workspace, upstream, (access, home) =>
    startAmbassador(access, home, { entry, nodeFlags }),
  );
  const { pid, running } = ambassador;
  if (pid === undefined || running === undefined) throw new Error('the ambassador has no process');
  await checkContenders([ambassador], [document], workspace.pki.caPem);
  const load = { url: ambassador.baseUrl + document.path, threads: Math.min(THREADS, connections), connections };
  await runWrk({ ...load, durationSeconds: warmupSeconds });
  const cpuBefore = cpuSeconds(pid);
  const mainThreadBefore = mainThreadCpuSeconds(pid);
  const from = monotonicUs();
  const result = await runWrk({ ...load, durationSeconds });
  const to = monotonicUs();
  const processCpuUs = (cpuSeconds(pid) - cpuBefore) * 1e6;
  const mainThreadCpuUs = (mainThreadCpuSeconds(pid) - mainThreadBefore) * 1e6;
  if (result.non2xx3xx > 0) throw new Error(`${result.non2xx3xx} answers were not 2xx or 3xx`);
  // The profile is written as the process exits (SIGTERM: a graceful shutdown).
  await running.stop();
  const files = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
  if (files.length !== 1 || files[0] === undefined) throw new Error(`expected one .cpuprofile, found ${files.length}`);
  const profileFile = join(profileDir, files[0]);
  if (values['profiles-dir'] !== undefined) {
    await mkdir(values['profiles-dir'], { recursive: true });
    await copyFile(profileFile, join(values['profiles-dir'], `run-${repeat + 1}.cpuprofile`));
  }
  const profile = JSON.parse(await readFile(profileFile, 'utf8')) as CpuProfile;
  if (from < profile.startTime || to > profile.endTime) {
    throw new Error('the measured run is outside the profile: are the clocks the same?');
  }
  return {
    requests: result.requests,
    requestsPerSecond: result.requestsPerSecond,
    processCpuUs,
    mainThreadCpuUs,
    breakdown: breakdown(profile, { from, to }, [`file://${dirname(entry)}/`]),
  };
}

function benchDocument(path: string): ApiDocument {
  const found = benchDocuments().find((candidate) => candidate.path === path);
  if (found === undefined) {
    throw new Error(
      `--path takes one of ${benchDocuments()
        .map((candidate) => candidate.path)
        .join(', ')}`,
    );
  }
  return found;
}

/** CLOCK_MONOTONIC in microseconds, the clock of V8's profile timestamps. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The profiler samples wall-clock time: while the main thread waits for a core (wrk and nginx share
 * them), its samples pile up on whatever it was doing. Each category's share of the samples that
 * were not idle, times the main thread's CPU time from /proc, is what it cost.
 */
function cpuScale(run: ProfileRun): number {
  const notIdleUs = run.breakdown.sampledUs - (run.breakdown.byCategory.get(IDLE) ?? 0);
  return notIdleUs > 0 ? run.mainThreadCpuUs / notIdleUs : Number.NaN;
}

function perRequest(run: ProfileRun, cpuUs: number): string {
  return round(cpuUs / run.requests, 2);
}

function sampledPerRequest(run: ProfileRun, sampledUs: number): string {
  return perRequest(run, sampledUs * cpuScale(run));
}

function sumWhere(totals: ReadonlyMap<string, number>, keep: (category: string) => boolean): number {
  let sum = 0;
  for (const [category, us] of totals) if (keep(category)) sum += us;
  return sum;
}

function isBusy(category: string): boolean {
  return category !== PROGRAM && category !== IDLE;
}

/** Rows ordered by the first run's figure, largest first. */
function rowsFor(
  runs: readonly ProfileRun[],
  keys: readonly string[],
  totalsOf: (run: ProfileRun) => ReadonlyMap<string, number>,
): string[][] {
  const first = runs[0];
  const sorted = [...keys].sort((a, b) =>
    first === undefined ? 0 : (totalsOf(first).get(b) ?? 0) - (totalsOf(first).get(a) ?? 0),
  );
  return sorted.map((key) => [key, ...runs.map((run) => sampledPerRequest(run, totalsOf(run).get(key) ?? 0))]);
}

function profileReport(runs: readonly ProfileRun[]): string {
  const categories = [...new Set(runs.flatMap((run) => [...run.breakdown.byCategory.keys()]))];
  const runHeaders = runs.map((_, index) => `run ${index + 1}, µs / request`);
  const sampledRow = (label: string, keep: (category: string) => boolean): string[] => [
    label,
    ...runs.map((run) => sampledPerRequest(run, sumWhere(run.breakdown.byCategory, keep))),
  ];
  const measuredRow = (label: string, value: (run: ProfileRun) => number): string[] => [
    label,
    ...runs.map((run) => perRequest(run, value(run))),
  ];
  const categoryTable = markdownTable(
    ['Category', ...runHeaders],
    [
      ...rowsFor(runs, categories.filter(isBusy), (run) => run.breakdown.byCategory),
      sampledRow('**our code (src/)**', (category) => category.startsWith(OURS_PREFIX)),
      sampledRow('**busy: JavaScript, its builtins and GC**', isBusy),
      sampledRow(`${PROGRAM}: native work outside JavaScript, not in busy`, (category) => category === PROGRAM),
      measuredRow('main thread CPU (/proc/PID/task/PID/stat): busy + (program)', (run) => run.mainThreadCpuUs),
      measuredRow('process CPU (/proc/PID/stat: every thread, kernel included)', (run) => run.processCpuUs),
      measuredRow(
        'wall-clock samples not idle, unscaled (above main thread CPU when waiting for a core)',
        (run) => run.breakdown.sampledUs - (run.breakdown.byCategory.get(IDLE) ?? 0),
      ),
    ],
  );
  const functions = [...new Set(runs.flatMap((run) => [...run.breakdown.byOurFunction.keys()]))];
  const topFunctions = rowsFor(runs, functions, (run) => run.breakdown.byOurFunction).slice(0, TOP_FUNCTIONS);
  const gitHead = spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim();
  return `# CPU per request, by category

Run on ${new Date().toISOString()} at \`${gitHead}\` with \`${command}\`.

${versions()}. ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}; load average ${loadAtStart} at the start, ${loadAverage()} at the end.

The built ambassador (\`tsc -p tsconfig.build.json\` into a temporary directory, as \`npm run bench\` builds it), with its defaults (filter,
metrics, audit log to stdout) and \`node ${BUDGETED_NODE_FLAGS.join(' ')} --cpu-prof --cpu-prof-interval ${intervalUs}\`, in
front of nginx over HTTPS (HTTP/2). wrk \`-t${Math.min(THREADS, connections)} -c${connections}\` on \`${document.path}\`:
${warmupSeconds} s warm-up, then ${durationSeconds} s measured; only the profile's samples in the measured run count.
Each run is a fresh process. Frames without a script (V8 builtins, native functions) are charged to their nearest
JavaScript caller. The profiler samples wall-clock time, so each category is its share of the samples that were not
idle times the main thread's CPU time (/proc): the rows down to *(program)* add up to that. Where the main thread
gives up its core (waking a thread-pool thread for a file write, a blocking system call), samples pile up faster than
CPU time does, so on a busy machine those spots read high. wrk, nginx and the
ambassador share the machine's cores: expect ±10% between runs.

${markdownTable(
  ['', ...runs.map((_, index) => `run ${index + 1}`)],
  [
    ['requests', ...runs.map((run) => String(run.requests))],
    ['requests/s', ...runs.map((run) => round(run.requestsPerSecond))],
  ],
)}

${categoryTable}

Our functions with the most CPU (self time, with the builtins they call), µs per request:

${markdownTable(['Function (dist/ file, line)', ...runHeaders], topFunctions)}

*${GC}* is V8's collector on the main thread; its helper threads are only in the process CPU.
`;
}
