import { expect, it } from 'vitest';
import { nodeVersionProblem } from '../../src/config/node-version.ts';

it.each<[string, boolean]>([
  ['v24.0.0', true],
  ['v24.21.0', true],
  ['v25.1.0', true],
  ['v100.0.0', true],
  ['v23.11.1', false],
  ['v20.20.2', false],
  ['v8.17.0', false],
  ['garbage', false],
])('Node.js %s can run the ambassador: %s', (version, runs) => {
  const problem = nodeVersionProblem(version, '/usr/bin/node');
  expect(problem === undefined).toBe(runs);
  if (!runs)
    expect(problem).toBe(
      `needs Node.js 24 or later, and /usr/bin/node is ${version}. From a clone, npx kube-api-ambassador runs it on the project's own Node.js (npm ci installs it)`,
    );
});
