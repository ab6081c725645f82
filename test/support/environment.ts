import type { Environment } from '../../src/app/ambassador.ts';

/** What an in-process ambassador reads from outside the process: nothing of this machine's. */
export const TEST_ENVIRONMENT: Environment = {
  env: {},
  homeDir: '/nonexistent',
  constrainedMemoryBytes: 0,
  totalMemoryBytes: 2 ** 34,
  sampleMemory: () => ({ rssBytes: 0, heapUsedBytes: 0, heapLimitBytes: 2 ** 31 }),
  version: 'test',
};
