/** Temporary directories under os.tmpdir(), removed after the test file. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

/** Call at the top level of a test file; returns a maker of fresh temp dirs that are all removed afterwards. */
export function useTempDirs(): (prefix?: string) => Promise<string> {
  const made: string[] = [];
  afterAll(async () => {
    await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
  });
  return async (prefix = 'evalrun-test-') => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}

/** Write `{ 'a/b.csv': text }` under `dir`, creating folders; returns the absolute paths by name. */
export async function writeTree(dir: string, files: Record<string, string | Buffer>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    out[name] = path;
  }
  return out;
}
