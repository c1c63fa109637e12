/** The library API in-process: `import { runEval } from 'evalrun'` does what `evalrun run` does. */
import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode, OutputError, prepareRun, runEval, startSimulator, type ConfigFile, type RequestRecord } from '../../src/index.js';
import { expectStatsMatchChoices, readRunDir, RUN_FILES } from '../helpers/run-dir.js';
import { useTempDirs } from '../helpers/tmp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tempDir = useTempDirs();

describe('runEval', () => {
  it('runs a config file in-process and returns the summary it wrote', async () => {
    const out = join(await tempDir(), 'run');
    const seen: RequestRecord[] = [];
    let started: { dir: string; plan: { requests: number } } | undefined;
    const result = await runEval({
      config: join(FIXTURES, 'configs/sim-json.yaml'),
      out,
      env: {},
      reporter: { onStart: (info) => (started = info), onRecord: (r) => seen.push(r) },
    });
    expect(result.exitCode).toBe(ExitCode.Ok);
    expect(result.status).toBe('complete');
    expect(result.dir).toBe(out);
    expect(result.error).toBeUndefined();
    expect(started).toMatchObject({ dir: out, plan: { requests: 40 } });
    expect(seen).toHaveLength(40);
    expect(new Set(seen.map((r) => r.seq))).toEqual(new Set([...Array(40).keys()]));
    expect(result.summary.recorded).toEqual({ requests: 40, choices: 80, failed_requests: 0, failed_choices: 0 });
    expect(await readdir(out)).toEqual(expect.arrayContaining([...RUN_FILES]));
    const files = await readRunDir(out);
    expect(files.summary).toEqual(JSON.parse(JSON.stringify(result.summary)));
    expectStatsMatchChoices(files.stats, files.choices);
  });

  it('builds choices.csv while a fresh run runs, and derives it from records.jsonl for a resumed run', async () => {
    const out = join(await tempDir(), 'run');
    const config = join(FIXTURES, 'configs/sim-json.yaml');
    const building = (names: string[]) => names.filter((n) => /^choices\.csv\.live-\d+$/.test(n));
    const stop = new AbortController();
    const during: string[][] = [];
    const first = await runEval({
      config,
      out,
      env: {},
      signal: stop.signal,
      reporter: {
        onRecord: () => {
          during.push(readdirSync(out));
          if (during.length === 10) stop.abort();
        },
      },
    });
    expect(first.status).toBe('interrupted');
    // The live pass was writing choices.csv as records came in; interrupted, it gave way to the pass over the journal.
    expect(during.some((names) => building(names).length === 1)).toBe(true);
    expect(building(readdirSync(out))).toEqual([]);
    const resumedDuring: string[][] = [];
    const resumed = await runEval({ config, out, env: {}, resume: true, reporter: { onRecord: () => resumedDuring.push(readdirSync(out)) } });
    expect(resumed.status).toBe('complete');
    expect(resumedDuring.length).toBeGreaterThan(0);
    expect(resumedDuring.every((names) => building(names).length === 0)).toBe(true);
    expect(resumed.summary.recorded).toEqual({ requests: 40, choices: 80, failed_requests: 0, failed_choices: 0 });
  });

  it('takes the config as an object, with paths relative to baseDir', async () => {
    const config: ConfigFile = {
      name: 'inline',
      dataset: 'datasets/tickets.jsonl',
      id_column: 'ticket_id',
      messages: [{ role: 'user', content: 'Reply in JSON about: {{subject}}' }],
      params: { model: 'gpt-4.1-mini', n: 2, response_format: { type: 'json_object' } },
      provider: 'simulator',
    };
    const out = join(await tempDir(), 'run');
    const result = await runEval({ config, baseDir: FIXTURES, out, env: {} });
    expect(result.exitCode).toBe(0);
    expect(result.summary.name).toBe('inline');
    expect(result.summary.recorded.choices).toBe(3 * 2);
    expect(result.summary.cells[0]).toMatchObject({ cell: 'gpt-4.1-mini/n2', json_checked: 6 });
  });

  it('talks to any OpenAI-compatible base_url, e.g. a simulator the caller started', async () => {
    const sim = await startSimulator({ seed: 3 });
    try {
      const out = join(await tempDir(), 'run');
      const result = await runEval({
        config: {
          dataset: 'datasets/tickets.csv',
          messages: [{ role: 'user', content: '{{subject}}' }],
          params: { model: 'gpt-4o', temperature: 0.3 },
          provider: { base_url: sim.url },
        },
        baseDir: FIXTURES,
        out,
        env: { OPENAI_API_KEY: 'sk-test' },
      });
      expect(result.exitCode).toBe(0);
      expect(sim.stats.completions).toBe(5);
      const { manifest } = await readRunDir(out);
      expect(manifest).toMatchObject({ provider: { kind: 'openai', base_url: sim.url } });
    } finally {
      await sim.close();
    }
  });

  it('refuses to write into an existing run directory', async () => {
    const out = join(await tempDir(), 'run');
    const options = { config: join(FIXTURES, 'configs/sim-text.yaml'), out, env: {} };
    await runEval(options);
    await expect(runEval(options)).rejects.toBeInstanceOf(OutputError);
  });
});

describe('prepareRun', () => {
  it('checks everything and plans without sending', async () => {
    const { plan, cells, config } = await prepareRun({ config: join(FIXTURES, 'configs/sim-json.yaml') });
    expect(config.name).toBe('sim-json');
    expect(cells.map((c) => c.id)).toContain('gpt-4o-mini/t1.4/n3/max_tokens=3');
    expect(plan).toMatchObject({ rows: 5, requests: 40, choices: 80 });
  });
});
