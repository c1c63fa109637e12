import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The machines have 2 cores; e2e tests spawn the CLI and a simulator, so keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-line.ts'],
  },
});
