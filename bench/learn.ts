/**
 * Does `policy learn` (and `policy replay`) stream a large kube-apiserver audit log? Generates a
 * 1 GiB log (a service account's requests among other users', watches with ResponseStarted and
 * ResponseComplete events, every object named differently) in a temporary directory, runs the
 * real CLI on it, and reads each run's peak resident set (VmHWM of /proc/self/status, written by
 * the child at exit), next to a run on a log a thousandth the size. Deletes the log after.
 *
 *   npm run bench:learn [-- --megabytes 1024]
 *
 * Writes bench/results/learn.md.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../test/support/ambassador.ts';
import { apiServerLine, recordedAs, SERVICE_ACCOUNT, type EventSpec } from '../test/support/apiserver-audit.ts';

const MAIN = new URL('../src/main.ts', import.meta.url).pathname;
const PEAK_RSS = new URL('./support/peak-rss-on-exit.ts', import.meta.url).pathname;
const RESULTS_FILE = new URL('./results/learn.md', import.meta.url).pathname;
const MIB = 1024 * 1024;

/** One request of the generated log: its method and target, `i` making each object's name its own. */
type RequestTemplate = (i: number) => readonly [method: string, uri: string, spec?: Partial<EventSpec>];

const TEMPLATES: readonly RequestTemplate[] = [
  (i) => ['GET', `/api/v1/namespaces/team-a/pods/report-${i}`],
  () => ['GET', '/api/v1/namespaces/team-a/pods?limit=500'],
  (i) => ['GET', `/api/v1/namespaces/team-a/pods/report-${i}/log?container=main&tailLines=100`],
  (i) => ['POST', `/apis/batch/v1/namespaces/team-a/jobs?fieldManager=analytics-${i % 7}`],
  (i) => ['GET', `/apis/batch/v1/namespaces/team-a/jobs/report-${i}/status`],
  (i) => [
    'POST',
    `/api/v1/namespaces/team-a/pods/report-${i}/exec?command=cat&command=%2Ftmp%2Fresult.json&container=main&stdout=true`,
  ],
  () => ['GET', '/version'],
  (i) => ['GET', `/api/v1/namespaces/kube-system/secrets/token-${i}`, { decision: 'forbid' }],
  (i) => [
    'GET',
    `/api/v1/namespaces/kube-system/services?resourceVersion=${i}`,
    { user: 'system:serviceaccount:kube-system:coredns' },
  ],
  (i) => ['PATCH', `/apis/apps/v1/namespaces/team-${i % 50}/deployments/web-${i}`, { user: 'kubernetes-admin' }],
];
const WATCH = (i: number): string =>
  `/api/v1/namespaces/team-a/pods?allowWatchBookmarks=true&resourceVersion=${i}&watch=true`;

async function generateLog(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path);
  let written = 0;
  let events = 0;
  for (let i = 0; written < bytes; i++) {
    const lines = requestLines(i);
    const chunk = `${lines.join('\n')}\n`;
    written += Buffer.byteLength(chunk);
    events += lines.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return events;
}

function requestLines(i: number): string[] {
  const id = `7c2f4e1a-93b0-4d5e-a1c8-${i.toString(16).padStart(12, '0')}`;
  if (i % 11 === 10) {
    const watch = recordedAs('GET', WATCH(i));
    return [apiServerLine({ ...watch, id, stage: 'ResponseStarted' }), apiServerLine({ ...watch, id })];
  }
  const template = TEMPLATES[i % TEMPLATES.length];
  if (template === undefined) throw new Error('no template');
  const [method, uri, spec] = template(i);
  return [apiServerLine({ ...recordedAs(method, uri), id, ...spec })];
}

interface Run {
  readonly command: string;
  readonly exitCode: number | null;
  readonly seconds: number;
  readonly peakMib: number;
  readonly stdout: string;
}

async function runCli(args: readonly string[]): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, '--import', PEAK_RSS, MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [exitCode] = (await once(child, 'close')) as [number | null];
  const kb = /VmHWM (\d+) kB/.exec(stderr)?.[1];
  if (kb === undefined) throw new Error(`no VmHWM from the child: ${stderr}`);
  return {
    command: `kube-api-ambassador ${args.join(' ')}`,
    exitCode,
    seconds: (performance.now() - started) / 1000,
    peakMib: Number(kb) / 1024,
    stdout,
  };
}

async function measure(
  dir: string,
  name: string,
  bytes: number,
): Promise<{ sizeMib: number; events: number; learn: Run; replay: Run }> {
  const log = join(dir, name);
  const policy = join(dir, `${name}.policy.yaml`);
  try {
    const events = await generateLog(log, bytes);
    const { size } = await stat(log);
    const learn = await runCli(['policy', 'learn', '--user', SERVICE_ACCOUNT, log]);
    await writeFile(policy, learn.stdout);
    const replay = await runCli(['policy', 'replay', '--policy', policy, '--user', SERVICE_ACCOUNT, log]);
    return { sizeMib: size / MIB, events, learn, replay };
  } finally {
    await rm(log, { force: true });
    await rm(policy, { force: true });
  }
}

const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '1024' } } });
const megabytes = Number(values.megabytes);
const dir = await mkdtemp(join(tmpdir(), 'bench-learn-'));
try {
  const rows: string[] = [];
  for (const [name, bytes] of [
    ['small.log', (megabytes * MIB) / 1000],
    ['large.log', megabytes * MIB],
  ] as const) {
    const result = await measure(dir, name, bytes);
    for (const run of [result.learn, result.replay]) {
      const command = run.command.replaceAll(`${dir}/`, '');
      rows.push(
        `| ${result.sizeMib.toFixed(1)} MiB | ${result.events.toLocaleString('en')} | \`${command}\` | ${run.exitCode} | ${run.seconds.toFixed(1)} s | ${run.peakMib.toFixed(0)} MiB |`,
      );
      process.stdout.write(`${rows.at(-1)}\n`);
    }
  }
  const report = `# policy learn / policy replay on a large kube-apiserver audit log

\`npm run bench:learn -- --megabytes ${megabytes}\`: a generated audit.k8s.io/v1 log (every object named differently, watches
with two events, three other users), read by the real CLI (\`node ${NODE_FLAGS.join(' ')} src/main.ts\`). Peak RSS is the
child's VmHWM at exit (bench/support/peak-rss-on-exit.ts).

| log | events | command | exit | time | peak RSS |
|---|---|---|---|---|---|
${rows.join('\n')}
`;
  await writeFile(RESULTS_FILE, report);
} finally {
  await rm(dir, { recursive: true, force: true });
}
