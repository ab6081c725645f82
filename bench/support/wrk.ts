/**
 * Runs wrk (Debian's, 4.x) as its own process, time-limited, and parses its `--latency` report.
 */
import { assertLoopback } from './http.ts';
import { runToCompletion } from './processes.ts';

export const WRK_BINARY = 'wrk';

export interface WrkRun {
  readonly url: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** wrk's per-request timeout; default 5 s. */
  readonly timeoutSeconds?: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Latency percentiles in milliseconds. */
  readonly latencyMs: { readonly p50: number; readonly p75: number; readonly p90: number; readonly p99: number };
  readonly socketErrors: {
    readonly connect: number;
    readonly read: number;
    readonly write: number;
    readonly timeout: number;
  };
  readonly non2xx3xx: number;
}

/** Beyond the run itself: start-up and the last responses draining. */
const KILL_MARGIN_MS = 15_000;

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  assertLoopback(new URL(run.url));
  const args = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.durationSeconds}s`,
    `--timeout`,
    `${run.timeoutSeconds ?? 5}s`,
    '--latency',
    ...Object.entries(run.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    run.url,
  ];
  const { code, stdout, stderr } = await runToCompletion(WRK_BINARY, args, run.durationSeconds * 1000 + KILL_MARGIN_MS);
  if (code !== 0) throw new Error(`wrk ${args.join(' ')} exited with ${code}:\n${stderr}${stdout}`);
  return parseWrkOutput(stdout);
}

export function parseWrkOutput(output: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)\b/.exec(output);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (!total || !rate) throw new Error(`cannot parse wrk output:\n${output}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(total[1]),
    seconds: toMs(Number(total[2]), total[3] ?? 's') / 1000,
    requestsPerSecond: Number(rate[1]),
    latencyMs: {
      p50: percentile(output, 50),
      p75: percentile(output, 75),
      p90: percentile(output, 90),
      p99: percentile(output, 99),
    },
    socketErrors: {
      connect: Number(errors?.[1] ?? 0),
      read: Number(errors?.[2] ?? 0),
      write: Number(errors?.[3] ?? 0),
      timeout: Number(errors?.[4] ?? 0),
    },
    non2xx3xx: Number(non2xx?.[1] ?? 0),
  };
}

/** A line of the "Latency Distribution" block, e.g. `     99%    1.23ms`. */
function percentile(output: string, percent: number): number {
  const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(output);
  if (!match) throw new Error(`wrk output has no ${percent}% latency (was --latency given?):\n${output}`);
  return toMs(Number(match[1]), match[2] ?? 'ms');
}

function toMs(value: number, unit: string): number {
  switch (unit) {
    case 'us':
      return value / 1000;
    case 'ms':
      return value;
    case 's':
      return value * 1000;
    case 'm':
      return value * 60_000;
    case 'h':
      return value * 3_600_000;
    default:
      throw new Error(`unknown wrk time unit ${unit}`);
  }
}
