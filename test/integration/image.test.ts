/**
 * No container engine runs here, so this performs what the Dockerfile does, read from the
 * Dockerfile itself: the build stage's COPY and RUN steps in a clean folder, the runtime stage's
 * COPY --from=build into a fresh root laid out like the image (Node at /nodejs/bin/node), then its
 * ENTRYPOINT as its USER, with every file read-only, proxying a request.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EPHEMERAL_PORTS, spawnAmbassadorProcess } from '../support/ambassador.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { release } from '../support/teardown.ts';

const execFileAsync = promisify(execFile);
const repository = new URL('../../', import.meta.url).pathname;

interface Stage {
  readonly copies: readonly {
    readonly from: string | undefined;
    readonly sources: readonly string[];
    readonly destination: string;
  }[];
  readonly runs: readonly string[];
}

interface Dockerfile {
  readonly build: Stage;
  readonly runtime: Stage & { readonly entrypoint: readonly string[]; readonly user: { uid: number; gid: number } };
}

/** Reads the two stages' COPY, RUN, USER and ENTRYPOINT instructions (continuation lines joined). */
function parseDockerfile(text: string): Dockerfile {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => /^[A-Z]+ /.test(line));
  const stages: { copies: Stage['copies'][number][]; runs: string[]; entrypoint: string[]; user: string }[] = [];
  for (const line of instructions) {
    const [keyword = '', ...rest] = line.split(' ');
    const argument = rest.join(' ').trim();
    if (keyword === 'FROM') stages.push({ copies: [], runs: [], entrypoint: [], user: '' });
    const stage = stages.at(-1);
    if (stage === undefined) continue;
    if (keyword === 'RUN') stage.runs.push(argument);
    if (keyword === 'USER') stage.user = argument;
    if (keyword === 'ENTRYPOINT') stage.entrypoint = JSON.parse(argument) as string[];
    if (keyword === 'COPY') {
      const parts = argument.split(/\s+/);
      const from = parts[0]?.startsWith('--from=') ? parts.shift()?.slice('--from='.length) : undefined;
      stage.copies.push({ from, sources: parts.slice(0, -1), destination: parts.at(-1) ?? '' });
    }
  }
  const [build, runtime] = stages;
  if (build === undefined || runtime === undefined)
    throw new Error('the Dockerfile must have a build and a runtime stage');
  const [uid = NaN, gid = NaN] = runtime.user.split(':').map(Number);
  return { build, runtime: { ...runtime, user: { uid, gid } } };
}

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

async function makeReadOnly(path: string): Promise<void> {
  const info = await stat(path);
  await chmod(path, info.isDirectory() ? 0o555 : info.mode & 0o555);
  if (info.isDirectory()) for (const entry of await readdir(path)) await makeReadOnly(join(path, entry));
}

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster();
  // The image's user must be able to read the cluster's CA and token, as a mounted volume allows.
  await chmod(cluster.dir, 0o755);
  for (const file of [cluster.pki.caFile, cluster.tokenFile]) await chmod(file, 0o644);
});

afterAll(() => release(cluster));

it('builds and runs as the Dockerfile says: non-root, read-only, proxying', async () => {
  const dockerfile = parseDockerfile(await readFile(join(repository, 'Dockerfile'), 'utf8'));
  const work = await mkdtemp(join(tmpdir(), 'image-'));
  await chmod(work, 0o755);

  const build = join(work, 'build');
  await mkdir(build);
  for (const { sources, destination } of dockerfile.build.copies) {
    for (const source of sources) {
      const target = destination.endsWith('/') ? join(build, destination, source) : join(build, destination);
      await cp(join(repository, source), target, { recursive: true });
    }
  }
  for (const command of dockerfile.build.runs) {
    await execFileAsync('sh', ['-c', command], {
      cwd: build,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, CI: 'true' },
    });
  }

  const root = join(work, 'root');
  for (const { from, sources, destination } of dockerfile.runtime.copies) {
    expect(from).toBe('build');
    for (const source of sources)
      await cp(join(build, source.replace(/^\/app\/?/, '')), join(root, destination.replace(/^\.\//, 'app/')), {
        recursive: true,
      });
  }
  const [node = '', ...entrypointArgs] = dockerfile.runtime.entrypoint;
  await mkdir(join(root, dirname(node)), { recursive: true });
  await cp(process.execPath, join(root, node));
  await makeReadOnly(root);

  const shipped = await sizeOf(join(root, 'app', 'node_modules'));
  expect(shipped).toBeLessThan(60 * 1024 * 1024); // production dependencies only, without types and maps
  await expect(stat(join(root, 'app', 'node_modules', 'vitest'))).rejects.toThrow();
  await expect(stat(join(root, 'app', 'src'))).rejects.toThrow();

  const args = entrypointArgs.map((arg) => (arg.startsWith('/') ? join(root, arg) : arg));
  const ambassador = spawnAmbassadorProcess(
    join(root, node),
    args,
    [...EPHEMERAL_PORTS, ...cluster.ambassadorArgs],
    dockerfile.runtime.user,
  );
  try {
    const serving = await ambassador.waitForLog((line) => typeof line['proxy'] === 'string');
    const port = Number(String(serving['proxy']).split(':').pop());
    expect((await send(port, 'GET', '/api/v1/namespaces/default/pods?from=image')).status).toBe(200);
    const seen = await cluster.api.waitForRequest((request) => request.url.endsWith('?from=image'));
    expect(seen.headers.authorization).toBe('Bearer first-token');
    const status = await readFile(`/proc/${ambassador.child.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(dockerfile.runtime.user.uid));
  } finally {
    expect(await ambassador.stop()).toBe(0);
  }
}, 180_000);
