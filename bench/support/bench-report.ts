/**
 * The report of `npm run bench`: direct, kubectl proxy and ours side by side (requests, the large
 * list, watches, start-up and idle), ours over kubectl proxy as ratios, and issue 7's targets with
 * what was measured against each.
 */
import { cpus } from 'node:os';
import type { ApiDocument } from './api-documents.ts';
import { DIRECT, KUBECTL_PROXY, OURS } from './contenders.ts';
import { successfulPerSecond, THREADS, type Cell, type Settings } from './measure.ts';
import { formatBytes, problems, versions } from './report.ts';
import { IDLE_SETTLE_SECONDS, LARGE_DOCUMENT_SECONDS, type StartupRun } from './startup.ts';
import { formatSpread, markdownTable, round, spread } from './stats.ts';
import type { WatchRun, WatchSettings } from './watches.ts';
import { BUDGET_ARGS, BUDGETED_NODE_FLAGS } from '../../test/support/ambassador.ts';

export interface BenchResults {
  /** The command line that produced the results. */
  readonly command: string;
  readonly settings: Settings;
  readonly watchSettings: WatchSettings;
  readonly loadAtStart: string;
  readonly loadAtEnd: string;
  /** The kubectl binary that served, and its version. */
  readonly kubectlProgram: string;
  readonly documents: readonly ApiDocument[];
  /** The document whose streaming cost and memory are reported on their own (the 5 MB list). */
  readonly largeList: ApiDocument;
  /** Empty for a part that was not run. */
  readonly cells: readonly Cell[];
  readonly startups: readonly StartupRun[];
  readonly watches: readonly WatchRun[];
}

const CONTENDERS = [DIRECT, KUBECTL_PROXY, OURS] as const;
const FORWARDERS = [KUBECTL_PROXY, OURS] as const;
/** Connection counts the throughput and CPU targets are judged at. */
const TARGET_CONNECTIONS = [16, 64];
const MIB = 1024 * 1024;

function median(values: readonly number[]): number {
  return spread(values).median;
}

function geometricMean(values: readonly number[]): number {
  return Math.exp(values.reduce((sum, value) => sum + Math.log(value), 0) / values.length);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function ratio(value: number, digits = 2): string {
  return Number.isFinite(value) ? `${round(value, digits)}×` : '–';
}

function signed(value: number): string {
  return Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${round(value)}` : '–';
}

function spreadOf(values: readonly number[], digits = 3): string {
  return formatSpread(spread(values), digits);
}

class Requests {
  readonly #cells: readonly Cell[];
  constructor(cells: readonly Cell[]) {
    this.#cells = cells;
  }

  runs(document: ApiDocument, connections: number, contender: string): Cell[] {
    return this.#cells.filter(
      (c) => c.document === document && c.connections === connections && c.contender === contender,
    );
  }

  median(document: ApiDocument, connections: number, contender: string, pick: (cell: Cell) => number): number {
    return median(this.runs(document, connections, contender).map(pick));
  }

  throughput(document: ApiDocument, connections: number, contender: string): number {
    return this.median(document, connections, contender, (c) => successfulPerSecond(c.result));
  }

  /** Ours ÷ kubectl proxy of a median: above 1 favours ours for throughput, below 1 for costs. */
  oursOverKubectl(document: ApiDocument, connections: number, pick: (cell: Cell) => number): number {
    return this.median(document, connections, OURS, pick) / this.median(document, connections, KUBECTL_PROXY, pick);
  }

  /**
   * The contender's median latency percentile minus direct's lowest: load from outside the run
   * only ever adds to direct's latency, and a disturbed direct run would make the added latency
   * look smaller than it is.
   */
  addedLatency(document: ApiDocument, connections: number, contender: string, percentile: 'p50' | 'p99'): number {
    const direct = Math.min(...this.runs(document, connections, DIRECT).map((c) => c.result.latencyMs[percentile]));
    return this.median(document, connections, contender, (c) => c.result.latencyMs[percentile]) - direct;
  }
}

function isFlagged(cell: Cell): boolean {
  const { non2xx3xx, socketErrors: e } = cell.result;
  return non2xx3xx > 0 || e.connect + e.read + e.write + e.timeout > 0;
}

/** Direct's median latency percentile, and its lowest in brackets. */
function directLatency(runs: readonly Cell[], percentile: 'p50' | 'p99'): string {
  const latencies = spread(runs.map((c) => c.result.latencyMs[percentile]));
  return `${round(latencies.median)} (${round(latencies.min)})`;
}

function cpuMsPerMib(cell: Cell): number {
  return cell.cpuMsPer10k / 10_000 / (cell.document.body.length / MIB);
}

function requestRows(results: BenchResults, requests: Requests): string[][] {
  const rows: string[][] = [];
  for (const document of results.documents) {
    for (const connections of results.settings.connections) {
      for (const contender of CONTENDERS) {
        const runs = requests.runs(document, connections, contender);
        const throughput = requests.throughput(document, connections, contender);
        const forwarder = contender !== DIRECT;
        rows.push([
          `${document.label} (${formatBytes(document.body.length)})`,
          String(connections),
          contender === OURS ? `**${contender}**` : contender,
          `${spreadOf(runs.map((c) => successfulPerSecond(c.result)))}${runs.some(isFlagged) ? ' ⚠' : ''}`,
          contender === KUBECTL_PROXY
            ? '1×'
            : ratio(throughput / requests.throughput(document, connections, KUBECTL_PROXY)),
          contender === DIRECT ? '1×' : ratio(throughput / requests.throughput(document, connections, DIRECT)),
          forwarder ? spreadOf(runs.map((c) => c.cpuMsPer10k / 1000)) : '–',
          forwarder
            ? signed(requests.addedLatency(document, connections, contender, 'p50'))
            : directLatency(runs, 'p50'),
          forwarder
            ? signed(requests.addedLatency(document, connections, contender, 'p99'))
            : directLatency(runs, 'p99'),
          forwarder ? peakSplit(runs) : '–',
        ]);
      }
    }
  }
  return rows;
}

/** The highest peak RSS of the runs, with the highest peaks of its anonymous and file-backed parts. */
function peakSplit(runs: readonly Cell[]): string {
  const highest = (pick: (cell: Cell) => number): string => round(Math.max(...runs.map(pick)));
  return `${highest((c) => c.rssPeakMb)} (${highest((c) => c.anonPeakMb)} / ${highest((c) => c.filePeakMb)})`;
}

function headToHeadRows(results: BenchResults, requests: Requests): string[][] {
  const rows = results.documents.flatMap((document) =>
    results.settings.connections.map((connections) => [
      document.label,
      String(connections),
      ratio(
        requests.oursOverKubectl(document, connections, (c) => successfulPerSecond(c.result)),
        3,
      ),
      ratio(
        requests.oursOverKubectl(document, connections, (c) => c.cpuMsPer10k),
        3,
      ),
      ratio(
        requests.oursOverKubectl(document, connections, (c) => c.result.latencyMs.p99),
        3,
      ),
    ]),
  );
  const targetCells = targetConnections(results);
  if (targetCells.length > 0) {
    const mean = (pick: (cell: Cell) => number): string =>
      ratio(
        geometricMean(results.documents.flatMap((d) => targetCells.map((n) => requests.oursOverKubectl(d, n, pick)))),
        3,
      );
    rows.push([
      `**geometric mean, all workloads**`,
      targetCells.join(', '),
      mean((c) => successfulPerSecond(c.result)),
      mean((c) => c.cpuMsPer10k),
      mean((c) => c.result.latencyMs.p99),
    ]);
  }
  return rows;
}

function targetConnections(results: BenchResults): number[] {
  return TARGET_CONNECTIONS.filter((n) => results.settings.connections.includes(n));
}

function largeListRows(results: BenchResults, requests: Requests): string[][] {
  return FORWARDERS.flatMap((contender) =>
    results.settings.connections.map((connections) => {
      const runs = requests.runs(results.largeList, connections, contender);
      return [
        contender === OURS ? `**${contender}**` : contender,
        String(connections),
        spreadOf(runs.map(cpuMsPerMib)),
        round(median(runs.map((c) => c.rssBeforeMb))),
        round(median(runs.map((c) => c.rssPeakMb))),
        round(median(runs.map((c) => c.anonPeakMb))),
        spreadOf(runs.map((c) => c.rssPeakMb - c.rssBeforeMb)),
      ];
    }),
  );
}

function watchRows(results: BenchResults): string[][] {
  const directP99 = median(watchRunsOf(results, DIRECT).map((r) => r.measured.p99Ms));
  return CONTENDERS.map((contender) => {
    const runs = watchRunsOf(results, contender);
    const forwarder = contender !== DIRECT;
    return [
      contender === OURS ? `**${contender}**` : contender,
      `${round(Math.min(...runs.map((r) => r.measured.delivering)), 6)} / ${round(results.watchSettings.watches, 6)}`,
      spreadOf(runs.map((r) => r.open.openMs / 1000)),
      spreadOf(runs.map((r) => r.measured.p50Ms)),
      spreadOf(runs.map((r) => r.measured.p99Ms)),
      forwarder ? signed(median(runs.map((r) => r.measured.p99Ms)) - directP99) : '–',
      forwarder ? spreadOf(runs.map((r) => r.idleRssMb)) : '–',
      forwarder ? spreadOf(runs.map((r) => r.watchingRssMb)) : '–',
      forwarder ? spreadOf(runs.map((r) => r.watchingRssMb - r.idleRssMb)) : '–',
      forwarder
        ? `${round(median(runs.map((r) => r.watchingAnonMb)))} / ${round(median(runs.map((r) => r.watchingFileMb)))}`
        : '–',
      forwarder ? spreadOf(runs.map((r) => r.cpuMsPer1000Events)) : '–',
      spreadOf(runs.map((r) => r.upstreamConnections)),
    ];
  });
}

function watchRunsOf(results: BenchResults, contender: string): WatchRun[] {
  return results.watches.filter((r) => r.contender === contender);
}

function startupRows(results: BenchResults): string[][] {
  return FORWARDERS.map((contender) => {
    const runs = results.startups.filter((r) => r.contender === contender);
    return [
      contender === OURS ? `**${contender}**` : contender,
      spreadOf(runs.map((r) => r.listeningMs)),
      spreadOf(runs.map((r) => r.readyMs)),
      spreadOf(runs.map((r) => r.idleRssMb)),
      `${round(median(runs.map((r) => r.idleAnonMb)))} / ${round(median(runs.map((r) => r.idleFileMb)))}`,
      `${spreadOf(runs.map((r) => r.largeDocumentPeakRssMb - r.idleRssMb))}${runs.some((r) => r.largeDocumentErrors > 0) ? ' ⚠' : ''}`,
    ];
  });
}

interface Target {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

function verdict(met: boolean): string {
  return met ? 'met' : '**missed**';
}

function requestTargets(results: BenchResults, requests: Requests): Target[] {
  const connections = targetConnections(results);
  if (results.cells.length === 0 || connections.length === 0) return [];
  const throughputs = results.documents.flatMap((document) =>
    connections.map((n) => ({
      where: `${document.label} c${n}`,
      value: requests.oursOverKubectl(document, n, (c) => successfulPerSecond(c.result)),
    })),
  );
  const lowest = throughputs.reduce((low, t) => (t.value < low.value ? t : low));
  const highest = throughputs.reduce((high, t) => (t.value > high.value ? t : high));
  const cpu = geometricMean(
    results.documents.flatMap((d) => connections.map((n) => requests.oursOverKubectl(d, n, (c) => c.cpuMsPer10k))),
  );
  const targets: Target[] = [
    {
      target: `throughput ≥ 1.0× kubectl proxy's at ${connections.join(' and ')} connections, every workload`,
      measured: `${ratio(lowest.value)} (${lowest.where}) to ${ratio(highest.value)} (${highest.where})`,
      met: lowest.value >= 1,
    },
    {
      target: `CPU per request ≤ kubectl proxy's, averaged over the workloads (geometric mean at ${connections.join(' and ')} connections)`,
      measured: ratio(cpu),
      met: cpu <= 1,
    },
  ];
  const small = results.documents[0];
  if (small !== undefined && results.settings.connections.includes(16)) {
    const added = requests.addedLatency(small, 16, OURS, 'p99');
    const kubectl = requests.addedLatency(small, 16, KUBECTL_PROXY, 'p99');
    targets.push({
      target: `added p99 latency over direct ≤ 2 ms, small GET (${small.path}) at 16 connections`,
      measured: `${signed(added)} ms (kubectl proxy ${signed(kubectl)} ms)`,
      met: added <= 2,
    });
  }
  return targets;
}

/**
 * Judged on the growth from idle in a fresh process (start-up part), the stricter figure; the
 * growth within the request cells, from an already warm process, is given beside it.
 */
function largeListTarget(results: BenchResults, requests: Requests): Target[] {
  const fromIdle = (contender: string): number =>
    median(
      results.startups.filter((r) => r.contender === contender).map((r) => r.largeDocumentPeakRssMb - r.idleRssMb),
    );
  const warm = (n: number): number =>
    Math.max(...requests.runs(results.largeList, n, OURS).map((c) => c.rssPeakMb - c.rssBeforeMb));
  const measured: string[] = [];
  if (results.startups.length > 0) {
    measured.push(
      `from idle, one connection: ${round(fromIdle(OURS))} MiB (kubectl proxy ${round(fromIdle(KUBECTL_PROXY))} MiB)`,
    );
  }
  if (results.cells.length > 0) {
    measured.push(
      `in the request cells, warm, largest run: ${results.settings.connections.map((n) => `c${n} ${round(warm(n))} MiB`).join(', ')}`,
    );
  }
  if (measured.length === 0) return [];
  const judged = results.startups.length > 0 ? fromIdle(OURS) : warm(results.settings.connections[0] ?? 1);
  return [
    {
      target: `a ${formatBytes(results.largeList.body.length)} list streams with RSS growth < 10 MB`,
      measured: measured.join('; '),
      met: judged < 10,
    },
  ];
}

function watchTargets(results: BenchResults): Target[] {
  const ours = watchRunsOf(results, OURS);
  const kubectl = watchRunsOf(results, KUBECTL_PROXY);
  if (ours.length === 0) return [];
  const watches = round(results.watchSettings.watches, 6);
  const delivering = Math.min(...ours.map((r) => r.measured.delivering));
  const rss = median(ours.map((r) => r.watchingRssMb));
  const kubectlRss = median(kubectl.map((r) => r.watchingRssMb));
  const p99 = median(ours.map((r) => r.measured.p99Ms));
  const connections = median(ours.map((r) => r.upstreamConnections));
  return [
    {
      target: `${watches} concurrent watches all open and delivering`,
      measured: `${round(delivering, 6)} of ${watches} (fewest of the runs)`,
      met: delivering === results.watchSettings.watches,
    },
    {
      target: `RSS with ${watches} watches ≤ kubectl proxy's`,
      measured: `${round(rss)} MiB vs ${round(kubectlRss)} MiB: ${ratio(rss / kubectlRss)}`,
      met: rss <= kubectlRss,
    },
    {
      target: 'watch event delay p99 < 5 ms',
      measured: `${round(p99)} ms (kubectl proxy ${round(median(kubectl.map((r) => r.measured.p99Ms)))} ms, direct ${round(median(watchRunsOf(results, DIRECT).map((r) => r.measured.p99Ms)))} ms)`,
      met: p99 < 5,
    },
    {
      target: 'few connections to the API server',
      measured: `${round(connections)} (kubectl proxy ${round(median(kubectl.map((r) => r.upstreamConnections)))})`,
      met: connections <= 10,
    },
  ];
}

function startupTargets(results: BenchResults): Target[] {
  const ours = results.startups.filter((r) => r.contender === OURS);
  if (ours.length === 0) return [];
  const idle = median(ours.map((r) => r.idleRssMb));
  const ready = median(ours.map((r) => r.readyMs));
  return [
    { target: 'idle RSS < 60 MB', measured: `${round(idle)} MiB`, met: idle < 60 },
    { target: 'start to ready < 500 ms', measured: `${round(ready)} ms`, met: ready < 500 },
  ];
}

/** The medians of ours and of kubectl proxy in each cell run, for per-cell targets. */
function cellMedians(
  results: BenchResults,
  requests: Requests,
  pick: (cell: Cell) => number,
): { where: string; ours: number; kubectl: number }[] {
  return results.documents.flatMap((document) =>
    results.settings.connections.map((n) => ({
      where: `${document.label} c${n}`,
      ours: requests.median(document, n, OURS, pick),
      kubectl: requests.median(document, n, KUBECTL_PROXY, pick),
    })),
  );
}

function highestBy<T>(items: readonly T[], value: (item: T) => number): T | undefined {
  return items.reduce<T | undefined>(
    (high, item) => (high === undefined || value(item) > value(high) ? item : high),
    undefined,
  );
}

/** The footprint issue's targets: memory and CPU at or below kubectl proxy's, in every cell. */
function footprintTargets(results: BenchResults, requests: Requests): Target[] {
  const targets: Target[] = [];
  if (results.cells.length > 0) {
    const peaks = cellMedians(results, requests, (c) => c.rssPeakMb);
    const highest = highestBy(peaks, (p) => p.ours);
    const worstRatio = highestBy(peaks, (p) => p.ours / p.kubectl);
    const anon = cellMedians(results, requests, (c) => c.anonPeakMb);
    const worstAnon = highestBy(anon, (p) => p.ours / p.kubectl);
    const everyCell = results.documents.flatMap((d) => results.settings.connections.map((n) => ({ d, n })));
    const cpu = geometricMean(everyCell.map(({ d, n }) => requests.oursOverKubectl(d, n, (c) => c.cpuMsPer10k)));
    const throughput = geometricMean(
      everyCell.map(({ d, n }) => requests.oursOverKubectl(d, n, (c) => successfulPerSecond(c.result))),
    );
    if (highest !== undefined && worstRatio !== undefined && worstAnon !== undefined) {
      targets.push(
        {
          target: 'peak RSS ≤ 96 MiB in every cell',
          measured: `highest ${round(highest.ours)} MiB (${highest.where})`,
          met: highest.ours <= 96,
        },
        {
          target: "peak RSS ≤ 1.25× kubectl proxy's in every cell",
          measured: `highest ${ratio(worstRatio.ours / worstRatio.kubectl)} (${worstRatio.where}: ${round(worstRatio.ours)} vs ${round(worstRatio.kubectl)} MiB)`,
          met: worstRatio.ours / worstRatio.kubectl <= 1.25,
        },
        {
          target: "anonymous RSS under load ≤ 2× kubectl proxy's, every cell",
          measured: `highest ${ratio(worstAnon.ours / worstAnon.kubectl)} (${worstAnon.where}: ${round(worstAnon.ours)} vs ${round(worstAnon.kubectl)} MiB)`,
          met: worstAnon.ours / worstAnon.kubectl <= 2,
        },
      );
    }
    targets.push(
      {
        target: `CPU per request ≤ 1.0× kubectl proxy's, geometric mean over the ${everyCell.length} cells`,
        measured: ratio(cpu),
        met: cpu <= 1,
      },
      {
        target: `throughput ≥ 1.0× kubectl proxy's, geometric mean over the ${everyCell.length} cells`,
        measured: ratio(throughput),
        met: throughput >= 1,
      },
    );
  }
  const ours = results.startups.filter((r) => r.contender === OURS);
  if (ours.length > 0) {
    const idle = median(ours.map((r) => r.idleRssMb));
    targets.push({
      target: 'idle RSS ≤ 60 MiB',
      measured: `${round(idle)} MiB (anonymous ${round(median(ours.map((r) => r.idleAnonMb)))})`,
      met: idle <= 60,
    });
  }
  const oursWatching = watchRunsOf(results, OURS);
  const kubectlWatching = watchRunsOf(results, KUBECTL_PROXY);
  if (oursWatching.length > 0 && kubectlWatching.length > 0) {
    const cpu = median(oursWatching.map((r) => r.cpuMsPer1000Events));
    const kubectlCpu = median(kubectlWatching.map((r) => r.cpuMsPer1000Events));
    const rss = median(oursWatching.map((r) => r.watchingRssMb));
    const kubectlRss = median(kubectlWatching.map((r) => r.watchingRssMb));
    const watches = round(results.watchSettings.watches, 6);
    targets.push(
      {
        target: `watches: CPU per 1,000 events ≤ 1.0× kubectl proxy's`,
        measured: `${round(cpu)} vs ${round(kubectlCpu)} ms: ${ratio(cpu / kubectlCpu)}`,
        met: cpu <= kubectlCpu,
      },
      {
        target: `RSS with ${watches} watches ≤ kubectl proxy's`,
        measured: `${round(rss)} vs ${round(kubectlRss)} MiB: ${ratio(rss / kubectlRss)}`,
        met: rss <= kubectlRss,
      },
    );
  }
  return targets;
}

function targetSection(title: string, targets: readonly Target[]): string {
  return section(
    title,
    markdownTable(
      ['Target', 'Measured (ours)', 'Verdict'],
      targets.map((t) => [t.target, t.measured, verdict(t.met)]),
    ),
  );
}

function section(title: string, body: string): string {
  return `## ${title}\n\n${body}\n`;
}

export function benchReport(results: BenchResults): string {
  const { settings, watchSettings } = results;
  const requests = new Requests(results.cells);
  const targets = [
    ...requestTargets(results, requests),
    ...largeListTarget(results, requests),
    ...watchTargets(results),
    ...startupTargets(results),
  ];
  const footprint = footprintTargets(results, requests);
  const flagged = problems(results.cells);
  const parts = [
    `# Ours vs kubectl proxy vs direct

Run on ${new Date().toISOString()} with \`${results.command}\`. Anything else running on the machine moves the absolute
figures (the load averages below say how busy it was): compare the ratios, medians over interleaved repeats, with the
spread (min–max) given.

${versions([`kubectl ${results.kubectlProgram}`])}. ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}.
Load average (1, 5, 15 min) at the start ${results.loadAtStart}; at the end ${results.loadAtEnd}.

- **direct**: the load generator straight to the upstream over HTTPS, sending the token itself (the limit).
- **kubectl proxy**: \`kubectl proxy --port=0\` with its default filters, on a generated kubeconfig (server, CA, token) under
  an empty $HOME. The \`kubectl\` on PATH is the machine image's version dispatcher: it asks the server's /version and
  execs the matching binary in the same process, so the process measured (the one listening on the port, found from
  /proc/net/tcp and /proc/PID/fd) runs ${results.kubectlProgram}. It speaks HTTP/2 to the upstream, as to an API server.
- **ours**: the CLI as the image runs it in the manifests' memory limit, \`node ${BUDGETED_NODE_FLAGS.join(' ')} dist/main.js ${BUDGET_ARGS.join(' ')}\`
  (without that cgroup here, --max-old-space-size stands for the image's --max-old-space-size-percentage), built from src/ by tsconfig.build.json at the
  start of the run; defaults otherwise (request filter, metrics, audit log to stdout at Metadata level, read and discarded
  by the harness); like kubectl, HTTP/2 to the upstream (\`--upstream-protocol auto\`: nginx and the watch server offer it by ALPN).

CPU is user + system time of the proxy process (all threads) from /proc/PID/stat; RSS is VmRSS, and a peak is VmHWM
reset at the start of the cell or run (/proc/PID/clear_refs). RSS is also split into its anonymous part (RssAnon: heap,
buffers, malloc; each pod's own) and its file-backed part (RssFile: the mapped binary and libraries, shared by the pods of a
node that run the same image); their peaks are sampled every 100 ms. MiB = 2^20 bytes.
`,
  ];
  if (results.cells.length > 0) {
    parts.push(
      section(
        'Requests',
        `nginx (1 worker) on 127.0.0.1 serves canned JSON over HTTPS (HTTP/2 offered by ALPN) with a bearer-token check.
wrk \`-t${THREADS}\` (\`-t1\` at 1 connection) over keep-alive connections: ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s measured, per cell;
${plural(settings.repeats, 'run')} per cell with the three contenders interleaved in rotating order. wrk, nginx and the proxy share the 2 cores,
so throughput at 16–64 connections is bounded by the machine; *CPU s / 10k req* is the cost that a sidecar's CPU limit
pays. Requests/s counts 2xx responses only; ⚠ marks a cell with non-2xx responses or socket errors (listed at the end).
*+p50/+p99* is the proxy's median latency percentile minus direct's lowest of the runs (direct shows its median and, in
brackets, that lowest).

${markdownTable(
  [
    'Workload',
    'Conns',
    'Contender',
    'Requests/s',
    '× kubectl proxy',
    '× direct',
    'CPU s / 10k req',
    '+p50 ms',
    '+p99 ms',
    'Peak RSS MiB (anon / file)',
  ],
  requestRows(results, requests),
)}

Ours ÷ kubectl proxy (medians; throughput above 1× and CPU per request or p99 below 1× favour ours):

${markdownTable(['Workload', 'Conns', 'Throughput', 'CPU per request', 'p99 latency'], headToHeadRows(results, requests))}

### The ${formatBytes(results.largeList.body.length)} list

From the same cells: proxy CPU per MiB streamed, and RSS as each cell began and at its peak (warm-up and run).

${markdownTable(['Contender', 'Conns', 'CPU ms / MiB', 'RSS before MiB', 'Peak RSS MiB', 'Peak anonymous MiB', 'Growth MiB'], largeListRows(results, requests))}

${flagged.length === 0 ? 'Every response was 2xx and no socket errors were reported.' : `Errors reported by wrk (⚠):\n\n${flagged.map((p) => `- ${p}`).join('\n')}`}`,
      ),
    );
  }
  if (results.watches.length > 0) {
    parts.push(
      section(
        `${round(watchSettings.watches, 6)} concurrent watches`,
        `A Node HTTPS server in its own process (bench/support/watch-upstream.ts; HTTP/2 by ALPN with at most 1,000 streams per
connection, and HTTP/1.1) keeps every watch open and sends one event per second on each, spread evenly over the second,
each stamped with its send time on the machine's monotonic clock. A Node client in its own process opens the watches at once
over a keep-alive agent with no socket limit, waits until each has delivered its first event and 2 s more, then for
${watchSettings.windowSeconds} s records every event's delay (arrival − send time). Each proxy is started afresh for each run: *RSS idle* is
read 2 s after it serves, *RSS with watches* and the established TCP connections from the proxy to the upstream (from
/proc/PID/net/tcp and /proc/PID/fd) halfway through the window (for direct, the client's); *CPU ms / 1,000 events* is the
proxy's CPU time over the window per 1,000 events the client received in it. ${plural(watchSettings.repeats, 'run')} each, interleaved.

${markdownTable(
  [
    'Contender',
    'Delivering',
    'Open s',
    'Delay p50 ms',
    'Delay p99 ms',
    '+p99 ms',
    'RSS idle MiB',
    `RSS with ${round(watchSettings.watches, 6)} watches MiB`,
    'Growth MiB',
    'Anon / file MiB with watches',
    'CPU ms / 1,000 events',
    'TCP conns to upstream',
  ],
  watchRows(results),
)}`,
      ),
    );
  }
  if (results.startups.length > 0) {
    parts.push(
      section(
        'Start-up and idle',
        `Each proxy started afresh ${plural(settings.repeats, 'time')} against nginx, interleaved. *Serving*: spawn to the line saying it serves;
*ready*: spawn to the first 200 from ours' /readyz on its probes port (it has reached the API server) or, for kubectl proxy,
from a proxied /version; *idle RSS*: ${IDLE_SETTLE_SECONDS} s later, with nothing else served. Then, from that idle state, wrk fetches the
${formatBytes(results.largeList.body.length)} list over one connection for ${LARGE_DOCUMENT_SECONDS} s: *growth* is the peak RSS meanwhile minus the idle RSS (⚠: errors).

${markdownTable(['Contender', 'Start → serving ms', 'Start → ready ms', 'Idle RSS MiB', 'Idle anon / file MiB', `Growth streaming the ${formatBytes(results.largeList.body.length)} list MiB`], startupRows(results))}`,
      ),
    );
  }
  if (footprint.length > 0)
    parts.push(targetSection("Footprint targets (memory and CPU at or below kubectl proxy's)", footprint));
  if (targets.length > 0) parts.push(targetSection('First-release targets', targets));
  return parts.join('\n');
}
