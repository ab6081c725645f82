/**
 * Runs the machine's real Prometheus server (Debian's `prometheus` package) against test targets, and
 * its promtool to lint exposition text, so metrics tests check what a real scraper ingests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const JOB = 'kube-api-ambassador';
const POLL_MS = 50;
const READY_TIMEOUT_MS = 15_000;
const FIRST_SCRAPE_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 2_000;

export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface RunningPrometheus {
  /** http://127.0.0.1:PORT of Prometheus itself. */
  readonly url: string;
  /** Runs an instant PromQL query via /api/v1/query; throws with Prometheus' error text on a bad query. */
  query(promql: string): Promise<PromSample[]>;
  /**
   * Resolves once Prometheus has completed a scrape of every target that STARTED after `timeMs` (a
   * Date.now() taken after the test's traffic finished) and stored its samples; rejects with the
   * targets' state and lastError after `timeoutMs`.
   */
  scrapedAfter(timeMs: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface PrometheusProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  hasExited(): boolean;
  stderr(): string;
}

interface ActiveTarget {
  readonly labels: Readonly<Record<string, string>>;
  readonly health: string;
  readonly lastScrape: string;
  readonly lastError: string;
}

type ApiValue = readonly [number, string];

interface ApiResponse<T> {
  readonly status: 'success' | 'error';
  readonly data?: T;
  readonly errorType?: string;
  readonly error?: string;
}

interface QueryData {
  readonly resultType: 'vector' | 'scalar' | 'matrix' | 'string';
  readonly result: unknown;
}

/**
 * Starts Prometheus on 127.0.0.1 with a fresh data dir in a temp folder, scraping `host:port` targets
 * at /metrics, and resolves once it has scraped each target once (up or not). Prometheus 2.x hands
 * new targets to its scrapers only on a 5 s tick, so that takes ~5 s; the first scrape then is the
 * baseline that lets rate() and increase() count traffic sent right after start.
 */
export async function startPrometheus(targets: readonly string[], scrapeIntervalMs = 200): Promise<RunningPrometheus> {
  // Prometheus reads 0 as "unset" and would silently scrape every minute.
  if (!Number.isInteger(scrapeIntervalMs) || scrapeIntervalMs < 1)
    throw new RangeError(`scrapeIntervalMs must be a positive integer, got ${scrapeIntervalMs}`);
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-'));
  try {
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, scrapeConfig(targets, scrapeIntervalMs));
    const { proc, url } = await launchOnFreePort(configFile, join(dir, 'data'));
    try {
      await waitForTargets(proc, url, targets, FIRST_SCRAPE_TIMEOUT_MS, 'scrape every target once', hasBeenScraped);
    } catch (error) {
      await stopProcess(proc);
      throw error;
    }
    return runningPrometheus(proc, url, dir, targets);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Runs `promtool check metrics` on an exposition text; problems are printed one per line. */
export async function promtoolCheckMetrics(
  exposition: string,
): Promise<{ readonly ok: boolean; readonly code: number | null; readonly output: string }> {
  const child = spawn('promtool', ['check', 'metrics'], { env: minimalEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // promtool may exit before reading all of stdin (a parse error); that EPIPE is not our failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end(exposition);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  return { ok: code === 0, code, output: output.trim() };
}

/** JSON is YAML, so the config needs no YAML writer. */
function scrapeConfig(targets: readonly string[], scrapeIntervalMs: number): string {
  const interval = `${scrapeIntervalMs}ms`;
  return JSON.stringify({
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: '1m' },
    scrape_configs: [{ job_name: JOB, metrics_path: '/metrics', scheme: 'http', static_configs: [{ targets }] }],
  });
}

/**
 * Prometheus 2.42 does bind port 0, but reports the real port only in an info-level log line, and
 * its external URL then ends in :0; so pick a free port ourselves and retry once if it was taken.
 */
async function launchOnFreePort(
  configFile: string,
  dataDir: string,
): Promise<{ proc: PrometheusProcess; url: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = spawnPrometheus(configFile, dataDir, port);
    try {
      await waitReady(proc, url);
      return { proc, url };
    } catch (error) {
      await stopProcess(proc);
      if (attempt === 1 && proc.stderr().includes('address already in use')) continue;
      throw error;
    }
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function spawnPrometheus(configFile: string, dataDir: string, port: number): PrometheusProcess {
  const args = [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=http://127.0.0.1:${port}/`,
    '--log.level=warn',
  ];
  const child = spawn('prometheus', args, { env: minimalEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exited = false;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exitedPromise = new Promise<void>((resolve) => {
    const onEnd = (): void => {
      exited = true;
      resolve();
    };
    child.once('exit', onEnd);
    child.once('error', (error) => {
      stderr += `${error.message}\n`;
      onEnd();
    });
  });
  return { child, exited: exitedPromise, hasExited: () => exited, stderr: () => stderr };
}

async function waitReady(proc: PrometheusProcess, url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.hasExited())
      throw new Error(`prometheus exited during startup (code ${proc.child.exitCode}): ${proc.stderr()}`);
    // Whatever else holds a taken port may accept and never answer: stop asking once Prometheus is gone.
    if (await Promise.race([isReady(url), proc.exited.then(() => false)])) return;
    await sleep(POLL_MS);
  }
  throw new Error(`prometheus at ${url} was not ready within ${READY_TIMEOUT_MS}ms: ${proc.stderr()}`);
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

async function stopProcess(proc: PrometheusProcess): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timedOut = await Promise.race([proc.exited.then(() => false), sleep(STOP_TIMEOUT_MS, true)]);
  if (timedOut) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

function runningPrometheus(
  proc: PrometheusProcess,
  url: string,
  dir: string,
  targets: readonly string[],
): RunningPrometheus {
  // Should the test process die without stop(), do not leave a Prometheus scraping behind.
  const killOnExit = (): void => void proc.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stopped: Promise<void> | undefined;
  const query = (promql: string): Promise<PromSample[]> => instantQuery(url, promql);
  return {
    url,
    query,
    scrapedAfter(timeMs, timeoutMs = 10_000) {
      const goal = `scrape every target successfully after ${new Date(timeMs).toISOString()}`;
      return waitForTargets(proc, url, targets, timeoutMs, goal, scrapedAfter(timeMs));
    },
    stop() {
      stopped ??= (async () => {
        process.removeListener('exit', killOnExit);
        await stopProcess(proc);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

async function instantQuery(url: string, promql: string): Promise<PromSample[]> {
  const data = await apiCall<QueryData>(url, '/api/v1/query', new URLSearchParams({ query: promql }));
  switch (data.resultType) {
    case 'vector':
      return (data.result as { metric: Record<string, string>; value: ApiValue }[]).map((sample) => ({
        metric: sample.metric,
        value: parseSampleValue(sample.value[1]),
      }));
    case 'scalar':
      return [{ metric: {}, value: parseSampleValue((data.result as ApiValue)[1]) }];
    default:
      throw new Error(
        `${promql} returned a ${data.resultType}; query() takes expressions that yield an instant vector or a scalar`,
      );
  }
}

/** Prometheus writes special floats the Go way, which Number() does not read ("+Inf" is NaN to it). */
function parseSampleValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

async function apiCall<T>(url: string, path: string, form?: URLSearchParams): Promise<T> {
  const init: RequestInit = { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (form !== undefined) Object.assign(init, { method: 'POST', body: form });
  const response = await fetch(`${url}${path}`, init);
  const text = await response.text();
  let body: ApiResponse<T>;
  try {
    body = JSON.parse(text) as ApiResponse<T>;
  } catch {
    throw new Error(`${path}: HTTP ${response.status}: ${text}`);
  }
  if (body.status !== 'success' || body.data === undefined) {
    const query = form?.get('query');
    throw new Error(
      `${path}${query == null ? '' : ` (${query})`}: ${body.errorType ?? `HTTP ${response.status}`}: ${body.error ?? text}`,
    );
  }
  return body.data;
}

type TargetCheck = (target: string, active: readonly ActiveTarget[], stored: ReadonlyMap<string, number>) => boolean;

async function waitForTargets(
  proc: PrometheusProcess,
  url: string,
  targets: readonly string[],
  timeoutMs: number,
  goal: string,
  isDone: TargetCheck,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let active: readonly ActiveTarget[] = [];
  for (;;) {
    if (proc.hasExited()) throw new Error(`prometheus exited (code ${proc.child.exitCode}): ${proc.stderr()}`);
    let stored = new Map<string, number>();
    try {
      [active, stored] = await Promise.all([activeTargets(url), upTimestamps(url)]);
    } catch {
      // Transient (a request timing out under load); the deadline below bounds the retries.
    }
    if (targets.every((target) => isDone(target, active, stored))) return;
    if (Date.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  const states = targets.map((target) => describeTarget(target, active)).join('; ');
  throw new Error(`prometheus did not ${goal} within ${timeoutMs}ms: ${states}`);
}

async function activeTargets(url: string): Promise<readonly ActiveTarget[]> {
  const data = await apiCall<{ activeTargets: ActiveTarget[] }>(url, '/api/v1/targets?state=active');
  return data.activeTargets.filter((target) => target.labels['job'] === JOB);
}

/** instance -> millisecond timestamp of its latest stored `up == 1` sample. */
async function upTimestamps(url: string): Promise<Map<string, number>> {
  const samples = await instantQuery(url, `timestamp(up{job="${JOB}"} == 1)`);
  return new Map(samples.map((sample) => [sample.metric['instance'] ?? '', Math.round(sample.value * 1000)]));
}

function hasBeenScraped(target: string, active: readonly ActiveTarget[]): boolean {
  const state = findTarget(target, active);
  return state !== undefined && state.health !== 'unknown';
}

/**
 * The targets API updates lastScrape before the scrape's samples are committed, so a target only
 * counts once its `up` sample from that scrape is queryable too. Both carry the scrape's timestamp,
 * which Prometheus may round down (by at most 1% of the interval, to align ticks) but never up: a
 * timestamp after `timeMs` is a scrape that started after `timeMs`.
 */
function scrapedAfter(timeMs: number): TargetCheck {
  return (target, active, stored) => {
    const state = findTarget(target, active);
    if (state?.health !== 'up') return false;
    return Date.parse(state.lastScrape) > timeMs && (stored.get(target) ?? 0) > timeMs;
  };
}

function findTarget(target: string, active: readonly ActiveTarget[]): ActiveTarget | undefined {
  return active.find((candidate) => candidate.labels['instance'] === target);
}

function describeTarget(target: string, active: readonly ActiveTarget[]): string {
  const state = findTarget(target, active);
  if (state === undefined) return `${target}: not among the active targets yet`;
  const error = state.lastError === '' ? '' : `, lastError ${state.lastError}`;
  return `${target}: health ${state.health}, lastScrape ${state.lastScrape}${error}`;
}

function minimalEnv(): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
}
