/**
 * Runs the real kube-api-ambassador CLI (src/main.ts on the project's Node) as a child process, with
 * an environment that holds nothing from this machine: no $HOME kubeconfig, no in-cluster variables.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startTestCluster, type TestCluster } from './cluster.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
/**
 * The V8 flags the ambassador is shipped with (package.json "start", the image's entrypoint): a
 * 1 MiB young generation keeps streamed chunks from inflating RSS by tens of MB between scavenges.
 */
export const NODE_FLAGS = ['--max-semi-space-size=1'] as const;

/** The memory limit the manifests and the chart give the sidecar, and the budget it keeps (`--memory-limit`). */
export const MANIFEST_MEMORY_LIMIT_MIB = 192;
/** The image's ENTRYPOINT flags: the V8 old generation is half the container's memory limit (its cgroup's). */
export const IMAGE_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size-percentage=50'] as const;
/**
 * The image's flags as they come out in the manifests' limit, for a machine without that cgroup
 * (the benchmarks): --max-old-space-size-percentage would take half of the whole machine.
 */
export const BUDGETED_NODE_FLAGS = [
  '--max-semi-space-size=1',
  `--max-old-space-size=${MANIFEST_MEMORY_LIMIT_MIB / 2}`,
] as const;
/** The flag that gives the ambassador the manifests' budget, as their Downward API variable does. */
export const BUDGET_ARGS = ['--memory-limit', `${MANIFEST_MEMORY_LIMIT_MIB}Mi`] as const;

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface RunningAmbassador {
  /** http://127.0.0.1:PORT, or undefined when listening on a Unix socket. */
  readonly url: string;
  readonly port: number;
  /** http://127.0.0.1:PORT of the probes listener. */
  readonly adminUrl: string;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  stderr(): string;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
}

/** A clean environment: PATH only, a fresh empty HOME, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: mkdtempSync(join(tmpdir(), 'ambassador-home-')),
    ...extra,
  };
}

/** Flags that make the ambassador pick free ports on loopback and log them. */
export const EPHEMERAL_PORTS = ['--port', '0', '--admin-address', '127.0.0.1', '--admin-port', '0'] as const;

export function spawnAmbassador(args: readonly string[], env: Record<string, string> = cleanEnv()): RunningAmbassador {
  return spawnAmbassadorProcess(process.execPath, [...NODE_FLAGS, MAIN], args, undefined, env);
}

/** Runs `command entry… args…` (an image's entrypoint, say), optionally as another user. */
export function spawnAmbassadorProcess(
  command: string,
  entry: readonly string[],
  args: readonly string[],
  user?: { readonly uid: number; readonly gid: number },
  env: Record<string, string> = cleanEnv(),
): RunningAmbassador {
  const child = spawn(command, [...entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], ...user });
  const logs: LogLine[] = [];
  const waiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const waiter of waiters) {
      if (waiter.predicate(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ambassador: RunningAmbassador = {
    url: '',
    port: 0,
    adminUrl: '',
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog(predicate, timeoutMs = 10_000) {
      const seen = logs.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`no matching log line within ${timeoutMs}ms; stderr: ${stderr}; logs: ${JSON.stringify(logs)}`),
          );
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(() => {
          if (waiters.delete(waiter)) {
            clearTimeout(timer);
            reject(new Error(`the ambassador exited; stderr: ${stderr}; logs: ${JSON.stringify(logs)}`));
          }
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  return ambassador;
}

/** Starts the ambassador and resolves once it serves, with its proxy and probes addresses filled in. */
export async function startAmbassador(
  args: readonly string[],
  env?: Record<string, string>,
): Promise<RunningAmbassador> {
  const ambassador = spawnAmbassador([...EPHEMERAL_PORTS, ...args], env);
  let serving: LogLine;
  try {
    serving = await ambassador.waitForLog((line) => typeof line['proxy'] === 'string');
  } catch (error) {
    await ambassador.stop('SIGKILL'); // never leave a process behind that did not come up
    throw error;
  }
  const proxy = String(serving['proxy']);
  const port = Number(proxy.slice(proxy.lastIndexOf(':') + 1));
  return Object.assign(ambassador, {
    url: proxy.startsWith('/') ? '' : `http://127.0.0.1:${port}`,
    port,
    adminUrl: `http://${String(serving['probes'])}`,
  });
}

/** Runs the CLI to completion (for start-up errors and --help). */
export async function runAmbassador(
  args: readonly string[],
  env: Record<string, string> = cleanEnv(),
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  return { code, stdout, stderr };
}

export interface ClusterAndAmbassador {
  readonly cluster: TestCluster;
  readonly ambassador: RunningAmbassador;
}

/** A fresh test cluster and an ambassador in front of it, with `extraArgs` after the cluster's flags. */
export async function startClusterAndAmbassador(extraArgs: readonly string[] = []): Promise<ClusterAndAmbassador> {
  const cluster = await startTestCluster();
  return { cluster, ambassador: await startAmbassador([...cluster.ambassadorArgs, ...extraArgs]) };
}

/** Stops what `startClusterAndAmbassador` started, even if it only got half way. */
export async function stopClusterAndAmbassador(running: Partial<ClusterAndAmbassador>): Promise<void> {
  await running.ambassador?.stop();
  await running.cluster?.close();
}
