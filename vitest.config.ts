import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Test files that replace a module (`vi.mock`) need a module cache of their own: with a shared one the module may
 * already be loaded, unmocked, by an earlier file. Found by reading the files, so a new one is isolated unasked.
 */
function mockingFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...mockingFiles(path));
    else if (entry.name.endsWith('.test.ts') && readFileSync(path, 'utf8').includes('vi.mock(')) out.push(path);
  }
  return out;
}
const MOCKING = mockingFiles('test');

/**
 * The tests write thousands of small run directories and journals: on a memory file system that costs a fraction of
 * the kernel time a disk does (figures in docs/decisions.md). Used only when it has room and the user named no
 * TMPDIR; the workers, the CLIs they spawn and Chromium inherit it.
 */
function memoryTmpdir(): string | undefined {
  if (process.env['TMPDIR'] || process.platform !== 'linux') return undefined;
  try {
    const fs = statfsSync('/dev/shm');
    return fs.bavail * fs.bsize >= 2 ** 31 ? '/dev/shm' : undefined;
  } catch {
    return undefined;
  }
}
const tmp = memoryTmpdir();
if (tmp) process.env['TMPDIR'] = tmp;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The machines have 2 cores, but e2e tests wait on child processes and simulated batches: a third worker fills
    // those waits; a fourth only adds its own start-up (figures in docs/decisions.md).
    maxWorkers: 3,
    reporters: ['default', './test/support/summary-line.ts'],
    projects: [
      // Test files share a worker's module cache instead of importing src (the SDK, ajv, yargs) afresh each; the few
      // spies and fake timers are restored after each test. Figures in docs/decisions.md.
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: MOCKING, isolate: false } },
      ...(MOCKING.length > 0 ? [{ extends: true as const, test: { name: 'isolated', include: MOCKING, isolate: true } }] : []),
    ],
  },
});
