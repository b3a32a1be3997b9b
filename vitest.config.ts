import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // CI also keeps a machine-readable report, summarised by .ci/run.
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: '.ci-results/vitest.json' }]]
      : ['default'],
  },
});
