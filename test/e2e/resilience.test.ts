/**
 * Runs that survive: faults, kills, interrupts, rate limits, a key that expires, and secrets that must not leak,
 * against the simulator on a loopback port. What is killed or interrupted is the built CLI in a child process, and so
 * are the secrets tests' runs (everything the process prints counts, not only what goes through main's io); the other
 * runs call main() in-process.
 */
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { simulateCompletion } from '../../src/simulator/index.js';
import { runCli, runMain } from '../helpers/cli.js';
import { countLines, startRun, waitForRecords } from '../helpers/run-process.js';
import { N, REQUESTS, SEED, comparable, envFor, schema, withSim, writeFixture } from '../helpers/json-grid-fixture.js';

let work: string;
let baseline: string[][];

function recordSeqs(dir: string): number[] {
  return readFileSync(join(dir, 'records.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'evalrun-resilience-'));
  const config = writeFixture(work);
  await withSim({}, async (sim) => {
    const r = await runMain(['run', config, '--out', join(work, 'baseline'), '--quiet'], envFor(sim));
    expect(r.code, r.stderr).toBe(0);
  });
  baseline = comparable(join(work, 'baseline'));
  expect(baseline).toHaveLength(REQUESTS * N);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('evalrun run under faults', () => {
  it('completes through ~20% injected faults of every kind with the same results as a fault-free run', async () => {
    // A stalled attempt is given up at timeout_s and a failed one waited on up to max_wait_s; a request may meet
    // several faults in a row, so both are kept short: 0.25 s is still ample for an answer the simulator sends at
    // once (an attempt that runs out anyway is retried, and the results are compared in full).
    const config = writeFixture(mkdtempSync(join(work, 'faults-config-')), { timeoutS: 0.25, maxWaitS: 0.05 });
    const out = join(work, 'faults');
    // Every fault a retry may answer; a 200 cut short (malformed) is not one of them: see the next test.
    const faults = { rate_limit: 0.05, server_error: 0.05, unavailable: 0.04, reset: 0.04, stall: 0.03 };
    await withSim({ faults }, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet'], envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      for (const kind of Object.keys(faults)) expect(sim.stats.faults[kind] ?? 0, kind).toBeGreaterThan(0);
      expect(sim.stats.maxInFlight).toBeLessThanOrEqual(8);
    });
    expect(comparable(out)).toEqual(baseline);
    const seqs = recordSeqs(out);
    expect(new Set(seqs).size).toBe(REQUESTS);
    expect(seqs).toHaveLength(REQUESTS);
    const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { sessions: Array<{ recorded: number }> };
    expect(manifest.sessions.map((x) => x.recorded)).toEqual([REQUESTS]);
    const attempts = readFileSync(join(out, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { attempts: number }).attempts);
    expect(attempts.reduce((a, b) => a + b, 0)).toBeGreaterThan(REQUESTS);
  }, 60_000);
});

describe('a 200 whose body is cut short (a proxy truncating a JSON answer)', () => {
  it('is recorded as failed and never sent again on its own: the answer may have been billed; --retry-errors sends it', async () => {
    const config = join(work, 'evalrun.yaml');
    const out = join(work, 'malformed');
    await withSim({ faults: { malformed: 0.1 } }, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet'], envFor(sim));
      expect(r.code, r.stderr).toBe(1);
      expect(sim.stats.faults['malformed'] ?? 0).toBeGreaterThan(0);
      // One attempt per request, counted by the server: nothing was sent twice.
      expect(sim.stats.requests).toBe(REQUESTS);
    });
    const failed = readFileSync(join(out, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { http_status: number | null; error: { message: string } | null }).filter((x) => x.error);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(f.http_status).toBe(200);
      expect(f.error!.message).toMatch(/answered 200, but its body is not readable JSON .* not sent again automatically \(--retry-errors does\)/);
    }
    await withSim({}, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet', '--retry-errors'], envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      expect(sim.stats.requests).toBe(failed.length);
    });
    expect(comparable(out)).toEqual(baseline);
  }, 60_000);
});

describe('evalrun run --resume', () => {
  it('after kill -9 early, mid-run and mid-write, finishes with exactly the uninterrupted results', async () => {
    const config = join(work, 'evalrun.yaml');
    const out = join(work, 'killed');
    const records = join(out, 'records.jsonl');
    await withSim({ latency: 25 }, async (sim) => {
      const first = startRun(config, out, envFor(sim));
      await waitForRecords(records, 8);
      first.child.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      const early = countLines(records);
      expect(early).toBeLessThan(REQUESTS);

      const second = startRun(config, out, envFor(sim), ['--resume']);
      await waitForRecords(records, Math.min(early + 40, REQUESTS - 10));
      second.child.kill('SIGKILL');
      await second.done;
      // A crash in the middle of an append leaves half a line behind.
      appendFileSync(records, '{"v":1,"seq":3,"cell":"gpt-4o-mini/t0/n2","row_id":"r0","attem');

      const third = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(third.code, third.stderr).toBe(0);
      // concurrency: 8 bounds the requests the server has at once, though answers are recorded outside the limit.
      // That the run does reach 8 is shown by the --grace-s test, where 5 s answers keep every slot busy.
      expect(sim.stats.maxInFlight).toBeLessThanOrEqual(8);
    });
    const seqs = recordSeqs(out);
    expect(seqs).toHaveLength(REQUESTS);
    expect(new Set(seqs).size).toBe(REQUESTS);
    expect(comparable(out)).toEqual(baseline);
    // The killed sessions' half-built choices.csv is gone: only whole files remain.
    expect(readdirSync(out).filter((n) => /\.(tmp|live)-/.test(n))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { status: string; sessions: unknown[] };
    expect(manifest.status).toBe('complete');
    expect(manifest.sessions).toHaveLength(3);
  }, 60_000);

  it('after Ctrl-C prints the resume command, exits 130, and resuming completes the run', async () => {
    const config = join(work, 'evalrun.yaml');
    const out = join(work, 'interrupted');
    await withSim({ latency: 25 }, async (sim) => {
      const run = startRun(config, out, envFor(sim));
      await waitForRecords(join(out, 'records.jsonl'), 20);
      run.child.kill('SIGINT');
      const { code, stderr } = await run.done;
      expect(code).toBe(130);
      expect(stderr).toContain(`--out ${out} --resume`);
      const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { status: string };
      expect(manifest.status).toBe('interrupted');
      // The derived files of the partial run are whole, not half-written.
      const partial = comparable(out);
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(REQUESTS * N);
      const resumed = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(resumed.code, resumed.stderr).toBe(0);
    });
    expect(comparable(out)).toEqual(baseline);
  }, 60_000);

  it('after a second Ctrl-C exits at once, still leaving a resumable directory', async () => {
    const dir = mkdtempSync(join(work, 'hard-stop-'));
    const config = writeFixture(dir);
    // Attempts that outlast the interrupt: only the stop being tested can end them before their 5 s answers.
    writeFileSync(config, readFileSync(config, 'utf8').replace('timeout_s: 0.5', 'timeout_s: 60'));
    const out = join(dir, 'run');
    await withSim({ latency: 5000 }, async (sim) => {
      const run = startRun(config, out, envFor(sim));
      await vi.waitFor(() => expect(sim.stats.inFlight).toBeGreaterThanOrEqual(8), { timeout: 20_000, interval: 10 });
      let seen = '';
      run.child.stderr!.on('data', (d: string) => (seen += d));
      run.child.kill('SIGINT');
      // The second Ctrl-C only counts as one once the first has been taken.
      await vi.waitFor(() => expect(seen).toContain('Interrupted:'), { timeout: 20_000, interval: 10 });
      run.child.kill('SIGINT');
      const { code, stderr } = await run.done;
      expect(code).toBe(130);
      expect(stderr).toContain('Second interrupt');
      // It did not wait for the requests in flight: none of them finished, so none was recorded.
      expect(countLines(join(out, 'records.jsonl'))).toBe(0);
      expect(stderr).toContain('--resume');
      expect(readdirSync(out).filter((n) => /\.(tmp|live)-/.test(n))).toEqual([]);
    });
    // run.json says interrupted, not running, and the lock is gone: the resume below needs no takeover.
    const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { status: string; exit_code: number; ended_at: string | null; sessions: Array<{ status: string; recorded: number }> };
    expect(manifest).toMatchObject({ status: 'interrupted', exit_code: 130 });
    expect(manifest.ended_at).not.toBeNull();
    expect(manifest.sessions.at(-1)).toMatchObject({ status: 'interrupted', recorded: 0 });
    expect(readdirSync(out)).not.toContain('run.lock');
    await withSim({}, async (sim) => {
      const resumed = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(resumed.stderr).not.toContain('no longer running');
      expect(resumed.code, resumed.stderr).toBe(0);
    });
    expect(recordSeqs(out)).toHaveLength(REQUESTS);
    expect(comparable(out)).toEqual(baseline);
  }, 60_000);

  it('after Ctrl-C gives requests in flight --grace-s, then ends them and still exits 130, resumable', async () => {
    const dir = mkdtempSync(join(work, 'grace-'));
    const config = writeFixture(dir);
    // Attempts that outlast the interrupt: only the stop being tested can end them before their 5 s answers.
    writeFileSync(config, readFileSync(config, 'utf8').replace('timeout_s: 0.5', 'timeout_s: 60'));
    const out = join(dir, 'run');
    await withSim({ latency: 5000 }, async (sim) => {
      const run = startRun(config, out, envFor(sim), ['--grace-s', '0.1']);
      // concurrency: 8 fills every slot, and no more, while the answers take 5 s.
      await vi.waitFor(() => expect(sim.stats.inFlight).toBe(8), { timeout: 20_000, interval: 10 });
      run.child.kill('SIGINT');
      const { code, stderr } = await run.done;
      expect(code).toBe(130);
      expect(sim.stats.maxInFlight).toBe(8);
      // The 5 s answers were not waited for: the grace period ended them, so none was recorded.
      expect(countLines(join(out, 'records.jsonl'))).toBe(0);
      expect(stderr).toContain('--resume');
      expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).status).toBe('interrupted');
    });
    await withSim({}, async (sim) => {
      const resumed = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(resumed.code, resumed.stderr).toBe(0);
    });
    expect(comparable(out)).toEqual(baseline);
  }, 30_000);

  it('refuses to resume when the dataset changed, and leaves the run untouched', async () => {
    const dir = mkdtempSync(join(work, 'changed-'));
    const config = writeFixture(dir, { rows: 5 });
    const out = join(dir, 'run');
    await withSim({}, async (sim) => {
      expect((await runMain(['run', config, '--out', out, '--quiet'], envFor(sim))).code).toBe(0);
      const before = readFileSync(join(out, 'records.jsonl'));
      appendFileSync(join(dir, 'rows.jsonl'), `${JSON.stringify({ id: 'new', text: 'x' })}\n`);
      const r = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/config or the dataset changed/);
      expect(readFileSync(join(out, 'records.jsonl'))).toEqual(before);
    });
  });
});

describe('rate limits', () => {
  it('with rate_limit.rpm equal to the server limit, sends no request over it and gets no 429', async () => {
    const dir = mkdtempSync(join(work, 'paced-'));
    // The simulator counts per 1 s window here, so 60 per window is 3600 a minute: the 80 requests (20 rows) need two
    // windows. The pacer's 2% margin is 20 ms of the window, the jitter a request may meet between its turn and the
    // server.
    const config = writeFixture(dir, { rows: 20, extra: ['rate_limit: { rpm: 3600 }'] });
    await withSim({ rpm: 60, window_ms: 1000 }, async (sim) => {
      const r = await runMain(['run', config, '--out', join(dir, 'run'), '--quiet', '--concurrency', '16'], envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      expect(sim.stats.byStatus['429'] ?? 0).toBe(0);
      expect(sim.stats.perMinuteMax).toBeLessThanOrEqual(60);
    });
  }, 30_000);

  it('without a configured limit, absorbs the 429s by waiting and still completes', async () => {
    const dir = mkdtempSync(join(work, 'unpaced-'));
    const config = writeFixture(dir);
    // 60 per 0.5 s window: the 120 requests at 16 at a time overrun the first window at once.
    await withSim({ rpm: 60, window_ms: 500 }, async (sim) => {
      const r = await runMain(['run', config, '--out', join(dir, 'run'), '--quiet', '--concurrency', '16'], envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      expect(sim.stats.byStatus['429'] ?? 0).toBeGreaterThan(0);
    });
    expect(comparable(join(dir, 'run'))).toEqual(baseline);
  }, 30_000);
});

describe('a key that stops working', () => {
  it('stops within a few requests with exit 5, keeps what was recorded, and resumes once the key works', async () => {
    const config = join(work, 'evalrun.yaml');
    const out = join(work, 'expired');
    await withSim({ fail_auth_after: 30 }, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet', '--concurrency', '4'], envFor(sim));
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/401/);
      expect(r.stderr).toContain('--resume');
      expect(sim.stats.requests).toBeLessThanOrEqual(30 + 4 + 1);
    });
    const recorded = recordSeqs(out);
    expect(recorded.length).toBeGreaterThanOrEqual(25);
    expect(recorded.length).toBeLessThanOrEqual(30);
    await withSim({}, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      expect(sim.stats.completions).toBe(REQUESTS - recorded.length);
    });
    expect(comparable(out)).toEqual(baseline);
  }, 30_000);
});

describe('secrets', () => {
  const CANARY = 'sk-canary-7f3a9c1e5b2d4f60';

  /** A server that echoes the key it was sent in error messages, as a careless proxy might. */
  async function echoingServer(failRow: string, status: number): Promise<{ url: string; server: Server }> {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (body.includes(failRow)) {
          res.statusCode = status;
          res.end(JSON.stringify({ error: { message: `bad key ${req.headers.authorization ?? ''}`, type: 'invalid_request_error', param: null, code: null } }));
          return;
        }
        const reply = simulateCompletion(JSON.parse(body), { seed: SEED, schema });
        res.statusCode = reply.status;
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return { url: `http://127.0.0.1:${port}/v1`, server };
  }

  function assertNoCanary(dir: string, ...texts: string[]): void {
    for (const t of texts) expect(t).not.toContain(CANARY);
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isFile()) expect(readFileSync(p, 'utf8'), f).not.toContain(CANARY);
    }
  }

  // A few rows are enough for a run whose every output is searched: the process boundary, not the size, is the point.
  const fewRows = () => writeFixture(mkdtempSync(join(work, 'secrets-')), { rows: 5 });

  it('never writes or prints the API key, even when a server echoes it', async () => {
    const config = fewRows();
    const { url, server } = await echoingServer('item 3:', 400);
    const out = join(work, 'canary');
    try {
      const r = await runCli(['run', config, '--out', out], { env: envFor({ url }, CANARY) });
      expect(r.code).toBe(1);
      assertNoCanary(out, r.stdout, r.stderr);
      expect(readFileSync(join(out, 'choices.csv'), 'utf8')).toContain('[REDACTED]');
    } finally {
      server.close();
    }
  });

  it('keeps the key out of the fatal error message too', async () => {
    const config = fewRows();
    const { url, server } = await echoingServer('item 2:', 401);
    const out = join(work, 'canary-fatal');
    try {
      const r = await runCli(['run', config, '--out', out], { env: envFor({ url }, CANARY) });
      expect(r.code).toBe(5);
      expect(r.stderr).toContain('[REDACTED]');
      assertNoCanary(out, r.stdout, r.stderr);
    } finally {
      server.close();
    }
  });
});

describe('response cache', () => {
  it('answers a rerun of identical requests from the cache without sending them', async () => {
    // A timeout long enough that a loaded machine never retries (the count below is of requests the server saw).
    const config = writeFixture(mkdtempSync(join(work, 'cache-config-')), { timeoutS: 30 });
    const cacheDir = join(work, 'cache');
    await withSim({}, async (sim) => {
      const env = { ...envFor(sim), EVALRUN_CACHE_DIR: cacheDir };
      expect((await runMain(['run', config, '--out', join(work, 'cache1'), '--quiet', '--cache'], env)).code).toBe(0);
      expect(sim.stats.completions).toBe(REQUESTS);
      expect((await runMain(['run', config, '--out', join(work, 'cache2'), '--quiet', '--cache'], env)).code).toBe(0);
      expect(sim.stats.completions).toBe(REQUESTS);
    });
    const cached = readFileSync(join(work, 'cache2', 'records.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { cached?: boolean }).cached);
    expect(cached.every((c) => c === true)).toBe(true);
    expect(comparable(join(work, 'cache2'))).toEqual(baseline);
  });
});
