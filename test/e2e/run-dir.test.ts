import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { runEval } from '../../src/index.js';
import { existsSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'evalrun-rundir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('evalrun run without --out', () => {
  it('gives two runs started in the same second their own directories under ./results', async () => {
    writeFileSync(join(dir, 'rows.csv'), 'id,text\n1,hello\n2,world\n');
    writeFileSync(
      join(dir, 'evalrun.yaml'),
      ['name: twins', 'dataset: rows.csv', 'id_column: id', 'messages: [{ role: user, content: "{{text}}" }]', 'params: { model: gpt-4o-mini }', 'provider: simulator'].join('\n'),
    );
    const [a, b] = await Promise.all([runCli(['run', 'evalrun.yaml', '--quiet'], { cwd: dir }), runCli(['run', 'evalrun.yaml', '--quiet'], { cwd: dir })]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const runs = readdirSync(join(dir, 'results'));
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run).toMatch(/^twins-\d{8}-\d{6}(-\d+)?$/);
  });
});

describe('runEval interrupted before the first request', () => {
  it('throws exit 130 and creates no run directory', async () => {
    writeFileSync(join(dir, 'rows2.csv'), 'id,text\n1,hello\n');
    const config = { dataset: 'rows2.csv', id_column: 'id', messages: [{ role: 'user', content: '{{text}}' }], params: { model: 'gpt-4o-mini' }, provider: 'simulator' as const };
    const stop = new AbortController();
    stop.abort();
    const out = join(dir, 'never');
    const error = await runEval({ config, baseDir: dir, out, signal: stop.signal }).catch((e: unknown) => e);
    expect((error as { exitCode?: number }).exitCode).toBe(130);
    expect(existsSync(out)).toBe(false);
  });
});
