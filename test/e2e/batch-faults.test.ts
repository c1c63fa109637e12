/**
 * Batch mode against servers that are less than perfect (issue: "never pay twice, never hang, always a way out"),
 * through the CLI. The simulator counts, by custom_id, how often each request was submitted in a batch that was to
 * run (`batchSubmitted`) and computed (`batchComputed`): no request is submitted twice unless --retry-errors asks.
 * Every run is bounded in time, and none exits 70.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { cleanEnv, runMain, STACK_LINE, type CliResult } from '../helpers/cli.js';
import { config, latest, manifest, providerBatches, records, rows, spawnRun, waitFor } from '../helpers/batch.js';
import { useTempDirs, writeTree } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const ROWS = 12;
const REQUESTS = ROWS * 4;
const BATCH = 'batch: { poll_s: 0.02, max_requests: 10 }\n';

const sims: RunningSimulator[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function sim(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ seed: 5, ...options, batch: { duration_ms: 60, ...options.batch } });
  sims.push(s);
  return s;
}

async function setup(options: SimulatorOptions, extra = BATCH) {
  const base = await tempDir('evalrun-batch-faults-');
  await writeTree(base, { 'rows.jsonl': rows(ROWS), 'evalrun.yaml': config(extra) });
  const s = await sim(options);
  return { cfg: join(base, 'evalrun.yaml'), base, out: join(base, 'out'), env: cleanEnv({ OPENAI_BASE_URL: s.url, OPENAI_API_KEY: 'sk-test' }), sim: s };
}

/** custom_ids submitted more than once (in batches that were to run). */
const twice = (s: RunningSimulator) => Object.entries(s.stats.batchSubmitted).filter(([, n]) => n > 1);

function expectEachOnce(s: RunningSimulator): void {
  expect(twice(s)).toEqual([]);
  expect(Object.keys(s.stats.batchSubmitted)).toHaveLength(REQUESTS);
  expect(Object.entries(s.stats.batchComputed).filter(([, n]) => n !== 1)).toEqual([]);
}

function expectNoCrash(r: { code: number | null; stderr: string }): void {
  expect(r.code).not.toBe(70);
  expect(r.stderr).not.toMatch(STACK_LINE);
}

describe('1. downloads', () => {
  it('a gateway page, a short file, a line cut in half, a reset, a 502 and a stall are downloaded again: nothing resubmitted, exit 0', async () => {
    const { cfg, out, env, sim: s } = await setup(
      { batch: { download: { html: 1, short: 1, cut: 1, reset: 1, server_error: 1, stall: 1 } } },
      // The stall is noticed after timeout_s without a byte.
      `${BATCH}timeout_s: 0.5\n`,
    );
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expectNoCrash(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/came as a web page \(text\/html\)/);
    expect(r.stderr).toMatch(/the download stalled/);
    expect(r.stderr).toMatch(/has \d+ readable lines where request_counts says \d+; downloading it again/);
    const by = await latest(out);
    expect(by.size).toBe(REQUESTS);
    expect([...by.values()].filter((x) => x.error)).toEqual([]);
    expectEachOnce(s);
    expect((await manifest(out)).status).toBe('complete');
  }, 30_000);

  it('Ctrl-C during a stalled download detaches within a second; the progress line shows the bytes', async () => {
    const { cfg, out, env } = await setup({ batch: { download: { stall: 100 } } }, `${BATCH}timeout_s: 60\n`);
    const run = spawnRun(['run', cfg, '--out', out], env);
    await run.until(/downloading file-\S+ \d+\.\d MB/);
    const t0 = performance.now();
    run.child.kill('SIGINT');
    const closed = await run.closed;
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(closed.code).toBe(130);
    // The part whose results were not read stays live: a resume reads them.
    expect((await manifest(out)).batch!.parts.some((p) => p.state === 'submitted' && p.status === 'completed')).toBe(true);
  }, 30_000);
});

describe('2. results the provider may have charged for', () => {
  it('no output file, a deleted one, missing lines: recorded as batch_result_lost, never resubmitted; --retry-errors sends them', async () => {
    const { cfg, out, env, sim: s } = await setup({ batch: { no_output_file: { times: 1 }, delete_output: { times: 1 }, drop_lines: { times: 1, count: 2 } } });
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expectNoCrash(r);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/output_file_id is null/);
    expect(r.stderr).toMatch(/is gone \(404: deleted or expired\)/);
    expect(twice(s)).toEqual([]);
    const lost = [...(await latest(out)).values()].filter((x) => x.error?.code === 'batch_result_lost');
    // Parts 1 and 2 (10 answered lines each) and the 2 lines left out of part 3.
    expect(lost).toHaveLength(22);
    expect(lost[0]!.error!.message).toMatch(/^batch batch_\w+ \(completed\) ran this request \(it may be billed\) but its answer could not be read/);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.recorded.batch_results_lost).toBe(22);
    expect(summary.recorded.failed_requests).toBe(22);
    const m = await manifest(out);
    expect(m.batch!.parts.reduce((n, p) => n + (p.lost ?? 0), 0)).toBe(22);

    // Only when asked: the lost requests go out again, once.
    const again = await runMain(['run', cfg, '--out', out, '--retry-errors', '--quiet'], env);
    expect(again.code, again.stderr).toBe(0);
    const lostIds = new Set(lost.map((x) => `seq-${x.seq}`));
    expect(Object.entries(s.stats.batchSubmitted).filter(([id, n]) => n !== (lostIds.has(id) ? 2 : 1))).toEqual([]);
    expect([...(await latest(out)).values()].filter((x) => x.error)).toEqual([]);
  }, 30_000);
});

describe("3. someone else's decisions", () => {
  it('a batch cancelled outside the run stops it (exit 7), nothing resubmitted; --resume sends what it never ran', async () => {
    const { cfg, out, env, sim: s } = await setup({ batch: { cancel_external: { times: 1, after: 0.5 } } });
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expectNoCrash(r);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/was cancelled outside this run \(who cancelled it is unknown.*nothing was resubmitted\. Resume with --resume/);
    expect(twice(s)).toEqual([]);
    const m = await manifest(out);
    expect(m.status).toBe('stopped');
    expect(m.exit_code).toBe(7);
    const cancelled = m.batch!.parts.find((p) => p.status === 'cancelled')!;
    expect(cancelled.request_counts!.completed).toBe(5);
    const resumed = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await latest(out)).size).toBe(REQUESTS);
    // The five it never ran were submitted again (unpaid); nothing was computed twice.
    expect(Object.entries(s.stats.batchComputed).filter(([, n]) => n !== 1)).toEqual([]);
    expect(twice(s)).toHaveLength(5);
  }, 30_000);

  it('token_limit_exceeded: a part over the stated limit is split, a refused piece waits (shown in progress)', async () => {
    // Every part (~700 tokens) is over the limit: it is split. Then the first two pieces are refused all the same
    // (fail_validation: the limit is other batches'): they wait, a longer wait each time.
    const { cfg, out, env, sim: s } = await setup({ batch: { token_limit: 500, fail_validation: { times: 2 } } });
    const r = await runMain(['run', cfg, '--out', out], env);
    expectNoCrash(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/tokens exceed the limit, so it is split into parts of \d+ requests/);
    expect(r.stderr).toMatch(/it is submitted again in 0 s \(wait 1 of 8\)/);
    expect(r.stderr).toMatch(/token limit: next try in/);
    expectEachOnce(s);
    expect((await latest(out)).size).toBe(REQUESTS);
  }, 30_000);
  // The wait doubling on a second refusal: test/unit/run/batch/protocol.test.ts, on a fake clock.
});

/** A batch run of the fixture against a server of our own, on a loopback port. */
async function runAgainst(server: Server): Promise<{ r: CliResult; url: string }> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = await tempDir('evalrun-batch-faults-');
  await writeTree(base, { 'rows.jsonl': rows(ROWS), 'evalrun.yaml': config(BATCH) });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
  const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', join(base, 'out'), '--quiet'], cleanEnv({ OPENAI_BASE_URL: url, OPENAI_API_KEY: 'sk-test' }));
  return { r, url };
}

describe('4. servers that are not OpenAI', () => {
  it('a status outside the API list is reported once and polled', async () => {
    const { cfg, out, env, sim: s } = await setup({ batch: { unknown_status: { times: 1, status: 'queued' }, duration_ms: 400 } });
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/reports status 'queued', which is not one of the Batch API's; evalrun keeps polling it/g)).toHaveLength(1);
    expectEachOnce(s);
  }, 30_000);

  it('a batch more than an hour past its expires_at stops the run (exit 7), nothing resubmitted', async () => {
    const { cfg, out, env, sim: s } = await setup({ batch: { overdue: { times: 1 } } });
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expectNoCrash(r);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/is still '(?:validating|in_progress)' more than an hour past its expires_at .*Nothing was resubmitted/);
    expect(twice(s)).toEqual([]);
  }, 30_000);

  it('a server with no Batch API: the URL, its body, the hint to drop --batch, and no claim that batches exist', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not Found"}');
    });
    const { r, url } = await runAgainst(server);
    expectNoCrash(r);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`POST ${url}/files: 404: {"detail":"Not Found"}`);
    expect(r.stderr).toMatch(/This server has no Batch API: drop --batch/);
    expect(r.stderr).toMatch(/No batch was created: nothing was submitted/);
    expect(r.stderr).not.toMatch(/batches are recorded/);
  }, 30_000);

  it('a 200 HTML page where a file object should be: said as such, retried, no crash and nothing submitted', async () => {
    let uploads = 0;
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/v1/files') uploads++;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><html><body>Sign in</body></html>');
    });
    const { r, url } = await runAgainst(server);
    expectNoCrash(r);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`POST ${url}/files: the server answered 2xx, not a file object; its body begins: <!DOCTYPE html>`);
    expect(r.stderr).toMatch(/No batch was created: nothing was submitted/);
    // Treated as no answer: tried again within the retry policy's attempts, then the run stops.
    expect(uploads).toBeGreaterThan(1);
  }, 30_000);

  it('a create answered 5xx, whose lookup fails too, is never sent again unchecked, and the message says the batch may exist', async () => {
    const creates: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/files') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'file-1', object: 'file', bytes: 1, created_at: 1, filename: 'in.jsonl', purpose: 'batch', status: 'processed' }));
          return;
        }
        if (req.method === 'POST' && req.url === '/v1/batches') creates.push(String((JSON.parse(body) as { metadata?: { evalrun_part?: string } }).metadata?.evalrun_part));
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom","type":"server_error"}}');
      });
    });
    const { r } = await runAgainst(server);
    expectNoCrash(r);
    expect(r.code).toBe(5);
    // Each part's creation was sent once: after its 500 only lookups were tried, and they failed.
    expect(creates.length).toBeGreaterThan(0);
    expect(new Set(creates).size).toBe(creates.length);
    expect(r.stderr).toMatch(/A batch may have been created without an answer saying so: resume with --resume/);
    expect(r.stderr).not.toMatch(/No batch was created/);
  }, 30_000);

  it("downloads send an Accept a spec-driven server accepts (it refuses the SDK's application/binary with 406)", async () => {
    const s = await sim();
    const target = new URL(s.url);
    // A proxy that, as Prism does with OpenAI's OpenAPI description, serves file content only as application/json.
    const proxy = createServer((req, res) => {
      if (/\/content$/.test(req.url ?? '') && !/application\/json|\*\/\*/.test(req.headers.accept ?? '')) {
        req.resume();
        res.writeHead(406, { 'content-type': 'application/json' }).end('{"type":"NOT_ACCEPTABLE","title":"The server cannot produce a representation for your accept header"}');
        return;
      }
      const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(up);
    });
    servers.push(proxy);
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const base = await tempDir('evalrun-batch-faults-');
    await writeTree(base, { 'rows.jsonl': rows(ROWS), 'evalrun.yaml': config(BATCH) });
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/v1`;
    const r = await runMain(['run', join(base, 'evalrun.yaml'), '--out', join(base, 'out'), '--quiet'], cleanEnv({ OPENAI_BASE_URL: url, OPENAI_API_KEY: 'sk-test' }));
    expect(r.code, r.stderr).toBe(0);
    expectEachOnce(s);
  }, 30_000);
});

describe('5. dead batches', () => {
  it("the demo's flow on provider: simulator: run --batch, Ctrl-C, --resume completes (the simulator's batches live in the run directory)", async () => {
    const base = await tempDir('evalrun-batch-faults-');
    const cfg = join(base, 'evalrun.yaml');
    await writeTree(base, { 'rows.jsonl': rows(ROWS), 'evalrun.yaml': config(`${BATCH}provider: { simulator: { batch: { duration_ms: 1000 } } }\n`) });
    const out = join(base, 'out');
    // The interrupt lands within ms of the sixth batch's creation: 1 s keeps it live, so the resume's simulator
    // carries it on from the run directory.
    const run = spawnRun(['run', cfg, '--out', out, '--batch'], cleanEnv());
    await waitFor(async () => (await manifest(out).catch(() => undefined))?.batch?.parts.filter((p) => p.batch_id).length === 6);
    run.child.kill('SIGINT');
    expect((await run.closed).code).toBe(130);
    const r = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], cleanEnv());
    expect(r.code, r.stderr).toBe(0);
    expect((await latest(out)).size).toBe(REQUESTS);
    // Server side: every custom_id in the input files of the simulator's batches, once.
    const state = join(out, 'simulator');
    const submitted = new Map<string, number>();
    for (const name of (await readdir(join(state, 'batches'))).filter((n) => n.endsWith('.json'))) {
      const b = JSON.parse(await readFile(join(state, 'batches', name), 'utf8')) as { obj: { input_file_id: string; request_counts: { total: number } } };
      if (b.obj.request_counts.total === 0) continue;
      for (const line of (await readFile(join(state, 'files', `${b.obj.input_file_id}.jsonl`), 'utf8')).split('\n').filter(Boolean)) {
        const id = (JSON.parse(line) as { custom_id: string }).custom_id;
        submitted.set(id, (submitted.get(id) ?? 0) + 1);
      }
    }
    expect(submitted.size).toBe(REQUESTS);
    expect([...submitted].filter(([, n]) => n !== 1)).toEqual([]);
  }, 30_000);

  it('batches the server no longer knows: the resume says how out (exit 5); cancel --abandon forgets them; the resume runs synchronously', async () => {
    const { cfg, out, env, sim: first } = await setup({ batch: { duration_ms: 5000 } }, '');
    const run = spawnRun(['run', cfg, '--out', out, '--batch', '--quiet'], env);
    // One part per model (no max_requests).
    await waitFor(async () => (await manifest(out).catch(() => undefined))?.batch?.parts.filter((p) => p.batch_id).length === 2);
    run.child.kill('SIGKILL');
    await run.closed;
    // The provider lost every batch (a new server, or another key's account).
    await first.close();
    sims.splice(sims.indexOf(first), 1);
    const s = await sim();
    const env2 = { ...env, OPENAI_BASE_URL: s.url };
    const stuck = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env2);
    expectNoCrash(stuck);
    expect(stuck.code).toBe(5);
    expect(stuck.stderr).toMatch(/does not know batch batch_\w+ \(part \d+\) any more.*evalrun cancel .* --abandon` forgets it/);
    const c = await runMain(['cancel', out, '--abandon'], env2);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/pays for its requests twice/);
    expect(c.stderr.match(/Forgot batch batch_\w+/g)).toHaveLength(2);
    expect((await manifest(out)).batch!.parts.every((p) => p.state === 'abandoned')).toBe(true);
    // No live batch is left and neither the config nor the flags ask for batch mode: the resume runs synchronously.
    const r = await runMain(['run', cfg, '--out', out, '--resume', '--quiet'], env2);
    expect(r.code, r.stderr).toBe(0);
    expect(s.stats.completions).toBe(REQUESTS);
    expect(Object.keys(s.stats.batchSubmitted)).toHaveLength(0);
    expect((await latest(out)).size).toBe(REQUESTS);
  }, 30_000);
});

describe('6. feature combinations', () => {
  it('--batch --cache: batch answers are cached, and a second run answers every request from the cache (nothing submitted)', async () => {
    const { cfg, base, env, sim: s } = await setup({});
    await writeFile(cfg, config(`${BATCH}cache: ${JSON.stringify(join(base, 'cache'))}\n`));
    const first = await runMain(['run', cfg, '--out', join(base, 'one'), '--quiet'], env);
    expect(first.code, first.stderr).toBe(0);
    expectEachOnce(s);
    const second = await runMain(['run', cfg, '--out', join(base, 'two'), '--quiet'], env);
    expect(second.code, second.stderr).toBe(0);
    expectEachOnce(s);
    const recs = await records(join(base, 'two'));
    expect(recs).toHaveLength(REQUESTS);
    expect(recs.every((x) => x.cached === true && x.attempts === 0)).toBe(true);
    expect(JSON.parse(await readFile(join(base, 'two', 'summary.json'), 'utf8')).totals.cached).toBe(REQUESTS);
  }, 30_000);

  it('n_mode repeat: n single-choice lines with seed + k, as many as plan --batch counts; each choice from its own line', async () => {
    const { cfg, out, env, sim: s } = await setup({}, 'batch: { poll_s: 0.02, max_requests: 36 }\nn_mode: repeat\n');
    await writeFile(cfg, (await readFile(cfg, 'utf8')).replace('params: { max_tokens: 40,', 'params: { max_tokens: 40, n: 3, seed: 7,'));
    const planned = JSON.parse((await runMain(['plan', cfg, '--json'], env)).stdout);
    expect(planned.batch_lines).toBe(REQUESTS * 3);
    const r = await runMain(['run', cfg, '--out', out, '--quiet'], env);
    expect(r.code, r.stderr).toBe(0);
    const ids = Object.keys(s.stats.batchSubmitted);
    expect(ids).toHaveLength(planned.batch_lines);
    expect(ids.every((id) => /^seq-\d+\.[012]$/.test(id))).toBe(true);
    expect(twice(s)).toEqual([]);
    const recs = await records(out);
    expect(recs).toHaveLength(REQUESTS);
    const first = JSON.parse((await readFile(join(out, 'records.jsonl'), 'utf8')).split('\n')[0]!) as { choices: Array<{ index: number; content: string; error?: string }> };
    expect(first.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(first.choices.every((c) => !c.error)).toBe(true);
    // seed + k: the three samples of a request at temperature 1 are not one sample three times.
    const hot = recs.map((x) => x as unknown as { cell: string; choices: Array<{ content: string }> }).find((x) => /temperature-1|t1|1$/.test(x.cell) && new Set(x.choices.map((c) => c.content)).size > 1);
    expect(hot).toBeDefined();
  }, 30_000);

  it('unreadable, unknown and repeated result lines are counted in summary.json anomalies and shown', async () => {
    const { cfg, out, env, sim: s } = await setup({ batch: { odd_lines: { times: 1 } } });
    const r = await runMain(['run', cfg, '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.anomalies.batch_lines).toBe(3);
    expect(summary.anomalies.batch_line_examples.join('\n')).toMatch(/a second line for 'seq-\d+'[\s\S]*'someone-else-7'[\s\S]*unreadable line/);
    expect(r.stderr).toMatch(/anomalies: .*3 batch result lines unreadable, for no request of their batch or repeated/);
    expectEachOnce(s);
    void providerBatches;
  }, 30_000);
});
