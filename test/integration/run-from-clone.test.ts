/**
 * A fresh clone, as the README's "Run from a clone" has it: `npm run build`, then the package's
 * own bin through `npx kube-api-ambassador`, or `./dist/main.js`. Built here from a copy of the
 * sources, with the project's node_modules, so the work tree's dist/ is left alone.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanEnv, EPHEMERAL_PORTS, spawnAmbassadorProcess } from '../support/ambassador.ts';
import { startTestCluster } from '../support/cluster.ts';
import { send } from '../support/http.ts';
import { removeDirectory } from '../support/teardown.ts';

const execFileAsync = promisify(execFile);
const repository = new URL('../../', import.meta.url).pathname;
let clone: string;

/**
 * A shell's environment in the clone: the machine's PATH without any node_modules/.bin (vitest runs
 * under one), so `node` is whatever the machine has, and npm must put the project's own first.
 */
function shellEnv(): Record<string, string> {
  const path = (process.env['PATH'] ?? '/usr/bin:/bin').split(':').filter((dir) => !dir.includes('node_modules'));
  return cleanEnv({ PATH: path.join(':') });
}

beforeAll(async () => {
  clone = await mkdtemp(join(tmpdir(), 'ambassador-clone-'));
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src']) {
    await cp(join(repository, file), join(clone, file), { recursive: true });
  }
  await symlink(join(repository, 'node_modules'), join(clone, 'node_modules'));
  await execFileAsync('npm', ['run', 'build'], { cwd: clone, env: shellEnv(), timeout: 170_000 });
}, 180_000);

afterAll(() => removeDirectory(clone));

it('npm run build leaves dist/main.js executable, a node script', async () => {
  expect((await stat(join(clone, 'dist/main.js'))).mode & 0o111).toBe(0o111);
  expect((await readFile(join(clone, 'dist/main.js'), 'utf8')).split('\n', 1)[0]).toBe('#!/usr/bin/env node');
});

it("npx kube-api-ambassador runs the package's own bin, on the project's Node.js, and its help lists the commands", async () => {
  const { stdout } = await execFileAsync('npx', ['kube-api-ambassador', '--help'], {
    cwd: clone,
    env: shellEnv(),
    timeout: 60_000,
  });
  expect(stdout).toMatch(/^ {2}policy check --policy FILE /m);
  expect(stdout).toMatch(/^ {2}policy learn /m);
  const version = await execFileAsync('npx', ['kube-api-ambassador', '--version'], {
    cwd: clone,
    env: shellEnv(),
    timeout: 60_000,
  });
  expect(version.stdout).toBe('kube-api-ambassador 0.1.0\n');
});

it("./dist/main.js serves the API when the node on the PATH is the project's", async () => {
  const cluster = await startTestCluster();
  const env = cleanEnv({ PATH: `${join(clone, 'node_modules/.bin')}:${shellEnv()['PATH'] ?? ''}` });
  const ambassador = spawnAmbassadorProcess(
    join(clone, 'dist/main.js'),
    [],
    [...EPHEMERAL_PORTS, ...cluster.ambassadorArgs],
    undefined,
    env,
  );
  try {
    const serving = await ambassador.waitForLog((line) => typeof line['proxy'] === 'string');
    const port = Number(String(serving['proxy']).split(':').pop());
    expect((await send(port, 'GET', '/version')).status).toBe(200);
  } finally {
    await ambassador.stop();
    await cluster.close();
  }
});
