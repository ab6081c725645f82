/** Runs the machine's real kubectl against a kubeconfig written for the test (never any other). */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A kubeconfig (as JSON, which is YAML) with one cluster, one user and that context current. */
export function singleContextKubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'the-cluster', cluster }],
    users: [{ name: 'the-user', user }],
    contexts: [{ name: 'the-context', context: { cluster: 'the-cluster', user: 'the-user', namespace: 'default' } }],
    'current-context': 'the-context',
  });
}

/** Writes a kubeconfig whose only cluster is the ambassador at `proxyUrl`, with no credentials. */
export async function writeProxyKubeconfig(dir: string, proxyUrl: string): Promise<string> {
  const file = join(dir, `kubeconfig-${new URL(proxyUrl).port}`);
  await writeFile(file, singleContextKubeconfig({ server: proxyUrl }, {}));
  return file;
}

export function kubectlEnv(kubeconfig: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: join(kubeconfig, '..'),
    KUBECONFIG: kubeconfig,
    ...extra,
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function kubectl(
  kubeconfig: string,
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<KubectlResult> {
  const child = spawn('kubectl', args, { env: kubectlEnv(kubeconfig, options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number>((resolve) => child.once('exit', (exitCode) => resolve(exitCode ?? -1)));
  return { code, stdout, stderr };
}

/** Starts a long-running kubectl (port-forward, get -w) and resolves once its stdout matches. */
export function startKubectl(
  kubeconfig: string,
  args: readonly string[],
  ready: RegExp,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child = spawn('kubectl', args, { env: kubectlEnv(kubeconfig, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`kubectl ${args.join(' ')} printed no ${ready} within 15s: ${output}`));
    }, 15_000);
    const onData = (chunk: string): void => {
      output += chunk;
      const match = ready.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, match, output: () => output });
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${output}`));
    });
  });
}

export { execFileAsync };
