/**
 * Start-up and idle: each forwarder is started afresh `repeats` times (interleaved), timed from
 * spawn to the line saying it serves and to its first ready answer, then left idle for a few
 * seconds and its RSS read. Ready means, for the ambassador, /readyz answering 200 on its probes
 * port (it has reached the API server); for a forwarder without probes, a proxied /version
 * answering 200. Last, from that idle state, a large document is fetched over one connection for
 * a few seconds, and the peak RSS read: how much memory streaming it takes from cold.
 */
import type { ApiDocument } from './api-documents.ts';
import type { StartContender } from './comparison.ts';
import type { Contender, UpstreamAccess } from './contenders.ts';
import { waitForStatus } from './http.ts';
import { peakResidentMb, resetPeakResident, residentSplit } from './processes.ts';
import { startForwarder, type Workspace } from './runner.ts';
import { rotated } from './measure.ts';
import { runWrk } from './wrk.ts';

/** Long enough for start-up work (first scavenges, timers) to settle. */
const IDLE_SETTLE_MS = 5_000;
const READY_POLL_MS = 5;
export const LARGE_DOCUMENT_SECONDS = 3;

export interface StartupRun {
  readonly contender: string;
  /** Spawn to the line saying it serves, ms. */
  readonly listeningMs: number;
  /** Spawn to the first ready answer, ms. */
  readonly readyMs: number;
  /** RSS after IDLE_SETTLE_MS with no request but the readiness check, MiB; and its anonymous and file-backed parts. */
  readonly idleRssMb: number;
  readonly idleAnonMb: number;
  readonly idleFileMb: number;
  /** Peak RSS while the large document was fetched again and again over one connection, MiB. */
  readonly largeDocumentPeakRssMb: number;
  /** Responses other than 2xx, and socket errors, while fetching it. */
  readonly largeDocumentErrors: number;
}

export const IDLE_SETTLE_SECONDS = IDLE_SETTLE_MS / 1000;

function readinessUrl(contender: Contender): string {
  return 'adminUrl' in contender && typeof contender.adminUrl === 'string'
    ? `${contender.adminUrl}/readyz`
    : `${contender.baseUrl}/version`;
}

async function measureStartup(
  workspace: Workspace,
  upstream: UpstreamAccess,
  start: StartContender,
  largeDocument: ApiDocument,
): Promise<StartupRun> {
  const spawned = performance.now();
  const contender = await startForwarder(workspace, upstream, start);
  const listeningMs = performance.now() - spawned;
  try {
    await waitForStatus(readinessUrl(contender), 200, { intervalMs: READY_POLL_MS });
    const readyMs = performance.now() - spawned;
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    const { pid } = contender;
    if (pid === undefined) throw new Error(`${contender.name} has no process to measure`);
    const idle = residentSplit(pid);
    resetPeakResident(pid);
    const large = await runWrk({
      url: contender.baseUrl + largeDocument.path,
      threads: 1,
      connections: 1,
      durationSeconds: LARGE_DOCUMENT_SECONDS,
    });
    const { connect, read, write, timeout } = large.socketErrors;
    return {
      contender: contender.name,
      listeningMs,
      readyMs,
      idleRssMb: idle.rssMb,
      idleAnonMb: idle.anonMb,
      idleFileMb: idle.fileMb,
      largeDocumentPeakRssMb: peakResidentMb(pid),
      largeDocumentErrors: large.non2xx3xx + connect + read + write + timeout,
    };
  } finally {
    await contender.running?.stop();
  }
}

export async function measureStartups(
  workspace: Workspace,
  upstream: UpstreamAccess,
  forwarders: readonly StartContender[],
  repeats: number,
  largeDocument: ApiDocument,
): Promise<StartupRun[]> {
  const runs: StartupRun[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const start of rotated(forwarders, repeat)) {
      const run = await measureStartup(workspace, upstream, start, largeDocument);
      runs.push(run);
      process.stderr.write(
        `start #${repeat + 1} ${run.contender}: listening ${Math.round(run.listeningMs)} ms, ready ${Math.round(run.readyMs)} ms, ` +
          `idle RSS ${run.idleRssMb.toFixed(1)} MiB, ${largeDocument.label} from idle: peak ${run.largeDocumentPeakRssMb.toFixed(1)} MiB\n`,
      );
    }
  }
  return runs;
}
