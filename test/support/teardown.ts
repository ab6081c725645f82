import { rm } from 'node:fs/promises';

// A suite's `let`s are typed as `beforeAll` assigns them, but when `beforeAll` fails part way the later ones are
// still undefined when `afterAll` runs. These take `undefined` in their types so that the check is not lost.

type Started = { stop(): Promise<unknown> } | { close(): Promise<unknown> };

/** Stops or closes each of `started` in order, skipping those `beforeAll` never got to. */
export async function release(...started: readonly (Started | undefined)[]): Promise<void> {
  for (const resource of started) {
    if (resource === undefined) continue;
    await ('stop' in resource ? resource.stop() : resource.close());
  }
}

/** Removes a temporary directory, if `beforeAll` got as far as making it. */
export async function removeDirectory(path: string | undefined): Promise<void> {
  if (path !== undefined) await rm(path, { recursive: true, force: true });
}
