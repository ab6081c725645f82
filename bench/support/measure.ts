/**
 * Timing the contenders: each must first return every document intact, then each cell (document ×
 * connections × contender) gets a wrk warm-up and a measured run, with the forwarder's CPU time
 * read from /proc around the measured run and its peak RSS over the whole cell.
 */
import type { ApiDocument } from './api-documents.ts';
import type { Contender } from './contenders.ts';
import { get } from './http.ts';
import { cpuSeconds, peakResidentMb, residentMb, resetPeakResident, sampleResidentPeaks } from './processes.ts';
import { round } from './stats.ts';
import { runWrk, type WrkResult } from './wrk.ts';

/** wrk threads, fewer when there are fewer connections (wrk needs one connection per thread at least). */
export const THREADS = 2;

export interface Settings {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly repeats: number;
  readonly connections: readonly number[];
}

export interface Cell {
  readonly document: ApiDocument;
  readonly connections: number;
  readonly contender: string;
  readonly result: WrkResult;
  /** CPU ms the forwarder used per 10,000 requests; NaN for the direct path. */
  readonly cpuMsPer10k: number;
  /** The forwarder's RSS as the cell began and its peak during warm-up and run, MiB; NaN for direct. */
  readonly rssBeforeMb: number;
  readonly rssPeakMb: number;
  /** The peaks of its anonymous and file-backed parts (RssAnon, RssFile), sampled every 100 ms; NaN for direct. */
  readonly anonPeakMb: number;
  readonly filePeakMb: number;
}

/** Responses per second that were 2xx or 3xx: the throughput that counts. */
export function successfulPerSecond(result: WrkResult): number {
  return (result.requests - result.non2xx3xx) / result.seconds;
}

/** Every contender must return each document intact before it is timed. */
export async function checkContenders(
  contenders: readonly Contender[],
  documents: readonly ApiDocument[],
  caPem: string,
): Promise<void> {
  for (const contender of contenders) {
    for (const document of documents) {
      const { status, body } = await get(contender.baseUrl + document.path, {
        headers: { ...contender.headers },
        ca: caPem,
      });
      if (status !== 200 || body.toString('utf8') !== document.body) {
        throw new Error(
          `${contender.name} ${document.path}: status ${status}, ${body.length} bytes instead of 200 and ${document.body.length}`,
        );
      }
    }
  }
}

/** A → B → C, then B → C → A, …: each contender takes each place in the order equally often. */
export function rotated<T>(items: readonly T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function measureCell(
  contender: Contender,
  document: ApiDocument,
  connections: number,
  settings: Settings,
): Promise<Cell> {
  const load = {
    url: contender.baseUrl + document.path,
    threads: Math.min(THREADS, connections),
    connections,
    headers: contender.headers,
  };
  const pid = contender.pid;
  const rssBeforeMb = pid === undefined ? Number.NaN : residentMb(pid);
  if (pid !== undefined) resetPeakResident(pid);
  const split = pid === undefined ? undefined : sampleResidentPeaks(pid);
  await runWrk({ ...load, durationSeconds: settings.warmupSeconds });
  const cpuBefore = pid === undefined ? 0 : cpuSeconds(pid);
  const result = await runWrk({ ...load, durationSeconds: settings.durationSeconds });
  const cpuMsPer10k =
    pid === undefined ? Number.NaN : ((cpuSeconds(pid) - cpuBefore) * 1000 * 10_000) / result.requests;
  const rssPeakMb = pid === undefined ? Number.NaN : peakResidentMb(pid);
  const peaks = split?.stop();
  const anonPeakMb = peaks?.anonMb ?? Number.NaN;
  const filePeakMb = peaks?.fileMb ?? Number.NaN;
  return {
    document,
    connections,
    contender: contender.name,
    result,
    cpuMsPer10k,
    rssBeforeMb,
    rssPeakMb,
    anonPeakMb,
    filePeakMb,
  };
}

export async function measureAll(
  contenders: readonly Contender[],
  documents: readonly ApiDocument[],
  settings: Settings,
): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const document of documents) {
    for (const connections of settings.connections) {
      for (let repeat = 0; repeat < settings.repeats; repeat++) {
        for (const contender of rotated(contenders, repeat)) {
          const cell = await measureCell(contender, document, connections, settings);
          cells.push(cell);
          process.stderr.write(
            `${document.label} c${connections} #${repeat + 1} ${contender.name}: ${round(cell.result.requestsPerSecond)} req/s, ` +
              `${round(cell.cpuMsPer10k)} CPU ms/10k, p99 ${round(cell.result.latencyMs.p99)} ms, peak RSS ${round(cell.rssPeakMb)} MiB ` +
              `(anon ${round(cell.anonPeakMb)}, file ${round(cell.filePeakMb)})` +
              `${cell.result.non2xx3xx > 0 ? `, ${cell.result.non2xx3xx} non-2xx` : ''}\n`,
          );
        }
      }
    }
  }
  return cells;
}
