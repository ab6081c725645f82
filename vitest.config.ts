import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // In CI, also write the counts that .ci/run prints as its last line.
    reporters: process.env['CI'] ? ['default', 'json'] : ['default'],
    outputFile: { json: '.ci/vitest-results.json' },
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary'],
      // Code run by the test processes; the ambassadors the integration tests spawn are not
      // counted. The whole suite measured 77.8% statements, 74.9% branches, 74.2% functions and
      // 78.7% lines on 2026-12-03; each threshold is the whole percent below, with one more for
      // functions, where a timing-dependent path or two is 0.2%. Raise them, never lower.
      thresholds: { statements: 77, branches: 74, functions: 73, lines: 78 },
    },
  },
});
