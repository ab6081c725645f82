/**
 * Child processes for the benchmarks: started with a bounded wait for the line that says they
 * serve, stopped by their own PID only (SIGTERM, then SIGKILL after a grace period), and measured
 * through /proc/PID/stat (CPU time) and /proc/PID/status (resident memory).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface ChildSpec {
  /** Shown in errors and logs. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly uid?: number;
  readonly gid?: number;
  /** Matched against each stdout and stderr line; the first capture group is returned. */
  readonly readyPattern?: RegExp;
  readonly readyTimeoutMs?: number;
}

export interface RunningChild {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the child wrote to stdout and stderr so far (for error messages). */
  output(): string;
  /** Resolves once the child has exited. */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
const OUTPUT_LIMIT = 64 * 1024;

/** Starts a child; with `readyPattern`, resolves only once a line matches it (with the captured text). */
export async function startChild(spec: ChildSpec): Promise<{ running: RunningChild; ready: string }> {
  const options: SpawnOptions = { env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] };
  if (spec.uid !== undefined) options.uid = spec.uid;
  if (spec.gid !== undefined) options.gid = spec.gid;
  const child = spawn(spec.command, spec.args, options);
  const running = trackChild(spec.name, child);
  try {
    const ready =
      spec.readyPattern === undefined
        ? ''
        : await waitForLine(running, spec.readyPattern, spec.readyTimeoutMs ?? 15_000);
    return { running, ready };
  } catch (error) {
    await running.stop();
    throw error;
  }
}

function trackChild(name: string, child: ChildProcess): RunningChild {
  if (child.pid === undefined) throw new Error(`${name}: could not be started`);
  const pid = child.pid;
  let output = '';
  const keep = (chunk: string): void => {
    output = (output + chunk).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (hasExited(child)) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name,
    pid,
    child,
    output: () => output,
    exited,
    stop: () => stopChild(child, exited),
  };
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (hasExited(child)) return;
  // ChildProcess.kill signals child.pid, the process we started, and nothing else.
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function waitForLine(running: RunningChild, pattern: RegExp, timeoutMs: number): Promise<string> {
  const { child } = running;
  return new Promise((resolve, reject) => {
    const readers = [child.stdout, child.stderr].flatMap((stream) =>
      stream ? [createInterface({ input: stream })] : [],
    );
    const finish = (error: Error | undefined, value = ''): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      for (const reader of readers) reader.close();
      // Closing readline pauses its input; keep draining so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
      else resolve(value);
    };
    const onLine = (line: string): void => {
      const match = pattern.exec(line);
      if (match) finish(undefined, match[1] ?? match[0]);
    };
    const onExit = (): void => finish(new Error(`${running.name} exited before it was ready:\n${running.output()}`));
    const timer = setTimeout(
      () => finish(new Error(`${running.name} not ready within ${timeoutMs} ms:\n${running.output()}`)),
      timeoutMs,
    );
    for (const reader of readers) reader.on('line', onLine);
    child.once('exit', onExit);
  });
}

/** Runs a command to completion, killing it (by PID) if it outlives `timeoutMs`. */
export function runToCompletion(
  command: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let clockTicks: number | undefined;

/** Clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

/** CPU seconds (user + system, all threads) a live process has used so far. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds (user + system) the main thread of a live process has used so far: the one running JavaScript in Node. */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(file: string): number {
  const stat = readFileSync(file, 'utf8');
  // The command name (field 2) may hold spaces and parentheses; the fields after it do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse ${file}`);
  return (utime + stime) / ticksPerSecond();
}

/** A field of /proc/PID/status in kB (VmRSS, VmHWM, …), as MiB. */
function statusMb(pid: number, field: string): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(kb) / 1024;
}

/**
 * Resident memory now, MiB: the whole, its anonymous part (heap, buffers, malloc: each pod's own)
 * and its file-backed part (the mapped binary and libraries: shared by every process of the same
 * image on a node).
 */
export interface ResidentSplit {
  readonly rssMb: number;
  readonly anonMb: number;
  readonly fileMb: number;
}

export function residentSplit(pid: number): ResidentSplit {
  return { rssMb: statusMb(pid, 'VmRSS'), anonMb: statusMb(pid, 'RssAnon'), fileMb: statusMb(pid, 'RssFile') };
}

const SPLIT_SAMPLE_MS = 100;

/**
 * The kernel keeps a peak of the whole RSS only (VmHWM): the peaks of its anonymous and file-backed
 * parts are sampled every 100 ms until `stop`, which returns them. A process that has exited stops
 * the sampling.
 */
export function sampleResidentPeaks(pid: number): { stop(): ResidentSplit } {
  const peak = { rssMb: 0, anonMb: 0, fileMb: 0 };
  const sample = (): void => {
    try {
      const now = residentSplit(pid);
      peak.rssMb = Math.max(peak.rssMb, now.rssMb);
      peak.anonMb = Math.max(peak.anonMb, now.anonMb);
      peak.fileMb = Math.max(peak.fileMb, now.fileMb);
    } catch {
      clearInterval(timer);
    }
  };
  sample();
  const timer = setInterval(sample, SPLIT_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { ...peak };
    },
  };
}

/** Resident set size now, MiB. */
export function residentMb(pid: number): number {
  return statusMb(pid, 'VmRSS');
}

/** The highest resident set size since the process started or since `resetPeakResident`, MiB. */
export function peakResidentMb(pid: number): number {
  return statusMb(pid, 'VmHWM');
}

/** Starts a new peak: the kernel sets VmHWM back to the current RSS (clear_refs, Linux 4.0+). */
export function resetPeakResident(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
