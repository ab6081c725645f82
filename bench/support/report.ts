/**
 * The markdown report of a comparison: how it was run, every contender against the direct path,
 * and the two contenders the comparison is about, head to head.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { ApiDocument } from './api-documents.ts';
import type { Comparison } from './comparison.ts';
import { DIRECT, type Contender } from './contenders.ts';
import { THREADS, type Cell, type Settings } from './measure.ts';
import { NGINX_BINARY } from './nginx.ts';
import { formatSpread, markdownTable, round, spread } from './stats.ts';
import { WRK_BINARY } from './wrk.ts';

export interface Run {
  readonly comparison: Comparison;
  readonly settings: Settings;
  readonly contenders: readonly Contender[];
  readonly documents: readonly ApiDocument[];
  readonly cells: readonly Cell[];
  readonly loadBefore: string;
}

/** The `version` field of a package.json. */
export function packageVersion(packageJson: URL): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

function summaryRows({ comparison, settings, contenders, documents, cells }: Run): string[][] {
  const rows: string[][] = [];
  for (const document of documents) {
    for (const connections of settings.connections) {
      const runsOf = (name: string): Cell[] =>
        cells.filter((c) => c.document === document && c.connections === connections && c.contender === name);
      const direct = spread(runsOf(DIRECT).map((c) => c.result.requestsPerSecond)).median;
      for (const contender of contenders) {
        const runs = runsOf(contender.name);
        const throughput = spread(runs.map((c) => c.result.requestsPerSecond));
        rows.push([
          `${document.label} (${formatBytes(document.body.length)})`,
          String(connections),
          contender.name === comparison.headToHead[0] ? `**${contender.name}**` : contender.name,
          formatSpread(throughput),
          contender.name === DIRECT ? '1' : round(throughput.median / direct, 2),
          contender.running === undefined ? '–' : formatSpread(spread(runs.map((c) => c.cpuMsPer10k))),
          round(spread(runs.map((c) => c.result.latencyMs.p50)).median),
          round(spread(runs.map((c) => c.result.latencyMs.p99)).median),
        ]);
      }
    }
  }
  return rows;
}

/** First ÷ second contender, per workload and connection count: above 1 is better for throughput, below 1 for CPU. */
function headToHeadRows({ comparison, settings, documents, cells }: Run): string[][] {
  const [first, second] = comparison.headToHead;
  const rows: string[][] = [];
  for (const document of documents) {
    for (const connections of settings.connections) {
      const median = (name: string, pick: (c: Cell) => number): number =>
        spread(
          cells
            .filter((c) => c.document === document && c.connections === connections && c.contender === name)
            .map(pick),
        ).median;
      const ratio = (pick: (c: Cell) => number): string => `${round(median(first, pick) / median(second, pick), 3)}×`;
      rows.push([
        document.label,
        String(connections),
        ratio((c) => c.result.requestsPerSecond),
        ratio((c) => c.cpuMsPer10k),
        ratio((c) => c.result.latencyMs.p99),
      ]);
    }
  }
  return rows;
}

/** One line per cell in which wrk saw non-2xx responses or socket errors. */
export function problems(cells: readonly Cell[]): string[] {
  return cells.flatMap((c) => {
    const { non2xx3xx, socketErrors: e } = c.result;
    const errors = e.connect + e.read + e.write + e.timeout;
    if (non2xx3xx === 0 && errors === 0) return [];
    return [
      `${c.document.label} c${c.connections} ${c.contender}: ${non2xx3xx} non-2xx, socket errors ${JSON.stringify(e)}`,
    ];
  });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1024 * 1024 ? `${round(bytes / 1024, 2)} KB` : `${round(bytes / 1024 / 1024, 2)} MB`;
}

/** nginx -v and wrk -v print their version on stderr; wrk then exits 1. */
function toolVersion(command: string, args: readonly string[], pattern: RegExp): string {
  // Partial: a command that is not installed leaves no stdout or stderr, though @types/node types them as strings.
  const { stdout, stderr } = spawnSync(command, args, { encoding: 'utf8', timeout: 5_000 }) as Partial<
    SpawnSyncReturns<string>
  >;
  return pattern.exec(`${stdout ?? ''}${stderr ?? ''}`)?.[1] ?? 'unknown';
}

/** Node, ours, `extra`, nginx and wrk versions, `; `-separated. */
export function versions(extra: readonly string[] = []): string {
  return [
    `Node ${process.version}`,
    `kube-api-ambassador ${packageVersion(new URL('../../package.json', import.meta.url))}`,
    ...extra,
    `nginx ${toolVersion(NGINX_BINARY, ['-v'], /nginx\/(\S+)/)}`,
    `wrk ${toolVersion(WRK_BINARY, ['-v'], /wrk (\S+)/)}`,
  ].join('; ');
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function report(run: Run): string {
  const { comparison, settings } = run;
  const [first, second] = comparison.headToHead;
  const options = process.argv.slice(2);
  const flagged = problems(run.cells);
  return `# ${comparison.title}

Run on ${new Date().toISOString()} with \`${comparison.command}${options.length > 0 ? ` -- ${options.join(' ')}` : ''}\`.

${versions(comparison.versions)}. ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}; load average before the run ${run.loadBefore}.

Upstream: nginx (1 worker) on 127.0.0.1 over HTTPS with a bearer-token check and keep-alive, serving canned JSON.
Load: wrk \`-t${THREADS}\` over keep-alive connections, ${settings.warmupSeconds} s warm-up then ${settings.durationSeconds} s per cell,
${settings.repeats} run(s) per cell with the contenders interleaved; median (min–max). wrk, the forwarder and nginx share the
machine's cores, so *CPU ms / 10k* (user + system time of the forwarder process per 10,000 requests, from /proc/PID/stat)
is the fairer comparison when the machine is saturated. *× direct* is the median throughput over that of wrk straight to nginx.

- **direct**: wrk to nginx over HTTPS, sending the token itself (the limit).
${comparison.description}

${markdownTable(['Workload', 'Conns', 'Forwarder', 'Requests/s', '× direct', 'Forwarder CPU ms / 10k req', 'p50 ms', 'p99 ms'], summaryRows(run))}

${capitalised(first)} ÷ ${second} (medians; throughput above 1× and CPU or p99 below 1× favour ${first}):

${markdownTable(['Workload', 'Conns', 'Requests/s', 'CPU per request', 'p99'], headToHeadRows(run))}

${flagged.length === 0 ? 'Every response was 2xx and no socket errors were reported.' : `Errors reported by wrk:\n\n${flagged.map((p) => `- ${p}`).join('\n')}`}
`;
}
