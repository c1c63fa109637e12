/** The library side of issue #10: `runEval({ retryErrors })`, and the run directory lock between two calls. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { ExitCode, RunLockedError, runEval, writeReports, type ConfigFile, type RequestRecord } from '../../src/index.js';
import { failedRecord } from '../helpers/records.js';
import { useTempDirs } from '../helpers/tmp.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const CONFIG = join(FIXTURES, 'configs/sim-json.yaml');
const tempDir = useTempDirs();

describe('runEval({ retryErrors })', () => {
  it('sends again exactly the requests whose latest record failed, and every output uses the new records', async () => {
    const out = join(await tempDir(), 'run');
    const first = await runEval({ config: CONFIG, out, env: {} });
    expect(first.exitCode).toBe(ExitCode.Ok);
    // Three requests failed when they were first sent (a wrong URL, an outage): their records say so.
    const journal = join(out, 'records.jsonl');
    const records = (await readFile(journal, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RequestRecord);
    const failedSeqs = [2, 17, 39];
    await writeFile(journal, records.map((r) => JSON.stringify(failedSeqs.includes(r.seq) ? failedRecord(r.seq, { cell: r.cell, row_id: r.row_id }) : r)).join('\n') + '\n');
    const broken = await writeReports(out);
    expect(broken.recorded.failed_requests).toBe(3);

    const resent: number[] = [];
    let already = -1;
    const retried = await runEval({ config: CONFIG, out, env: {}, retryErrors: true, reporter: { onStart: (i) => (already = i.alreadyRecorded), onRecord: (r) => resent.push(r.seq) } });
    expect(already).toBe(37);
    expect(resent.sort((a, b) => a - b)).toEqual(failedSeqs);
    expect(retried.exitCode).toBe(ExitCode.Ok);
    expect(retried.summary.recorded).toEqual({ requests: 40, choices: 80, failed_requests: 0, failed_choices: 0 });
    expect((await readFile(journal, 'utf8')).trim().split('\n')).toHaveLength(43);
    // The same choices as the run that never failed (the simulator is deterministic for a request and seed).
    const counts = (cells: typeof first.summary.cells) =>
      cells.map((c) => [c.cell, c.requests, c.choices, c.stop, c.length, c.content_filter, c.error, c.json_valid, c.schema_valid, c.failed_requests, c.prompt_tokens, c.completion_tokens]);
    expect(counts(retried.summary.cells)).toEqual(counts(first.summary.cells));
  });
});

describe('two runEval calls on one directory', () => {
  it('refuses the second with RunLockedError (exit code 75) while the first runs', async () => {
    const out = join(await tempDir(), 'run');
    // Slow answers (40 requests × 200 ms over 4 slots): the first run is surely still going when the second starts.
    const slow = { ...(parse(await readFile(CONFIG, 'utf8')) as ConfigFile), provider: { simulator: { latency: 200 } } } as ConfigFile;
    const options = { config: slow, baseDir: join(FIXTURES, 'configs'), out, env: {} };
    const stop = new AbortController();
    let second: unknown;
    const first = await runEval({
      ...options,
      signal: stop.signal,
      reporter: {
        onRecord: () => {
          if (second !== undefined || stop.signal.aborted) return;
          second = 'pending';
          void runEval({ ...options, resume: true }).then(
            () => (second = 'ran'),
            (e: unknown) => {
              second = e;
              stop.abort();
            },
          );
        },
      },
    });
    expect(second).toBeInstanceOf(RunLockedError);
    expect((second as RunLockedError).exitCode).toBe(75);
    expect(first.status).toBe('interrupted');
  });
});

describe('a second Ctrl-C before the journal is open', () => {
  it('leaves run.json interrupted (not running) and throws nothing inside the abort listener', async () => {
    const { Journal } = await import('../../src/record/journal.js');
    const out = join(await tempDir(), 'run');
    const soft = new AbortController();
    const hard = new AbortController();
    const open = Journal.open.bind(Journal);
    // The two Ctrl-Cs land in the window after run.json is written and before records.jsonl is open.
    const spy = vi.spyOn(Journal, 'open').mockImplementation(async (...args: Parameters<typeof Journal.open>) => {
      soft.abort();
      hard.abort();
      return open(...args);
    });
    const thrown: unknown[] = [];
    const onUncaught = (e: unknown) => thrown.push(e);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const result = await runEval({ config: CONFIG, out, env: {}, signal: soft.signal, abortSignal: hard.signal });
      expect(result.exitCode).toBe(ExitCode.Interrupted);
    } finally {
      spy.mockRestore();
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(thrown).toEqual([]);
    const manifest = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { status: string };
    expect(manifest.status).toBe('interrupted');
  });
});
