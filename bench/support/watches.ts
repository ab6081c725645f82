/**
 * Many concurrent watches: the streaming upstream (watch-upstream.ts) and the client
 * (watch-client.ts) each run as their own process; each forwarder is started afresh for each run
 * (interleaved with the others and with the direct path), its RSS read once it has idled, then,
 * with every watch open and delivering, its RSS and its established TCP connections to the
 * upstream (for the direct path, the client's) are read halfway through the client's measured
 * window.
 */
import type { StartContender } from './comparison.ts';
import { directContender, type Contender, type UpstreamAccess } from './contenders.ts';
import { rotated } from './measure.ts';
import { cpuSeconds, peakResidentMb, residentMb, resetPeakResident, residentSplit, startChild } from './processes.ts';
import { startForwarder, type Workspace } from './runner.ts';
import { connectionsTo } from './sockets.ts';
import type { WatchesMeasured, WatchesOpen } from './watch-client.ts';

const WATCH_UPSTREAM = new URL('./watch-upstream.ts', import.meta.url).pathname;
const WATCH_CLIENT = new URL('./watch-client.ts', import.meta.url).pathname;
const IDLE_BEFORE_WATCHES_MS = 2_000;
/** The watch client starts its measured window this long after every watch has delivered (watch-client.ts). */
const WINDOW_STARTS_AFTER_OPEN_MS = 2_000;
/** Opening 1,000 watches through a slow forwarder on a busy machine can take a while. */
const OPEN_TIMEOUT_MS = 90_000;

export interface WatchSettings {
  readonly watches: number;
  readonly windowSeconds: number;
  readonly repeats: number;
}

export interface WatchRun {
  readonly contender: string;
  readonly open: WatchesOpen;
  readonly measured: WatchesMeasured;
  /** The forwarder's RSS before the watches, with them open (mid-window) and at its peak, MiB; NaN for direct. */
  readonly idleRssMb: number;
  readonly watchingRssMb: number;
  readonly peakRssMb: number;
  /** The anonymous and file-backed parts of `watchingRssMb`, MiB; NaN for direct. */
  readonly watchingAnonMb: number;
  readonly watchingFileMb: number;
  /** The forwarder's CPU time over the client's measured window per 1,000 events delivered in it, ms; NaN for direct. */
  readonly cpuMsPer1000Events: number;
  /** Established TCP connections to the upstream, mid-window, from the forwarder (for direct, the client). */
  readonly upstreamConnections: number;
}

/** Starts the streaming upstream, stopped with the workspace. */
async function startWatchUpstream(workspace: Workspace): Promise<{ access: UpstreamAccess; port: number }> {
  const { pki, token } = workspace;
  const { running, ready } = await startChild({
    name: 'watch upstream',
    command: process.execPath,
    args: [WATCH_UPSTREAM, '--cert', pki.certFile, '--key', pki.keyFile, '--token', token],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    readyPattern: /"upstream":"127\.0\.0\.1:(\d+)"/,
  });
  workspace.defer(() => running.stop());
  return { access: workspace.access(`https://127.0.0.1:${ready}`), port: Number(ready) };
}

function parseLine<T extends { phase: string }>(output: string, phase: T['phase']): T {
  const line = output.split('\n').find((candidate) => candidate.startsWith(`{"phase":"${phase}"`));
  if (line === undefined) throw new Error(`the watch client printed no ${phase} line:\n${output}`);
  return JSON.parse(line) as T;
}

async function measureRun(
  contender: Contender,
  upstream: UpstreamAccess,
  upstreamPort: number,
  settings: WatchSettings,
): Promise<WatchRun> {
  const pid = contender.pid;
  await new Promise((resolve) => setTimeout(resolve, IDLE_BEFORE_WATCHES_MS));
  const idleRssMb = pid === undefined ? Number.NaN : residentMb(pid);
  if (pid !== undefined) resetPeakResident(pid);
  const direct = contender.running === undefined;
  const { running: client, ready } = await startChild({
    name: 'watch client',
    command: process.execPath,
    args: [
      WATCH_CLIENT,
      '--url',
      contender.baseUrl,
      '--watches',
      String(settings.watches),
      '--seconds',
      String(settings.windowSeconds),
      ...(direct ? ['--ca', upstream.caFile, '--token', upstream.token] : []),
    ],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    readyPattern: /^(\{"phase":"open".*\})$/,
    readyTimeoutMs: OPEN_TIMEOUT_MS,
  });
  try {
    const open = JSON.parse(ready) as WatchesOpen;
    await new Promise((resolve) => setTimeout(resolve, WINDOW_STARTS_AFTER_OPEN_MS));
    const cpuAtWindowStart = pid === undefined ? Number.NaN : cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, (settings.windowSeconds * 1000) / 2));
    const watching =
      pid === undefined ? { rssMb: Number.NaN, anonMb: Number.NaN, fileMb: Number.NaN } : residentSplit(pid);
    const upstreamConnections = connectionsTo(pid ?? client.pid, upstreamPort);
    await client.exited;
    const cpuInWindow = pid === undefined ? Number.NaN : cpuSeconds(pid) - cpuAtWindowStart;
    const measured = parseLine<WatchesMeasured>(client.output(), 'done');
    const peakRssMb = pid === undefined ? Number.NaN : peakResidentMb(pid);
    return {
      contender: contender.name,
      open,
      measured,
      idleRssMb,
      watchingRssMb: watching.rssMb,
      watchingAnonMb: watching.anonMb,
      watchingFileMb: watching.fileMb,
      cpuMsPer1000Events: (cpuInWindow * 1000 * 1000) / measured.events,
      peakRssMb,
      upstreamConnections,
    };
  } finally {
    await client.stop();
  }
}

/** `repeats` runs of each contender (the direct path first in the first round, then rotated). */
export async function measureWatches(
  workspace: Workspace,
  forwarders: readonly StartContender[],
  settings: WatchSettings,
): Promise<WatchRun[]> {
  const { access: upstream, port } = await startWatchUpstream(workspace);
  const starts: StartContender[] = [(access) => Promise.resolve(directContender(access)), ...forwarders];
  const runs: WatchRun[] = [];
  for (let repeat = 0; repeat < settings.repeats; repeat++) {
    for (const start of rotated(starts, repeat)) {
      const contender = await startForwarder(workspace, upstream, start);
      try {
        const run = await measureRun(contender, upstream, port, settings);
        runs.push(run);
        const { measured } = run;
        process.stderr.write(
          `watches #${repeat + 1} ${run.contender}: ${run.open.delivering} open in ${run.open.openMs} ms, ${measured.delivering} delivering, ` +
            `delay p50 ${measured.p50Ms.toFixed(2)} p99 ${measured.p99Ms.toFixed(2)} ms, RSS ${run.idleRssMb.toFixed(1)} → ` +
            `${run.watchingRssMb.toFixed(1)} MiB (anon ${run.watchingAnonMb.toFixed(1)}), ${run.cpuMsPer1000Events.toFixed(1)} CPU ms / 1,000 events, ` +
            `${run.upstreamConnections} upstream connections\n`,
        );
      } finally {
        await contender.running?.stop();
      }
    }
  }
  return runs;
}
