/**
 * The reliability suite (`npm run test:reliability`): separate from `npm test` because it runs
 * for minutes, and sequential because its cases measure time and memory on a 2-core machine.
 */
import path from 'node:path';
import { defineConfig } from 'vitest/config';

const root = path.resolve(import.meta.dirname, '../..');

export default defineConfig({
  test: {
    root,
    include: ['test/reliability/**/*.reliability.ts'],
    fileParallelism: false,
    pool: 'forks',
    // The abuse case measures the fuzzer's own heap after collecting garbage.
    execArgv: ['--expose-gc'],
    testTimeout: 20 * 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/reliability/harness/global-setup.ts'],
    reporters: ['default', './test/reliability/harness/reporter.ts'],
  },
});
