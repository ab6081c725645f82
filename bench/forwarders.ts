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
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPki } from '../test/support/pki.ts';
import { benchDocuments, type ApiDocument } from './support/api-documents.ts';
import { directContender, startAmbassador, startHttpProxy3, type Contender, type UpstreamAccess } from './support/contenders.ts';
import { get } from './support/http.ts';
import { NGINX_BINARY, startNginx, type NginxUpstream } from './support/nginx.ts';
import { cpuSeconds, stopAll, type RunningChild } from './support/processes.ts';
import { formatSpread, markdownTable, round, spread } from './support/stats.ts';
import { runWrk, WRK_BINARY, type WrkResult } from './support/wrk.ts';

const TOKEN = 'bench-token';
const THREADS = 2;
const RESULTS_FILE = new URL('./results/forwarders.md', import.meta.url).pathname;
const COMMAND = 'npm run bench:forwarders';

interface Settings {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly repeats: number;
  readonly connections: readonly number[];
}

interface Cell {
  readonly document: ApiDocument;
  readonly connections: number;
  readonly contender: string;
  readonly result: WrkResult;
  /** CPU ms the forwarder used per 10,000 requests; NaN for the direct path. */
  readonly cpuMsPer10k: number;
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      repeats: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16,64' },
    },
  });
  const settings = {
    durationSeconds: Number(values.duration),
    warmupSeconds: Number(values.warmup),
    repeats: Number(values.repeats),
    connections: values.connections.split(',').map(Number),
  };
  const counts = [settings.durationSeconds, settings.warmupSeconds, settings.repeats, ...settings.connections];
  if (!counts.every((n) => Number.isInteger(n) && n > 0 && n <= 600)) throw new Error('options must be whole numbers from 1 to 600');
  return settings;
}

function requireTools(): void {
  if (!existsSync(NGINX_BINARY)) throw new Error(`${NGINX_BINARY} is missing: apt-get install -y nginx`);
  if (spawnSync(WRK_BINARY, ['-v'], { stdio: 'ignore' }).error !== undefined) throw new Error('wrk is missing: apt-get install -y wrk');
}

/** Every contender must return each document intact before it is timed. */
async function checkContenders(contenders: readonly Contender[], documents: readonly ApiDocument[], caPem: string): Promise<void> {
  for (const contender of contenders) {
    for (const document of documents) {
      const { status, body } = await get(contender.baseUrl + document.path, { headers: { ...contender.headers }, ca: caPem });
      if (status !== 200 || body.toString('utf8') !== document.body) {
        throw new Error(`${contender.name} ${document.path}: status ${status}, ${body.length} bytes instead of 200 and ${document.body.length}`);
      }
    }
  }
}

/** A → B → C, then B → C → A, …: each contender takes each place in the order equally often. */
function rotated<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function measureCell(contender: Contender, document: ApiDocument, connections: number, settings: Settings): Promise<Cell> {
  const load = { url: contender.baseUrl + document.path, threads: THREADS, connections, headers: contender.headers };
  await runWrk({ ...load, durationSeconds: settings.warmupSeconds });
  const pid = contender.running?.pid;
  const cpuBefore = pid === undefined ? 0 : cpuSeconds(pid);
  const result = await runWrk({ ...load, durationSeconds: settings.durationSeconds });
  const cpuMsPer10k = pid === undefined ? Number.NaN : ((cpuSeconds(pid) - cpuBefore) * 1000 * 10_000) / result.requests;
  return { document, connections, contender: contender.name, result, cpuMsPer10k };
}

async function measureAll(contenders: readonly Contender[], documents: readonly ApiDocument[], settings: Settings): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const document of documents) {
    for (const connections of settings.connections) {
      for (let repeat = 0; repeat < settings.repeats; repeat++) {
        for (const contender of rotated(contenders, repeat)) {
          const cell = await measureCell(contender, document, connections, settings);
          cells.push(cell);
          process.stderr.write(
            `${document.label} c${connections} #${repeat + 1} ${contender.name}: ${round(cell.result.requestsPerSecond)} req/s, ` +
              `${round(cell.cpuMsPer10k)} CPU ms/10k, p99 ${round(cell.result.latencyMs.p99)} ms\n`,
          );
        }
      }
    }
  }
  return cells;
}

function summaryRows(cells: readonly Cell[], contenders: readonly Contender[], documents: readonly ApiDocument[], settings: Settings): string[][] {
  const rows: string[][] = [];
  for (const document of documents) {
    for (const connections of settings.connections) {
      const runsOf = (name: string): Cell[] => cells.filter((c) => c.document === document && c.connections === connections && c.contender === name);
      const direct = spread(runsOf('direct').map((c) => c.result.requestsPerSecond)).median;
      for (const contender of contenders) {
        const runs = runsOf(contender.name);
        const throughput = spread(runs.map((c) => c.result.requestsPerSecond));
        rows.push([
          `${document.label} (${formatBytes(document.body.length)})`,
          String(connections),
          contender.name === 'ours' ? '**ours**' : contender.name,
          formatSpread(throughput),
          contender.name === 'direct' ? '1' : round(throughput.median / direct, 2),
          contender.running === undefined ? '–' : formatSpread(spread(runs.map((c) => c.cpuMsPer10k))),
          round(spread(runs.map((c) => c.result.latencyMs.p50)).median),
          round(spread(runs.map((c) => c.result.latencyMs.p99)).median),
        ]);
      }
    }
  }
  return rows;
}

/** ours ÷ http-proxy-3, per workload and connection count: above 1 is better for throughput, below 1 for CPU. */
function headToHeadRows(cells: readonly Cell[], documents: readonly ApiDocument[], settings: Settings): string[][] {
  const rows: string[][] = [];
  for (const document of documents) {
    for (const connections of settings.connections) {
      const median = (name: string, pick: (c: Cell) => number): number =>
        spread(cells.filter((c) => c.document === document && c.connections === connections && c.contender === name).map(pick)).median;
      const rps = (c: Cell): number => c.result.requestsPerSecond;
      const cpu = (c: Cell): number => c.cpuMsPer10k;
      const p99 = (c: Cell): number => c.result.latencyMs.p99;
      rows.push([
        document.label,
        String(connections),
        `${round(median('ours', rps) / median('http-proxy-3', rps), 3)}×`,
        `${round(median('ours', cpu) / median('http-proxy-3', cpu), 3)}×`,
        `${round(median('ours', p99) / median('http-proxy-3', p99), 3)}×`,
      ]);
    }
  }
  return rows;
}

function problems(cells: readonly Cell[]): string[] {
  return cells.flatMap((c) => {
    const { non2xx3xx, socketErrors: e } = c.result;
    const errors = e.connect + e.read + e.write + e.timeout;
    if (non2xx3xx === 0 && errors === 0) return [];
    return [`${c.document.label} c${c.connections} ${c.contender}: ${non2xx3xx} non-2xx, socket errors ${JSON.stringify(e)}`];
  });
}

function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${round(bytes / 1024, 2)} KB`;
}

/** nginx -v and wrk -v print their version on stderr; wrk then exits 1. */
function toolVersion(command: string, args: readonly string[], pattern: RegExp): string {
  const { stdout, stderr } = spawnSync(command, args, { encoding: 'utf8', timeout: 5_000 });
  return pattern.exec(`${stdout ?? ''}${stderr ?? ''}`)?.[1] ?? 'unknown';
}

function versions(): string {
  const ours = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const httpProxy3 = JSON.parse(readFileSync(new URL('../node_modules/http-proxy-3/package.json', import.meta.url), 'utf8')) as { version: string };
  const nginx = toolVersion(NGINX_BINARY, ['-v'], /nginx\/(\S+)/);
  const wrk = toolVersion(WRK_BINARY, ['-v'], /wrk (\S+)/);
  return `Node ${process.version}; kube-api-ambassador ${ours.version}; http-proxy-3 ${httpProxy3.version}; nginx ${nginx}; wrk ${wrk}`;
}

function report(cells: readonly Cell[], contenders: readonly Contender[], documents: readonly ApiDocument[], settings: Settings, loadBefore: string): string {
  const flagged = problems(cells);
  return `# Forwarders: node:https (ours) vs http-proxy-3

Run on ${new Date().toISOString()} with \`${COMMAND}${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.

${versions()}. ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}; load average before the run ${loadBefore}.

Upstream: nginx (1 worker) on 127.0.0.1 over HTTPS with a bearer-token check and keep-alive, serving canned JSON.
Load: wrk \`-t${THREADS}\` over keep-alive connections, ${settings.warmupSeconds} s warm-up then ${settings.durationSeconds} s per cell,
${settings.repeats} run(s) per cell with the contenders interleaved; median (min–max). wrk, the forwarder and nginx share the
machine's cores, so *CPU ms / 10k* (user + system time of the forwarder process per 10,000 requests, from /proc/PID/stat)
is the fairer comparison when the machine is saturated. *× direct* is the median throughput over that of wrk straight to nginx.

- **direct**: wrk to nginx over HTTPS, sending the token itself (the limit).
- **ours**: the real CLI, \`node src/main.ts --server … --certificate-authority … --token-file …\`, defaults otherwise
  (request filter on, header allow-list, log level info, which logs nothing per request).
- **http-proxy-3**: \`createProxyServer({ target, agent: new https.Agent({ keepAlive: true, ca }), headers: { authorization },
  changeOrigin: true, secure: true })\` on \`http.createServer\` (bench/support/http-proxy-3-forwarder.ts). It does none of
  the ambassador's checks: no Host/path/method filter, no header allow-list, client headers passed through.

${markdownTable(['Workload', 'Conns', 'Forwarder', 'Requests/s', '× direct', 'Forwarder CPU ms / 10k req', 'p50 ms', 'p99 ms'], summaryRows(cells, contenders, documents, settings))}

Ours ÷ http-proxy-3 (medians; throughput above 1× and CPU or p99 below 1× favour ours):

${markdownTable(['Workload', 'Conns', 'Requests/s', 'CPU per request', 'p99'], headToHeadRows(cells, documents, settings))}

${flagged.length === 0 ? 'Every response was 2xx and no socket errors were reported.' : `Errors reported by wrk:\n\n${flagged.map((p) => `- ${p}`).join('\n')}`}
`;
}

async function main(): Promise<void> {
  const settings = readSettings();
  requireTools();
  const loadBefore = loadavg().map((n) => n.toFixed(2)).join(', ');
  const workdir = await mkdtemp(join(tmpdir(), 'bench-forwarders-'));
  const children: RunningChild[] = [];
  let nginx: NginxUpstream | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      await stopAll(children);
      await nginx?.stop();
      await rm(workdir, { recursive: true, force: true });
    })());
  const interrupt = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const pki = await createPki(workdir);
    const tokenFile = join(workdir, 'token');
    await writeFile(tokenFile, TOKEN);
    const documents = benchDocuments();
    nginx = await startNginx({ certFile: pki.certFile, keyFile: pki.keyFile, caPem: pki.caPem, token: TOKEN, documents });
    const upstream: UpstreamAccess = { origin: nginx.origin, caFile: pki.caFile, token: TOKEN, tokenFile };
    const ours = await startAmbassador(upstream, workdir);
    if (ours.running) children.push(ours.running);
    const httpProxy3 = await startHttpProxy3(upstream);
    if (httpProxy3.running) children.push(httpProxy3.running);
    const contenders = [directContender(upstream), ours, httpProxy3];

    await checkContenders(contenders, documents, pki.caPem);
    const cells = await measureAll(contenders, documents, settings);
    const markdown = report(cells, contenders, documents, settings, loadBefore);
    await mkdir(dirname(RESULTS_FILE), { recursive: true });
    await writeFile(RESULTS_FILE, markdown);
    process.stdout.write(`${markdown}\nWritten to ${RESULTS_FILE}\n`);
  } finally {
    await cleanup();
  }
}

await main();
