/**
 * The Node.js the ambassador needs. Checked at start because a clone's `./dist/main.js` runs on
 * whatever `node` is first on the PATH, which need not be the project's own.
 */

/** package.json "engines". */
const MINIMUM_NODE_MAJOR = 24;

/** Why this Node.js cannot run the ambassador, or undefined when it can. */
export function nodeVersionProblem(version: string, execPath: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= MINIMUM_NODE_MAJOR) return undefined;
  return (
    `needs Node.js ${MINIMUM_NODE_MAJOR} or later, and ${execPath} is ${version}. ` +
    `From a clone, npx kube-api-ambassador runs it on the project's own Node.js (npm ci installs it)`
  );
}
