/**
 * A bounded soak, loopback only: the ambassador as the image runs it (dist/main.js, built into a temp
 * dir) with an allow-list policy and its audit log, in front of the test API server, under steady load
 * for --duration seconds: gets, lists, updates, creates and deletes, requests the policy denies,
 * malformed requests, requests aborted while the API server holds them, and watches opened and closed
 * all the time. Every answer is checked. The ambassador's RSS, V8 heap and open descriptors are sampled
 * from its /metrics; bench/results/soak.md gets the samples, their curves and a verdict: flat when the
 * mean of the last third of the samples (after a warm-up) is within a stated bound of the first third's.
 *
 *   npm run soak [-- --duration 600 --rate 200 --sample-every 10]
 *
 * Exits 1 when any answer was wrong or a connection failed, when memory or descriptors grew past the bounds,
 * when requests were still in flight once the load stopped, or when the ambassador did not exit 0 on SIGTERM.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BUDGET_ARGS, BUDGETED_NODE_FLAGS, EPHEMERAL_PORTS } from '../test/support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../test/support/cluster.ts';
import { buildAmbassador } from './support/build.ts';
import { get } from './support/http.ts';
import { startChild } from './support/processes.ts';
import { withWorkspace, type Workspace } from './support/runner.ts';
import { markdownTable, round } from './support/stats.ts';

const RESULTS_FILE = new URL('./results/soak.md', import.meta.url).pathname;
const WORKERS = 8;
const WATCHERS = 8;
/** A watch is held open between these many ms before the client closes it; every fourth is ended by the API server instead. */
const WATCH_HOLD_MS = [500, 4_000] as const;
/** How long an aborted request waits at the API server before its client leaves. */
const ABORT_AFTER_MS = 25;
/** Bounds of the verdict: growth of the last third's mean over the first third's. */
const BOUNDS = { rssPercent: 10, heapPercent: 25, fds: 4 } as const;
const MiB = 1024 * 1024;

const POLICY = `rules:
  - name: pods
    verbs: [get, list, watch, create, delete]
    apiGroups: [""]
    resources: [pods]
    namespaces: [default]
  - name: configmaps
    verbs: [get, create, update]
    apiGroups: [""]
    resources: [configmaps]
    namespaces: [default]
`;

interface Settings {
  readonly durationSeconds: number;
  readonly rate: number;
  readonly sampleEverySeconds: number;
}

function settingsFromArgs(): Settings {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '600' },
      rate: { type: 'string', default: '200' },
      'sample-every': { type: 'string' },
    },
  });
  const durationSeconds = Number(values.duration);
  const rate = Number(values.rate);
  const sampleEverySeconds = Number(values['sample-every'] ?? Math.max(1, Math.round(durationSeconds / 60)));
  if (![durationSeconds, rate, sampleEverySeconds].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('--duration, --rate and --sample-every must be positive whole numbers');
  }
  if (durationSeconds < 6 * sampleEverySeconds) throw new Error('--duration must cover at least six samples');
  return { durationSeconds, rate, sampleEverySeconds };
}

// ---------------------------------------------------------------------------------------------
// What was sent and what came back

type RequestKind = 'get' | 'list' | 'update' | 'create' | 'delete' | 'denied' | 'invalid' | 'aborted';
/** One round of a worker: mostly reads, some writes, some refusals, one abort. */
const ROUND: readonly RequestKind[] = [
  'get',
  'list',
  'update',
  'get',
  'create',
  'list',
  'denied',
  'get',
  'invalid',
  'update',
  'list',
  'get',
  'delete',
  'aborted',
  'get',
  'list',
  'denied',
  'update',
  'invalid',
  'get',
];

class Tally {
  /** Requests answered as expected, by kind. */
  readonly answered = new Map<RequestKind, number>();
  /** Requests abandoned by their client as planned, while the API server held them. */
  aborted = 0;
  watchesOpened = 0;
  watchesClosedByClient = 0;
  watchesEndedByServer = 0;
  watchEvents = 0;
  failures = 0;
  readonly failureExamples: string[] = [];

  count(kind: RequestKind): void {
    this.answered.set(kind, (this.answered.get(kind) ?? 0) + 1);
  }

  fail(what: string): void {
    this.failures += 1;
    if (this.failureExamples.length < 20) this.failureExamples.push(what);
  }

  get requests(): number {
    return [...this.answered.values()].reduce((sum, n) => sum + n, 0);
  }
}

interface Planned {
  readonly method: string;
  readonly path: string;
  readonly body?: Buffer;
  /** The problem with the answer, or undefined when it is the expected one. */
  readonly check: (status: number, body: Buffer) => string | undefined;
}

function expectJson(expectedStatuses: readonly number[], kind: string, name?: string): Planned['check'] {
  return (status, body) => {
    if (!expectedStatuses.includes(status)) return `status ${status}: ${body.toString('utf8').slice(0, 200)}`;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { kind?: string; metadata?: { name?: string } };
      if (parsed.kind !== kind) return `kind ${String(parsed.kind)} instead of ${kind}`;
      if (name !== undefined && parsed.metadata?.name !== name)
        return `object ${String(parsed.metadata?.name)} instead of ${name}`;
      return undefined;
    } catch {
      return `not JSON: ${body.toString('utf8').slice(0, 200)}`;
    }
  };
}

function plan(kind: Exclude<RequestKind, 'aborted'>, worker: number, round: number): Planned {
  const pods = '/api/v1/namespaces/default/pods';
  const pod = `soak-${worker}-${round}`;
  switch (kind) {
    case 'get':
      return { method: 'GET', path: `${pods}/web`, check: expectJson([200], 'Pod', 'web') };
    case 'list':
      return { method: 'GET', path: `${pods}?limit=500`, check: expectJson([200], 'PodList') };
    case 'update': {
      const name = `soak-${worker}-${round % 10}`;
      const body = Buffer.from(
        JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { round: String(round) } }),
      );
      return {
        method: 'PUT',
        path: `/api/v1/namespaces/default/configmaps/${name}`,
        body,
        check: (status, echoed) =>
          status !== 200 && status !== 201
            ? `status ${status}`
            : echoed.equals(body)
              ? undefined
              : 'the stored body differs',
      };
    }
    case 'create':
      return {
        method: 'POST',
        path: pods,
        body: Buffer.from(JSON.stringify({ metadata: { name: pod } })),
        check: expectJson([201], 'Pod', pod),
      };
    case 'delete':
      return { method: 'DELETE', path: `${pods}/${pod}`, check: expectJson([200], 'Pod', pod) };
    case 'denied':
      return { method: 'GET', path: '/api/v1/namespaces/kube-system/secrets', check: expectJson([403], 'Status') };
    case 'invalid':
      return { method: 'GET', path: '/api/v1//namespaces/default/pods', check: expectJson([400], 'Status') };
  }
}

function exchange(port: number, agent: Agent, planned: Planned): Promise<string | undefined> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { host: 'localhost' };
    if (planned.body !== undefined) headers['content-type'] = 'application/json';
    const req = request(
      { host: '127.0.0.1', port, method: planned.method, path: planned.path, agent, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => resolve(`the answer broke off: ${error.message}`));
        res.on('end', () => resolve(planned.check(res.statusCode ?? 0, Buffer.concat(chunks))));
      },
    );
    req.on('error', (error) => resolve(`connection failed: ${error.message}`));
    req.end(planned.body);
  });
}

/** A request the API server holds unanswered, abandoned by its client once it has arrived there. */
function abort(port: number, path: string, held: Map<string, () => void>): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      resolve(`answered ${res.statusCode ?? 0} though the API server never answers`);
    });
    held.set(path, () => {
      held.delete(path);
      setTimeout(() => {
        req.destroy();
        resolve(undefined);
      }, ABORT_AFTER_MS);
    });
    req.on('error', (error) => {
      if (held.delete(path)) resolve(`connection failed before the abort: ${error.message}`);
    });
    req.end();
  });
}

async function worker(
  port: number,
  id: number,
  settings: Settings,
  running: () => boolean,
  tally: Tally,
  held: Map<string, () => void>,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const intervalMs = (WORKERS / settings.rate) * 1000;
  let due = performance.now();
  try {
    for (let round = 0; running(); round++) {
      for (const kind of ROUND) {
        if (!running()) return;
        const problem =
          kind === 'aborted'
            ? await abort(port, `/api/v1/namespaces/default/pods/held-${id}-${round}`, held)
            : await exchange(port, agent, plan(kind, id, round));
        if (problem !== undefined) tally.fail(`${kind}: ${problem}`);
        else if (kind === 'aborted') tally.aborted += 1;
        else tally.count(kind);
        due += intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        else due = performance.now(); // behind: go on at the rate from now, no burst
      }
    }
  } finally {
    agent.destroy();
  }
}

/** Counts the watch events in `text`'s complete lines, each checked to be one; returns the incomplete rest. */
function countEvents(text: string, tally: Tally): string {
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  for (const line of lines) {
    try {
      const event = JSON.parse(line) as { type?: string };
      if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') tally.watchEvents += 1;
      else tally.fail(`watch: unexpected event ${line.slice(0, 200)}`);
    } catch {
      tally.fail(`watch: not a JSON event: ${line.slice(0, 200)}`);
    }
  }
  return rest;
}

/** Opens one watch and ends it: the client closes it after a while, or the API server ends it at its timeoutSeconds. */
function watchOnce(port: number, endedByServer: boolean, holdMs: number, tally: Tally): Promise<void> {
  return new Promise((resolve) => {
    const path = `/api/v1/namespaces/default/pods?watch=1${endedByServer ? '&timeoutSeconds=1' : ''}`;
    let closing = false;
    const req = request(
      { host: '127.0.0.1', port, path, agent: false, headers: { host: 'localhost' } },
      (res: IncomingMessage) => {
        tally.watchesOpened += 1;
        if (res.statusCode !== 200) tally.fail(`watch: status ${res.statusCode ?? 0}`);
        let pending = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (pending = countEvents(pending + chunk, tally)));
        res.on('end', () => {
          if (endedByServer) tally.watchesEndedByServer += 1;
          else tally.fail('watch: ended before the client closed it');
          resolve();
        });
        res.on('error', (error) => {
          if (!closing) tally.fail(`watch: broke off: ${error.message}`);
          resolve();
        });
        if (!endedByServer) {
          setTimeout(() => {
            closing = true;
            tally.watchesClosedByClient += 1;
            req.destroy();
            resolve();
          }, holdMs);
        }
      },
    );
    req.on('error', (error: Error & { rawPacket?: Buffer; bytesParsed?: number }) => {
      if (!closing) tally.fail(`watch: connection failed: ${error.message}${parseErrorContext(error)}`);
      resolve();
    });
    req.end();
  });
}

/** For an HTTP parse error, the bytes Node's parser choked on, so a failure can be diagnosed from the report. */
function parseErrorContext(error: { rawPacket?: Buffer; bytesParsed?: number }): string {
  if (error.rawPacket === undefined) return '';
  const at = error.bytesParsed ?? 0;
  const show = (bytes: Buffer): string => JSON.stringify(bytes.toString('latin1'));
  return ` (parsed ${show(error.rawPacket.subarray(Math.max(0, at - 200), at))}, then ${show(error.rawPacket.subarray(at, at + 200))})`;
}

/** A small deterministic generator (mulberry32), so every run churns watches alike. */
function randomSource(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function watcher(port: number, id: number, running: () => boolean, tally: Tally): Promise<void> {
  const random = randomSource(id + 1);
  for (let n = 0; running(); n++) {
    const [shortest, longest] = WATCH_HOLD_MS;
    await watchOnce(port, n % 4 === 3, shortest + random() * (longest - shortest), tally);
  }
}

// ---------------------------------------------------------------------------------------------
// Samples and the verdict

interface Sample {
  readonly seconds: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly fds: number;
  /** Requests being served at the moment, watches included. */
  readonly inFlight: number;
  readonly requests: number;
  readonly watchesOpened: number;
  readonly failures: number;
}

function metricValue(exposition: string, series: string): number {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  if (line === undefined) throw new Error(`the ambassador's /metrics has no ${series}`);
  return Number(line.slice(series.length + 1));
}

async function takeSample(adminUrl: string, seconds: number, tally: Tally): Promise<Sample> {
  const { status, body } = await get(`${adminUrl}/metrics`);
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  const exposition = body.toString('utf8');
  return {
    seconds,
    rssMb: metricValue(exposition, 'process_resident_memory_bytes') / MiB,
    heapUsedMb: metricValue(exposition, 'nodejs_heap_size_used_bytes') / MiB,
    fds: metricValue(exposition, 'process_open_fds'),
    inFlight: metricValue(exposition, 'kube_api_ambassador_requests_in_flight'),
    requests: tally.requests,
    watchesOpened: tally.watchesOpened,
    failures: tally.failures,
  };
}

interface Trend {
  readonly name: string;
  readonly first: number;
  readonly last: number;
  readonly bound: string;
  readonly flat: boolean;
}

const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

/** First third against last third of the samples taken after the warm-up. */
function trends(samples: readonly Sample[], warmupSeconds: number): Trend[] {
  const steady = samples.filter((s) => s.seconds > warmupSeconds);
  const third = Math.max(1, Math.floor(steady.length / 3));
  const firstThird = steady.slice(0, third);
  const lastThird = steady.slice(-third);
  const compare = (
    name: string,
    pick: (s: Sample) => number,
    allowed: (first: number) => number,
    bound: string,
  ): Trend => {
    const first = mean(firstThird.map(pick));
    const last = mean(lastThird.map(pick));
    return { name, first, last, bound, flat: last - first <= allowed(first) };
  };
  return [
    compare(
      'RSS (MiB)',
      (s) => s.rssMb,
      (first) => (first * BOUNDS.rssPercent) / 100,
      `+${BOUNDS.rssPercent}%`,
    ),
    compare(
      'V8 heap used (MiB)',
      (s) => s.heapUsedMb,
      (first) => (first * BOUNDS.heapPercent) / 100,
      `+${BOUNDS.heapPercent}%`,
    ),
    compare(
      'open descriptors',
      (s) => s.fds,
      () => BOUNDS.fds,
      `+${BOUNDS.fds}`,
    ),
  ];
}

/** One character per sample, from ▁ (the lowest) to █ (the highest). */
function sparkline(values: readonly number[]): string {
  const levels = '▁▂▃▄▅▆▇█';
  const low = Math.min(...values);
  const span = Math.max(...values) - low;
  return values.map((v) => levels[span === 0 ? 0 : Math.round(((v - low) / span) * (levels.length - 1))]).join('');
}

/** Once the load has stopped: waits (10 s at most) until nothing is in flight, and samples then. */
async function quietSample(adminUrl: string, seconds: number, tally: Tally): Promise<Sample> {
  let sample = await takeSample(adminUrl, seconds, tally);
  for (let waited = 0; sample.inFlight > 0 && waited < 10_000; waited += 100) {
    await sleep(100);
    sample = await takeSample(adminUrl, seconds, tally);
  }
  return sample;
}

/** How the run ended: the state once the load stopped, and the shutdown. */
interface Ending {
  readonly quiet: Sample;
  readonly exitCode: number | null;
  readonly shutdownMs: number;
  /** HTTP/2 connections the test API server accepted from the ambassador over the whole run. */
  readonly http2Connections: number;
}

function passed(verdict: readonly Trend[], tally: Tally, quiet: Sample, exitCode: number | null): boolean {
  return verdict.every((t) => t.flat) && tally.failures === 0 && quiet.inFlight === 0 && exitCode === 0;
}

function report(
  settings: Settings,
  samples: readonly Sample[],
  warmupSeconds: number,
  tally: Tally,
  ending: Ending,
  verdict: Trend[],
): string {
  const flat = verdict.every((t) => t.flat);
  const { quiet, exitCode, shutdownMs } = ending;
  const options = process.argv.slice(2);
  const curve = (label: string, pick: (s: Sample) => number, digits: number): string[] => {
    const values = samples.map(pick);
    return [label, sparkline(values), `${round(Math.min(...values), digits)}–${round(Math.max(...values), digits)}`];
  };
  const requestRows = [...tally.answered.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => [kind, n.toLocaleString('en-US')]);
  return `# Soak: the ambassador under steady load

Run on ${new Date().toISOString()} with \`npm run soak${options.length > 0 ? ` -- ${options.join(' ')}` : ''}\` at ${sourceVersion()}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}.

The ambassador as the image runs it in the manifests' memory limit (\`node ${BUDGETED_NODE_FLAGS.join(' ')} dist/main.js ${BUDGET_ARGS.join(' ')}\`, built by tsc into a temp dir) with an
allow-list policy and its audit log (Metadata, to a file), in front of the test API server, all on 127.0.0.1, for
${settings.durationSeconds} s. Load: ${WORKERS} keep-alive clients paced to ${settings.rate} requests/s in all, each round of ${ROUND.length}
requests being ${describeRound()}; ${WATCHERS} clients opening watches one after another, each closed by the client after
${WATCH_HOLD_MS[0] / 1000}–${WATCH_HOLD_MS[1] / 1000} s or, one in four, ended by the API server (timeoutSeconds=1). Every answer is checked (status, and the
body: the object named, the stored bytes echoed, each watch line a JSON event); a wrong answer or a failed connection
is a failure. Aborted requests wait at the API server (which never answers them) until the client leaves ${ABORT_AFTER_MS} ms
after they arrive there. Samples every ${settings.sampleEverySeconds} s from the ambassador's /metrics.

## Result: ${passed(verdict, tally, quiet, exitCode) ? 'passed' : 'FAILED'}

${markdownTable(
  ['', 'total'],
  [
    ['requests answered as expected', tally.requests.toLocaleString('en-US')],
    ['requests per second, achieved', round((tally.requests + tally.aborted) / settings.durationSeconds)],
    ['requests aborted by their client (as planned)', tally.aborted.toLocaleString('en-US')],
    ['watches opened', tally.watchesOpened.toLocaleString('en-US')],
    ['watches closed by the client', tally.watchesClosedByClient.toLocaleString('en-US')],
    ['watches ended by the API server (cleanly)', tally.watchesEndedByServer.toLocaleString('en-US')],
    ['watch events received', tally.watchEvents.toLocaleString('en-US')],
    ['failures (wrong answers, failed connections)', String(tally.failures)],
    ['in flight once the load stopped', String(quiet.inFlight)],
    [
      'RSS, heap used, descriptors once the load stopped',
      `${quiet.rssMb.toFixed(1)} MiB, ${quiet.heapUsedMb.toFixed(1)} MiB, ${quiet.fds}`,
    ],
    ['exit code after SIGTERM, and how long it took', `${String(exitCode)}, ${round(shutdownMs / 1000)} s`],
    [
      'HTTP/2 connections to the API server over the run (requests and watches share them)',
      String(ending.http2Connections),
    ],
  ],
)}

Requests answered as expected, by kind:

${markdownTable(['kind', 'count'], requestRows)}
${tally.failureExamples.length === 0 ? '' : `\nFirst failures:\n\n${tally.failureExamples.map((f) => `- ${f}`).join('\n')}\n`}
## Verdict: ${flat ? 'flat' : 'NOT flat'}

The mean of the last third of the samples against the first third's, leaving out the first ${warmupSeconds} s (warm-up):

${markdownTable(
  ['measure', 'first third', 'last third', 'growth', 'bound', 'flat'],
  verdict.map((t) => [
    t.name,
    round(t.first, 4),
    round(t.last, 4),
    round(t.last - t.first, 3),
    t.bound,
    t.flat ? 'yes' : '**no**',
  ]),
)}

## Curves

One character per sample, lowest ▁ to highest █ (range at the right):

${markdownTable(
  ['measure', 'curve', 'range'],
  [
    curve('RSS MiB', (s) => s.rssMb, 4),
    curve('V8 heap used MiB', (s) => s.heapUsedMb, 3),
    curve('open descriptors', (s) => s.fds, 3),
  ],
)}

## Samples

${markdownTable(
  ['s', 'RSS MiB', 'heap used MiB', 'descriptors', 'in flight', 'requests so far', 'watches so far', 'failures'],
  samples.map((s) => [
    String(s.seconds),
    s.rssMb.toFixed(1),
    s.heapUsedMb.toFixed(1),
    String(s.fds),
    String(s.inFlight),
    s.requests.toLocaleString('en-US'),
    String(s.watchesOpened),
    String(s.failures),
  ]),
)}
`;
}

/** The commit the ambassador was built from, and whether the working tree differed from it. */
function sourceVersion(): string {
  const git = (args: readonly string[]): string => {
    const cwd = new URL('../', import.meta.url).pathname;
    // Partial: without git there is no stdout, though @types/node types it as a string.
    const run = spawnSync('git', args, { cwd, encoding: 'utf8' }) as Partial<SpawnSyncReturns<string>>;
    return run.stdout?.trim() ?? '';
  };
  const commit = git(['rev-parse', '--short', 'HEAD']) || 'an unknown commit';
  return git(['status', '--porcelain', '--', 'src']) === ''
    ? `commit ${commit}`
    : `commit ${commit} with uncommitted changes in src/`;
}

function describeRound(): string {
  const counts = new Map<RequestKind, number>();
  for (const kind of ROUND) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const names: Record<RequestKind, string> = {
    get: 'gets of a pod',
    list: 'lists of pods',
    update: 'configmap updates (PUT, stored and echoed)',
    create: 'pod create',
    delete: 'pod delete',
    denied: 'reads of secrets the policy denies (403)',
    invalid: 'malformed paths (400)',
    aborted: 'aborted request',
  };
  return [...counts.entries()].map(([kind, n]) => `${n} ${names[kind]}`).join(', ');
}

// ---------------------------------------------------------------------------------------------

async function soak(settings: Settings, workspace: Workspace, cluster: TestCluster, main: string): Promise<boolean> {
  const policyFile = join(workspace.dir, 'policy.yaml');
  await writeFile(policyFile, POLICY);
  const auditFile = join(workspace.dir, 'audit.log');
  const { running: ambassador, ready } = await startChild({
    name: 'kube-api-ambassador',
    command: process.execPath,
    args: [
      ...BUDGETED_NODE_FLAGS,
      main,
      ...cluster.ambassadorArgs,
      ...BUDGET_ARGS,
      ...EPHEMERAL_PORTS,
      '--policy',
      policyFile,
      '--audit-log-path',
      auditFile,
    ],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    readyPattern: /"proxy":"127\.0\.0\.1:(\d+","probes":"127\.0\.0\.1:\d+)"/,
  });
  workspace.defer(() => ambassador.stop());
  // Should this process die of an error, the ambassador must not outlive it.
  process.once('exit', () => ambassador.child.kill('SIGKILL'));
  const [proxyPort, probes] = ready.split('","probes":"127.0.0.1:');
  const port = Number(proxyPort);
  const adminUrl = `http://127.0.0.1:${probes ?? ''}`;

  const tally = new Tally();
  const held = new Map<string, () => void>();
  cluster.api.script((_, url) => url.startsWith('/api/v1/namespaces/default/pods/held-'), {
    respond: (req) => held.get(req.url ?? '')?.(),
  });
  cluster.api.putPod('default', 'web');

  const started = performance.now();
  const elapsedSeconds = (): number => (performance.now() - started) / 1000;
  const running = (): boolean => elapsedSeconds() < settings.durationSeconds;
  const load = [
    ...Array.from({ length: WORKERS }, (_, id) => worker(port, id, settings, running, tally, held)),
    ...Array.from({ length: WATCHERS }, (_, id) => watcher(port, id, running, tally)),
  ];
  const samples: Sample[] = [];
  for (let next = settings.sampleEverySeconds; next <= settings.durationSeconds; next += settings.sampleEverySeconds) {
    await sleep(Math.max(0, (next - elapsedSeconds()) * 1000));
    const sample = await takeSample(adminUrl, next, tally);
    samples.push(sample);
    // The test API server records every request; a soak would otherwise grow this process, not the ambassador.
    cluster.api.requests.length = 0;
    process.stdout.write(
      `${next} s: RSS ${sample.rssMb.toFixed(1)} MiB, heap ${sample.heapUsedMb.toFixed(1)} MiB, ${sample.fds} fds, ` +
        `${sample.requests} requests, ${sample.watchesOpened} watches, ${sample.failures} failures\n`,
    );
  }
  await Promise.all(load);
  const quiet = await quietSample(adminUrl, settings.durationSeconds, tally);

  const signalled = performance.now();
  ambassador.child.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((resolve) => {
    if (ambassador.child.exitCode !== null) resolve(ambassador.child.exitCode);
    else ambassador.child.once('exit', (code) => resolve(code));
  });
  const shutdownMs = performance.now() - signalled;

  const warmupSeconds = Math.max(settings.sampleEverySeconds, Math.round(settings.durationSeconds / 10));
  const verdict = trends(samples, warmupSeconds);
  const http2Connections = cluster.api.http2SessionsAccepted();
  const markdown = report(
    settings,
    samples,
    warmupSeconds,
    tally,
    { quiet, exitCode, shutdownMs, http2Connections },
    verdict,
  );
  await writeFile(RESULTS_FILE, markdown);
  process.stdout.write(`\n${markdown}\nWritten to ${RESULTS_FILE}\n`);
  return passed(verdict, tally, quiet, exitCode);
}

const settings = settingsFromArgs();
const soakPassed = await withWorkspace(async (workspace) => {
  const main = await buildAmbassador(workspace);
  const cluster = await startTestCluster();
  workspace.defer(() => cluster.close());
  return soak(settings, workspace, cluster, main);
});
process.exitCode = soakPassed ? 0 : 1;
