/**
 * Never lose a result, never pay twice, never report green on a failure (issue #10, items 1, 2, 5, 7, 9), against the
 * simulator (or a loopback server of our own) on port 0. The runs that are interrupted, killed or hold a lock are the
 * built CLI in child processes; the rest call main() in-process.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateCompletion } from '../../src/simulator/index.js';
import { runMain } from '../helpers/cli.js';
import { countLines, startRun, waitForRecords } from '../helpers/run-process.js';
import { CELLS, N, REQUESTS, SEED, comparable, envFor, schema, withSim, writeFixture } from '../helpers/json-grid-fixture.js';

let work: string;
let config: string;
/** The same grid with a gate that a handful of rows cannot pass (the low bound of a 2-row interval is far below 0.9). */
let gated: string;
let baselineDir: string;
let baseline: string[][];

const lines = countLines;
const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

let interrupted: Promise<{ out: string; code: number | null; stderr: string }> | undefined;
/**
 * An interrupted run (Ctrl-C after a few records) of the gated config. Made once: the tests that need one only read
 * it (compare opens no lock and writes nothing).
 */
function interruptedRun(): Promise<{ out: string; code: number | null; stderr: string }> {
  const out = join(work, 'ctrl-c');
  interrupted ??= withSim({ latency: 100 }, async (sim) => {
    const run = startRun(gated, out, envFor(sim));
    await waitForRecords(join(out, 'records.jsonl'), 4);
    run.child.kill('SIGINT');
    return { out, ...(await run.done) };
  });
  return interrupted;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'evalrun-safety-'));
  config = writeFixture(work, { timeoutS: 2 });
  gated = writeFixture(work, { file: 'gated.yaml', timeoutS: 2, extra: ['gates:', '  - { metric: schema_valid_rate, min: 0.9, bound: low }'] });
  baselineDir = join(work, 'baseline');
  await withSim({}, async (sim) => {
    const r = await runMain(['run', config, '--out', baselineDir, '--quiet'], envFor(sim));
    expect(r.code, r.stderr).toBe(0);
  });
  baseline = comparable(baselineDir);
  expect(baseline).toHaveLength(REQUESTS * N);
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('evalrun report never replaces results with fewer (item 1)', () => {
  const OUTPUTS = ['choices.csv', 'stats.csv', 'summary.json', 'summary.md', 'junit.xml', 'report.html', 'comparison.csv'];
  const snapshot = (dir: string) => Object.fromEntries(OUTPUTS.map((n) => [n, readFileSync(join(dir, n), 'utf8')]));

  for (const [what, damage, message] of [
    ['missing', (f: string) => unlinkSync(f), /records\.jsonl is missing/],
    ['empty', (f: string) => truncateSync(f, 0), /records\.jsonl holds no records/],
    ['truncated', (f: string) => writeFileSync(f, readFileSync(f, 'utf8').split('\n').slice(0, 10).join('\n') + '\n'), /holds 10 requests, but the reports .* show 120/],
  ] as const) {
    it(`refuses with exit 6 when records.jsonl is ${what}, and rewrites nothing`, async () => {
      const dir = join(work, `report-${what}`);
      cpSync(baselineDir, dir, { recursive: true });
      const before = snapshot(dir);
      damage(join(dir, 'records.jsonl'));
      const r = await runMain(['report', dir]);
      expect(r.code, r.stderr).toBe(6);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('Nothing was rewritten');
      expect(snapshot(dir)).toEqual(before);
      expect(parse(before['choices.csv']!, { columns: true })).toHaveLength(REQUESTS * N);
      expect(existsSync(join(dir, 'run.lock'))).toBe(false);
    });
  }
});

describe('resume never pays twice for a lost journal', () => {
  it('refuses (exit 6) to resume a run whose records.jsonl lost records, sending and rewriting nothing', async () => {
    const out = join(work, 'resume-lost');
    cpSync(baselineDir, out, { recursive: true });
    const choices = readFileSync(join(out, 'choices.csv'), 'utf8');
    unlinkSync(join(out, 'records.jsonl'));
    await withSim({}, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(r.code, r.stderr).toBe(6);
      expect(r.stderr).toContain('holds 0 recorded requests, but summary.json shows 120');
      expect(r.stderr).toContain('pay twice');
      expect(sim.stats.completions).toBe(0);
    });
    expect(readFileSync(join(out, 'choices.csv'), 'utf8')).toBe(choices);
    expect(json(join(out, 'run.json')).status).toBe('complete');
    expect(existsSync(join(out, 'records.jsonl'))).toBe(false);
  });
});

describe('one process per run directory (item 2)', () => {
  /** Answers like the simulator, the first `free` requests at once and the rest only after release(). */
  async function heldServer(free: number): Promise<{ url: string; close: () => void; release: () => void; answered: () => number }> {
    let answered = 0;
    let seen = 0;
    let released = false;
    const held: Array<() => void> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const answer = () => {
          const reply = simulateCompletion(JSON.parse(body), { seed: SEED, schema });
          answered++;
          res.statusCode = reply.status;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(reply.body));
        };
        if (seen++ < free || released) answer();
        else held.push(answer);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`,
      close: () => server.close(),
      release: () => {
        released = true;
        for (const answer of held.splice(0)) answer();
      },
      answered: () => answered,
    };
  }

  it('refuses a second run (exit 75), a report and a regrade while a run is writing the directory; nothing is sent twice', async () => {
    const out = join(work, 'locked');
    // Long enough a timeout that the held requests wait for release() rather than being retried.
    const patient = writeFixture(work, { file: 'patient.yaml', timeoutS: 60 });
    const server = await heldServer(8);
    try {
      const env = envFor(server);
      const first = startRun(patient, out, env);
      await waitForRecords(join(out, 'records.jsonl'), 8);
      const lock = json(join(out, 'run.lock'));
      expect(lock).toMatchObject({ pid: first.child.pid, hostname: hostname() });
      expect(lock.command).toContain('run');

      const second = await runMain(['run', patient, '--out', out, '--quiet', '--resume'], env);
      expect(second.code, second.stderr).toBe(75);
      expect(second.stderr).toContain(`is in use by another evalrun process (pid ${first.child.pid}`);
      const report = await runMain(['report', out]);
      expect(report.code, report.stderr).toBe(75);
      expect(report.stderr).toContain('in use by another evalrun process');
      const regrade = await runMain(['regrade', out]);
      expect(regrade.code, regrade.stderr).toBe(75);
      expect(regrade.stderr).toContain('in use by another evalrun process');

      server.release();
      const { code, stderr } = await first.done;
      expect(code, stderr).toBe(0);
      expect(server.answered()).toBe(REQUESTS);
    } finally {
      server.close();
    }
    expect(lines(join(out, 'records.jsonl'))).toBe(REQUESTS);
    expect(comparable(out)).toEqual(baseline);
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
  }, 60_000);

  it("takes over a dead process's lock and says so", async () => {
    const out = join(work, 'stale');
    cpSync(baselineDir, out, { recursive: true });
    // A pid that surely is not running any more: a child that has exited.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('close', r));
    writeFileSync(join(out, 'run.lock'), JSON.stringify({ pid: dead.pid, hostname: hostname(), started_at: '2026-01-01T00:00:00.000Z', command: 'evalrun run x.yaml' }));
    await withSim({}, async (sim) => {
      const r = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`left by pid ${dead.pid}`);
      expect(r.stderr).toContain('no longer running');
      expect(sim.stats.completions).toBe(0);
    });
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
  }, 30_000);
});

describe('--retry-errors (item 5)', () => {
  /** Answers like the simulator, except that every request for row r3 fails with a 400 (not retried). */
  async function failingServer(): Promise<{ url: string; server: Server }> {
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (body.includes('item 3:')) {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: { message: 'bad request', type: 'invalid_request_error', param: null, code: null } }));
          return;
        }
        const reply = simulateCompletion(JSON.parse(body), { seed: SEED, schema });
        res.statusCode = reply.status;
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`, server };
  }

  it('sends the failed requests again; their new records replace the failed ones in every output', async () => {
    const out = join(work, 'retry');
    const { url, server } = await failingServer();
    try {
      const first = await runMain(['run', config, '--out', out, '--quiet'], envFor({ url }));
      expect(first.code, first.stderr).toBe(1);
    } finally {
      server.close();
    }
    expect(json(join(out, 'summary.json')).recorded.failed_requests).toBe(CELLS);
    await withSim({}, async (sim) => {
      // A plain resume keeps the failures: nothing is missing, so nothing is sent.
      const resumed = await runMain(['run', config, '--out', out, '--quiet', '--resume'], envFor(sim));
      expect(resumed.code, resumed.stderr).toBe(1);
      expect(sim.stats.completions).toBe(0);
      const retried = await runMain(['run', config, '--out', out, '--retry-errors'], envFor(sim));
      expect(retried.code, retried.stderr).toBe(0);
      expect(retried.stderr).toContain(`${REQUESTS - CELLS} already recorded`);
      expect(retried.stderr).toContain(`--retry-errors: sending ${CELLS} failed requests again.`);
      expect(sim.stats.completions).toBe(CELLS);
    });
    // The journal is append-only: the failed records stay in it, superseded.
    expect(lines(join(out, 'records.jsonl'))).toBe(REQUESTS + CELLS);
    const summary = json(join(out, 'summary.json'));
    expect(summary.recorded).toEqual({ requests: REQUESTS, choices: REQUESTS * N, failed_requests: 0, failed_choices: 0 });
    expect(summary.complete).toBe(true);
    expect(comparable(out)).toEqual(baseline);
    expect(json(join(out, 'run.json')).sessions.map((s: { recorded: number }) => s.recorded)).toEqual([REQUESTS, 0, CELLS]);
    const rebuilt = await runMain(['report', out]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(comparable(out)).toEqual(baseline);
  }, 60_000);
});

describe('interrupted runs say they are incomplete (item 7)', () => {
  it('Ctrl-C: gates are not judged, and every output says the run is incomplete', async () => {
    const { out, code, stderr } = await interruptedRun();
    expect(code).toBe(130);
    expect(stderr).not.toMatch(/gate checks failed/);
    expect(stderr).toContain('Gates not judged: the run is incomplete');
    expect(json(join(out, 'run.json')).status).toBe('interrupted');
    const summary = json(join(out, 'summary.json'));
    expect(summary.complete).toBe(false);
    expect(summary.incomplete).toMatch(/^Incomplete run: \d+ of 120 requests recorded \(it was interrupted\)/);
    expect(summary.gates).toMatchObject({ status: 'not_judged', passed: 0, failed: 0, results: [], not_judged: ['schema_valid_rate >= 0.9 (on the 95% low bound)'] });
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('⚠️ **Incomplete run:');
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('gates not judged');
    const junit = readFileSync(join(out, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<skipped message="Gates not judged: the run is incomplete/);
    expect(junit).toMatch(/<testcase classname="evalrun.run.fixture" name="run complete">\s*<failure message="Incomplete run:/);
    expect(junit).not.toContain('GateFailure');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('"incomplete":"Incomplete run:');
    expect(existsSync(join(out, 'run.lock'))).toBe(false);
  }, 30_000);

  // A second Ctrl-C leaving run.json interrupted and no lock behind: resilience.test.ts, with its exit at once.

  it('report on a kill -9 run says it is incomplete, judges no gate, and exits 1', async () => {
    const out = join(work, 'killed');
    await withSim({ latency: 100 }, async (sim) => {
      const run = startRun(gated, out, envFor(sim));
      await waitForRecords(join(out, 'records.jsonl'), 4);
      run.child.kill('SIGKILL');
      await run.done;
    });
    expect(json(join(out, 'run.json')).status).toBe('running');
    const r = await runMain(['report', out]);
    expect(r.code, r.stderr).toBe(1);
    // The killed process's lock is taken over, and that is said.
    expect(r.stderr).toContain('no longer running');
    expect(r.stdout).toContain("Incomplete run:");
    expect(r.stdout).toContain("run.json says 'running'");
    expect(r.stdout).toContain('Gates: not judged');
    expect(r.stdout).not.toMatch(/FAIL/);
    expect(r.stderr).toMatch(/The run is incomplete \(\d+ of 120 requests recorded, status running\); exit code 1/);
    const summary = json(join(out, 'summary.json'));
    expect(summary.incomplete).toContain("run.json says 'running'");
    expect(summary.gates.status).toBe('not_judged');
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('Incomplete run:');
  }, 30_000);
});

describe('compare with an incomplete run (item 9)', () => {
  it('warns, and refuses --fail-on-regression unless both runs are complete', async () => {
    const { out: partial, code } = await interruptedRun();
    expect(code).toBe(130);
    const recorded = lines(join(partial, 'records.jsonl'));
    const rowsBoth = new Set(readFileSync(join(partial, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).row_id)).size;

    const plain = await runMain(['compare', baselineDir, partial]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toContain(`Warning: run B (${partial}) is incomplete: ${recorded} of 120 requests recorded (status interrupted); the comparison pairs only the ${rowsBoth} dataset rows both runs have.`);
    expect(plain.stdout).toContain(`INCOMPLETE: ${recorded} of 120 requests`);

    const strict = await runMain(['compare', baselineDir, partial, '--fail-on-regression']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(`Refusing --fail-on-regression: ${partial} is incomplete`);
    const reversed = await runMain(['compare', partial, baselineDir, '--fail-on-regression', '--json']);
    expect(reversed.code).toBe(1);
    expect(JSON.parse(reversed.stdout).run_a).toMatchObject({ complete: false, recorded_requests: recorded, planned_requests: 120 });

    const complete = await runMain(['compare', baselineDir, baselineDir, '--fail-on-regression']);
    expect(complete.code, complete.stderr).toBe(0);
    expect(complete.stderr).not.toContain('Warning');
  }, 30_000);
});
