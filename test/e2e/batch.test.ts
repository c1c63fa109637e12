/**
 * Batch API mode through the CLI against the simulator's Files and Batch APIs: a completed run gives the same
 * choices as a synchronous one; line errors, an expiry with partial results, a validation failure, an all-failed
 * batch, Ctrl-C (detach) and `evalrun cancel`; kill -9 at each step of the never-pay-twice protocol, then --resume:
 * the choices equal an uninterrupted run's and the simulator computed each request once.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { cleanEnv, runCli, runMain } from '../helpers/cli.js';
import { choices, config, latest, manifest, providerBatches, records, rows, spawnRun, waitFor } from '../helpers/batch.js';
import { countLines } from '../helpers/run-process.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const ROWS = 12;
const CELLS = 4;
const REQUESTS = ROWS * CELLS;

let sim: RunningSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

// Batches here take 60 ms, checked every 20 ms: each is still seen running for a few polls before it completes. Only
// the tests that interrupt a run while its batches run ask for longer ones.
const BATCH = 'batch: { poll_s: 0.02, max_requests: 10 }\n';
const DURATION_MS = 60;

/** The simulator's batch clock runs `ahead` ms ahead of the wall clock: a test moves it on to end long batches. */
let ahead = 0;
const simClock = () => Date.now() + ahead;
const HOUR_MS = 3_600_000;

async function setup(simOptions: SimulatorOptions, extra = BATCH): Promise<{ cfg: string; base: string; env: NodeJS.ProcessEnv; sim: RunningSimulator }> {
  const base = await tempDir('evalrun-batch-');
  await writeTree(base, { 'rows.jsonl': rows(ROWS), 'evalrun.yaml': config(extra) });
  sim = await startSimulator({ seed: 5, ...simOptions, batch: { duration_ms: DURATION_MS, ...simOptions.batch } }, { now: simClock });
  return { cfg: join(base, 'evalrun.yaml'), base, env: cleanEnv({ OPENAI_BASE_URL: sim.url, OPENAI_API_KEY: 'sk-test' }), sim };
}

function expectComputedOnce(s: RunningSimulator): void {
  const counts = s.stats.batchComputed;
  expect(Object.keys(counts).length).toBe(REQUESTS);
  expect(Object.entries(counts).filter(([, n]) => n !== 1)).toEqual([]);
}

describe('evalrun run with batch mode', () => {
  it('completes: same choices as a synchronous run, latency empty, batches and half price recorded', async () => {
    const { cfg, base, env, sim: s } = await setup({});
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/batches: .*completed {2}requests: 48 done, 0 failed, 0 in batches/);
    const recs = await records(out);
    expect(recs).toHaveLength(REQUESTS);
    expect(recs.every((x) => x.latency_ms === null && x.error === null)).toBe(true);
    expectComputedOnce(s);
    const m = await manifest(out);
    // 2 models × 24 requests, ≤ 10 a file: 3 files per model.
    expect(m.batch!.parts).toHaveLength(6);
    for (const p of m.batch!.parts) {
      expect(p).toMatchObject({ state: 'done', status: 'completed', attempt: 1 });
      expect(p.batch_id).toMatch(/^batch_/);
      expect(p.request_counts!.completed).toBe(p.requests);
      expect(p.created_at && p.ended_at).toBeTruthy();
    }
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.cost.batch).toBe(true);
    expect(r.stdout).toContain('Batch API: half the list price');

    // The same config without batch mode, on a fresh simulator with the same seed: the same choices.
    const syncOut = join(base, 'sync');
    await s.close();
    sim = await startSimulator({ seed: 5 });
    await writeFile(cfg, config(''));
    const sync = await runMain(['run', cfg, '--out', syncOut, '--quiet'], { ...env, OPENAI_BASE_URL: sim.url });
    expect(sync.code, sync.stderr).toBe(0);
    expect(await choices(out)).toEqual(await choices(syncOut));
    const syncCost = JSON.parse(await readFile(join(syncOut, 'summary.json'), 'utf8')).cost;
    expect(summary.cost.cost_usd).toBeCloseTo(syncCost.cost_usd / 2, 5);
    // Each record names the batch that answered it; the cells' costs in stats.csv are at the batch price too.
    const batchIds = new Set(m.batch!.parts.map((p) => p.batch_id));
    expect(recs.every((x) => batchIds.has((x as { batch_id?: string }).batch_id))).toBe(true);
    const cellCost = async (dir: string) => (parse(await readFile(join(dir, 'stats.csv'), 'utf8'), { bom: true, columns: true }) as Array<{ cost_usd: string }>).reduce((sum, c) => sum + Number(c.cost_usd), 0);
    expect(await cellCost(out)).toBeCloseTo((await cellCost(syncOut)) / 2, 5);
    // `evalrun report` prices it the same from run.json.
    const rep = await runMain(['report', out], env);
    expect(rep.code, rep.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')).cost.cost_usd).toBe(summary.cost.cost_usd);
  });

  it.each([
    ['whose creation answer was lost (it may exist all the same)', {}],
    ['whose creation was answered by a gateway 502 after it was created', { status: 502 }],
  ] as const)('adopts a batch %s instead of creating another', async (_what, lost) => {
    const { cfg, base, env, sim: s } = await setup({ batch: { lose_create_answer: { times: 1, ...lost } } });
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    // As many batches at the provider as parts in run.json: the one whose answer was lost was looked up by its
    // metadata and adopted, not created twice.
    const parts = (await manifest(out)).batch!.parts;
    expect((await providerBatches(s)).map((b) => b.id).sort()).toEqual(parts.map((p) => p.batch_id).sort());
    expect(await records(out)).toHaveLength(REQUESTS);
    expectComputedOnce(s);
  });

  it('a batch run does not load the synchronous HTTP pool (undici); a synchronous run does', async () => {
    const { cfg, base, env } = await setup({});
    // A preload in the child process that says at exit whether undici (CommonJS, so in require.cache) was loaded. A
    // module hook that refuses undici would say it too, but runs every import through a thread of its own.
    const probe = join(base, 'probe.cjs');
    await writeFile(probe, "process.on('exit', () => process.stderr.write(Object.keys(require.cache).some((k) => /[\\\\/]node_modules[\\\\/]undici[\\\\/]/.test(k)) ? 'undici: loaded' : 'undici: not loaded'));\n");
    const withProbe = { ...env, NODE_OPTIONS: `--require=${probe}` };
    // The probe bites: the same config without batch mode opens the pool. The two processes are independent: they
    // run side by side.
    const syncCfg = join(base, 'sync.yaml');
    await writeFile(syncCfg, config());
    const [batch, sync] = await Promise.all([
      runCli(['run', cfg, '--out', join(base, 'batch'), '--quiet'], { env: withProbe }),
      runCli(['run', syncCfg, '--out', join(base, 'sync'), '--quiet'], { env: withProbe }),
    ]);
    expect(batch.code, batch.stderr).toBe(0);
    expect(countLines(join(base, 'batch', 'records.jsonl'))).toBe(REQUESTS);
    expect(batch.stderr).toMatch(/undici: not loaded$/);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stderr).toMatch(/undici: loaded$/);
  });

  it('--batch turns it on; plan --batch prices at half', async () => {
    // With no batch options poll_s is the default 30 s, whose first wait is 1 s: batches done as soon as they are
    // created spare it.
    const { cfg, base, env, sim: s } = await setup({ batch: { duration_ms: 0 } }, '');
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out, '--batch', '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(s.stats.batchLines).toBe(REQUESTS);
    expect((await manifest(out)).batch!.parts.length).toBeGreaterThan(0);
    const full = JSON.parse((await runMain(['plan', cfg, '--json'], env)).stdout).cost;
    const half = JSON.parse((await runMain(['plan', cfg, '--json', '--batch'], env)).stdout).cost;
    expect(half.batch).toBe(true);
    expect(half.max_cost_usd).toBeCloseTo(full.max_cost_usd / 2, 12);
  });

  it('line errors: 5xx lines are retried in new batches', async () => {
    const { cfg, base, env } = await setup({ batch: { faults: { server_error: 0.3 } } });
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    const m = await manifest(out);
    expect(m.batch!.parts.some((p) => p.attempt > 1)).toBe(true);
    const by = await latest(out);
    expect(by.size).toBe(REQUESTS);
    const retried = [...by.values()].filter((x) => x.attempts > 1);
    expect(retried.length).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe([...by.values()].some((x) => x.error) ? 1 : 0);
  });

  it('a 4xx line becomes an error record with the API message, not retried', async () => {
    // extra_body is sent as written: the API refuses the temperature.
    const { cfg, base, env, sim: s } = await setup({}, `${BATCH}extra_body: { temperature: 7 }\n`);
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(1);
    const by = await latest(out);
    expect(by.size).toBe(REQUESTS);
    for (const rec of by.values()) {
      expect(rec.error!.status).toBe(400);
      expect(rec.error!.message).toMatch(/temperature/);
      expect(rec.attempts).toBe(1);
    }
    expect(Object.values(s.stats.batchComputed).every((n) => n === 1)).toBe(true);
  });

  it('expiry with partial results: the finished lines are kept, the rest go in a new batch, each computed once', async () => {
    const { cfg, base, env, sim: s } = await setup({ batch: { expire: { times: 1, after: 0.5 } } });
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    const m = await manifest(out);
    const expired = m.batch!.parts.find((p) => p.status === 'expired')!;
    expect(expired.request_counts!.completed).toBeGreaterThan(0);
    expect(expired.request_counts!.completed).toBeLessThan(expired.requests);
    const retry = m.batch!.parts.find((p) => p.attempt === 2)!;
    expect(retry.requests).toBe(expired.request_counts!.failed);
    expect((await latest(out)).size).toBe(REQUESTS);
    expectComputedOnce(s);
  });

  it('a batch that fails validation (token_limit_exceeded) is submitted again', async () => {
    const { cfg, base, env, sim: s } = await setup({ batch: { fail_validation: { times: 1 } } });
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/failed validation \(token_limit_exceeded: Enqueued token limit/);
    const m = await manifest(out);
    const failed = m.batch!.parts.filter((p) => p.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.errors![0]!.code).toBe('token_limit_exceeded');
    const again = m.batch!.parts.find((p) => p.attempt === 2 && p.file === failed[0]!.file)!;
    expect(again.status).toBe('completed');
    expectComputedOnce(s);
  });

  it('an all-failed batch: every request retried within retry.max_attempts, then recorded as failed (exit 1)', async () => {
    const { cfg, base, env } = await setup({ batch: { faults: { server_error: 1 } } });
    const out = join(base, 'out');
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(1);
    const by = await latest(out);
    expect(by.size).toBe(REQUESTS);
    for (const rec of by.values()) {
      expect(rec.attempts).toBe(3);
      expect(rec.error!.status).toBe(500);
    }
    expect(Math.max(...(await manifest(out)).batch!.parts.map((p) => p.attempt))).toBe(3);
  });
});

describe('batch mode: bad input', () => {
  it('a bad batch option is a located config error (exit 3), nothing sent', async () => {
    const { cfg, base, env, sim: s } = await setup({}, 'batch: { poll_s: 0, max_requests: 60000 }\n');
    const r = await runMain(['run', cfg, '--out', join(base, 'out')], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/evalrun\.yaml:\d+:\d+ batch/);
    expect(s.stats.batchLines).toBe(0);
  });

  it('evalrun cancel of a run with no live batch, or of a synchronous run, is a usage error (exit 2)', async () => {
    const { cfg, base, env } = await setup({});
    const done = join(base, 'done');
    expect((await runMain(['run', cfg, '--out', done, '--quiet'], env)).code).toBe(0);
    const c = await runMain(['cancel', done], env);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/has no live batches to cancel/);
    await writeFile(cfg, config(''));
    const sync = join(base, 'sync');
    expect((await runMain(['run', cfg, '--out', sync, '--quiet'], env)).code).toBe(0);
    const c2 = await runMain(['cancel', sync], env);
    expect(c2.code).toBe(2);
    expect(c2.stderr).toMatch(/is not a Batch API run/);
  });
});

describe('batch mode with shards', () => {
  it('two batch shards merged give the whole batch run; each request computed once', async () => {
    const { cfg, base, env, sim: s } = await setup({});
    const whole = join(base, 'whole');
    expect((await runMain(['run', cfg, '--out', whole, '--quiet'], env)).code).toBe(0);
    await s.close();
    sim = await startSimulator({ seed: 5, batch: { duration_ms: DURATION_MS } });
    const env2 = { ...env, OPENAI_BASE_URL: sim.url };
    const dirs = [join(base, 's1'), join(base, 's2')];
    for (const [i, d] of dirs.entries()) {
      const r = await runMain(['run', cfg, '--shard', `${i + 1}/2`, '--out', d, '--quiet'], env2);
      expect(r.code, r.stderr).toBe(0);
      expect((await manifest(d)).batch!.parts.length).toBeGreaterThan(0);
    }
    const merged = join(base, 'merged');
    expect((await runMain(['merge', ...dirs, '--out', merged], env2)).code).toBe(0);
    expect(await choices(merged)).toEqual(await choices(whole));
    const cost = (d: string) => readFile(join(d, 'summary.json'), 'utf8').then((t) => JSON.parse(t).cost);
    expect(await cost(merged)).toMatchObject({ batch: true, cost_usd: (await cost(whole)).cost_usd });
    expect((await manifest(merged)).batch!.parts.length).toBe((await manifest(dirs[0]!)).batch!.parts.length + (await manifest(dirs[1]!)).batch!.parts.length);
    expectComputedOnce(sim);
  });
});

/** run.json shows every part's batch id: all six batches exist at the provider and the run is polling them. */
const allSubmitted = async (out: string) => (await manifest(out).catch(() => undefined))?.batch?.parts.filter((p) => p.batch_id).length === 6;

describe('batch runs interrupted', () => {
  /** The choices of an uninterrupted batch run: computed by whichever test needs them first, then shared. */
  let whole: Promise<string[][]> | undefined;
  function baseline(): Promise<string[][]> {
    whole ??= (async () => {
      const base = await tempDir('evalrun-batch-whole-');
      await writeTree(base, { 'rows.jsonl': rows(ROWS), 'evalrun.yaml': config(BATCH) });
      const own = await startSimulator({ seed: 5, batch: { duration_ms: DURATION_MS } });
      try {
        const out = join(base, 'whole');
        const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', out, '--quiet'], cleanEnv({ OPENAI_BASE_URL: own.url, OPENAI_API_KEY: 'sk-test' }));
        expect(r.code, r.stderr).toBe(0);
        return await choices(out);
      } finally {
        await own.close();
      }
    })();
    return whole;
  }

  it.each(['after-upload', 'after-create', 'ingesting'])('kill -9 %s, then --resume: same choices, each request computed once', async (point) => {
    const whole = await baseline();
    const { cfg, base, env, sim: s } = await setup({});
    const out = join(base, 'killed');
    const run = spawnRun(['run', cfg, '--out', out], { ...env, EVALRUN_TEST_PAUSE_AT: point });
    await run.until(new RegExp(`evalrun test pause: ${point}`));
    run.child.kill('SIGKILL');
    expect((await run.closed).signal).toBe('SIGKILL');
    const r = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    if (point === 'after-create') expect(r.stderr).toMatch(/found batch batch_\w+, created before the last session stopped; adopted it/);
    expect(await choices(out)).toEqual(whole);
    expectComputedOnce(s);
  });

  it('kill -9 while polling, then --resume polls the recorded batches', async () => {
    const whole = await baseline();
    // The six batches run until the test moves the simulator's clock on: all still running when the kill lands,
    // however slow the machine.
    const { cfg, base, env, sim: s } = await setup({ batch: { duration_ms: HOUR_MS } });
    const out = join(base, 'killed');
    const run = spawnRun(['run', cfg, '--out', out], env);
    await waitFor(() => allSubmitted(out));
    run.child.kill('SIGKILL');
    await run.closed;
    // The kill came while it polled: every part submitted, none finished, nothing recorded yet.
    expect((await manifest(out)).batch!.parts.map((p) => p.state)).toEqual(Array(6).fill('submitted'));
    expect(countLines(join(out, 'records.jsonl'))).toBe(0);
    ahead += HOUR_MS;
    const r = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(await choices(out)).toEqual(whole);
    expectComputedOnce(s);
  });

  it('evalrun cancel of a batch still validating records nothing; the resume submits every request once', async () => {
    // Validating takes a tenth of a batch's duration: 2 s here, while the cancel lands within a few hundred ms.
    const { cfg, base, env, sim: slow } = await setup({ batch: { duration_ms: 20_000 } });
    const out = join(base, 'out');
    const run = spawnRun(['run', cfg, '--out', out], { ...env, EVALRUN_TEST_PAUSE_AT: 'after-create' });
    await run.until(/evalrun test pause: after-create/);
    run.child.kill('SIGKILL');
    await run.closed;
    const c = await runMain(['cancel', out], env);
    expect(c.code, c.stderr).toBe(0);
    const cancelled = (await manifest(out)).batch!.parts;
    expect(cancelled.map((p) => [p.state, p.status, p.request_counts?.completed])).toEqual([['done', 'cancelled', 0]]);
    // The batch ran none of its lines: none was paid for, none is recorded (as failed or otherwise).
    expect(slow.stats.batchLines).toBe(0);
    expect(countLines(join(out, 'records.jsonl'))).toBe(0);
    await slow.close();
    sim = await startSimulator({ seed: 5, batch: { duration_ms: DURATION_MS } });
    const r = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], { ...env, OPENAI_BASE_URL: sim.url });
    expect(r.code, r.stderr).toBe(0);
    expect(await choices(out)).toEqual(await baseline());
    expectComputedOnce(sim);
  });

  it('Ctrl-C while polling detaches (exit 130, the resume command); evalrun cancel cancels and records what finished', async () => {
    // Only the six batches of the first session are slow: the resume's batches finish at once.
    const { cfg, base, env, sim: s } = await setup({ batch: { slow: { times: 6, duration_ms: 4000 } } });
    const out = join(base, 'out');
    const run = spawnRun(['run', cfg, '--out', out], env);
    await waitFor(() => allSubmitted(out));
    run.child.kill('SIGINT');
    expect((await run.closed).code).toBe(130);
    expect(run.stderr()).toMatch(/detaching from the batches \(they keep running at the provider\)\. Resume with: evalrun run .* --out .* --resume/);
    // Still running at the provider.
    const before = await manifest(out);
    expect(before.batch!.parts.every((p) => p.state === 'submitted')).toBe(true);
    // Every batch has answered some of its lines and has more to go: the cancel has finished work to record and
    // unfinished work to leave to the resume.
    await waitFor(async () => (await providerBatches(s)).every((b) => b.status === 'in_progress' && b.request_counts.completed > 0));
    const c = await runMain(['cancel', out], env);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/Cancelled\. \d+ of 48 requests are recorded/);
    const m = await manifest(out);
    expect(m.batch!.parts.every((p) => p.state === 'done' && p.status === 'cancelled')).toBe(true);
    const finished = m.batch!.parts.reduce((n, p) => n + p.request_counts!.completed, 0);
    expect(finished).toBeGreaterThan(0);
    const by = await latest(out);
    // What finished is recorded; what was cancelled before it ran is not, so a resume submits it, once.
    expect(by.size).toBe(finished);
    expect([...by.values()].every((x) => !x.error)).toBe(true);
    const r = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expectComputedOnce(s);
  });
});
