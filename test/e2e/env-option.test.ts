/** runEval reads the environment it is given (`env`), never this process's behind the caller's back. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEval } from '../../src/index.js';
import { ROOT } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

describe('runEval({ env })', () => {
  it('puts the response cache where env.EVALRUN_CACHE_DIR says, though process.env says otherwise', async () => {
    const mine = await tempDir();
    const other = await tempDir();
    const before = process.env['EVALRUN_CACHE_DIR'];
    process.env['EVALRUN_CACHE_DIR'] = other;
    try {
      const result = await runEval({
        config: join(ROOT, 'test/fixtures/configs/sim-json.yaml'),
        out: join(await tempDir(), 'run'),
        cache: true,
        env: { EVALRUN_CACHE_DIR: mine },
      });
      expect(result.summary.recorded.requests).toBe(40);
    } finally {
      if (before === undefined) delete process.env['EVALRUN_CACHE_DIR'];
      else process.env['EVALRUN_CACHE_DIR'] = before;
    }
    expect(readdirSync(mine, { recursive: true }).length).toBeGreaterThan(0);
    expect(existsSync(other) ? readdirSync(other) : []).toEqual([]);
  });
});
