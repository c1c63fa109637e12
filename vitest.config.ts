import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The machines have 2 cores; e2e tests spawn the CLI and a simulator, so keep parallelism modest.
    maxWorkers: 2,
    // Test files share a worker's module cache instead of importing src (the SDK, ajv, yargs) afresh each: no file
    // mocks a module, and the few spies and fake timers are restored after each test. Figures in docs/decisions.md.
    isolate: false,
    reporters: ['default', './test/support/summary-line.ts'],
  },
});
