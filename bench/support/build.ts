/**
 * The ambassador as the image runs it: src/ compiled by tsconfig.build.json to dist/main.js, run
 * with plain Node (no type stripping, which alone adds some 30 MB of RSS and 100 ms of start-up).
 * It is built into the workspace, beside links to the project's package.json and node_modules, so
 * the working tree's dist/ is left alone.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runToCompletion } from './processes.ts';
import type { Workspace } from './runner.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const BUILD_TIMEOUT_MS = 180_000;

/** Builds the ambassador and returns the path of its dist/main.js. */
export async function buildAmbassador(workspace: Pick<Workspace, 'dir'>): Promise<string> {
  const app = join(workspace.dir, 'app');
  await mkdir(app);
  await symlink(join(ROOT, 'node_modules'), join(app, 'node_modules'));
  await symlink(join(ROOT, 'package.json'), join(app, 'package.json'));
  const outDir = join(app, 'dist');
  const { code, stdout, stderr } = await runToCompletion(
    TSC,
    ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', outDir, '--sourceMap', 'false'],
    BUILD_TIMEOUT_MS,
  );
  const main = join(outDir, 'main.js');
  if (!existsSync(main)) throw new Error(`tsc built no dist/main.js (exit ${code}):\n${stdout}${stderr}`);
  // tsc still emits when src/ has type errors (it only erases types): say so, and measure what it emitted.
  if (code !== 0)
    process.stderr.write(`warning: src/ has type errors; measuring what tsc emitted:\n${stdout.slice(0, 2_000)}\n`);
  return main;
}
