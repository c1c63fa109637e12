/**
 * The script-check pool's time limits are per call, not per batch: a stuck call is ended at its own limit and is the
 * only one unscored, and calls that each stay within their limit are graded once, however long their batch takes.
 * Every call of a check function is counted (it appends to a file), so what ran again is seen without timing anything.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScriptChecks, type ScriptInput } from '../../../src/check/index.js';
import type { CheckOutcome, CheckSpec } from '../../../src/contracts/checks.js';
import { MAX_REASON_CHARS, OutcomeColumns, shortReason } from '../../../src/check/script-result.js';
import { useTempDirs, writeTree } from '../../helpers/tmp.js';

const tempDir = useTempDirs();
let pool: ScriptChecks | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const input = (i: number): ScriptInput => ({
  content: `{"n": ${i}}`,
  row: { id: `r${i}` },
  cell: { id: 'c', params: {} },
  choice: { index: 0, finish_reason: 'stop', refusal: null, tool_calls: null },
});

/** `importMs`: how long the module's import keeps the thread busy (a heavy dependency), before any call. */
async function checks(importMs = 0): Promise<{ module: string; calls: () => string[] }> {
  const dir = await tempDir('evalrun-script-pool-');
  const log = join(dir, 'calls.log');
  const files = await writeTree(dir, {
    'checks.mjs': `import { appendFileSync } from 'node:fs';
const loaded = Date.now() + ${importMs};
while (Date.now() < loaded) {}
const called = (name) => appendFileSync(${JSON.stringify(log)}, name + '\\n');
export function fast() { called('fast'); return true; }
export function loops() { called('loops'); for (;;) {} }
export function busy() { called('busy'); const end = Date.now() + 60; while (Date.now() < end) {} return 0.5; }
export function exits({ row }) { called('exits'); if (row.id === 'r1') process.exit(3); return { pass: false, score: 0.25, reason: 'zu kurz – «ü»' }; }
`,
  });
  return { module: files['checks.mjs']!, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const spec = (name: string, module: string, exp: string, timeoutMs: number): CheckSpec => ({ name, type: 'script', module, export: exp, timeoutMs });

describe('script checks: a time limit per call', () => {
  it('a stuck call is unscored at its own limit and run once; the calls beside it in its batch are graded, each once', async () => {
    const { module, calls } = await checks();
    pool = new ScriptChecks([spec('a', module, 'fast', 5000), spec('stuck', module, 'loops', 300), spec('c', module, 'fast', 5000)], 1);
    const outcomes = await pool.grade([input(0), input(1)]);
    for (const o of outcomes) {
      expect(o[0]).toMatchObject({ pass: true });
      expect(o[1]).toEqual({ pass: null, score: null, reason: 'timed out after 300 ms' });
      expect(o[2]).toMatchObject({ pass: true });
    }
    // Each stuck call once (a batch cut off as a whole and graded again call by call ran it twice), and each call
    // beside it once: those before it kept their outcomes when its thread was ended, those after it were queued anew.
    expect(calls().filter((c) => c === 'loops')).toHaveLength(2);
    expect(calls().filter((c) => c === 'fast')).toHaveLength(4);
  });

  it("a thread's start and the module's import are on no call's clock, after a stuck call's thread is replaced too", async () => {
    // The import takes longer than the limit: were it counted, every call on a new thread would time out.
    const { module, calls } = await checks(150);
    pool = new ScriptChecks([spec('a', module, 'fast', 100), spec('stuck', module, 'loops', 100)], 1);
    const outcomes = await pool.grade([input(0), input(1)]);
    for (const o of outcomes) {
      expect(o[0]).toEqual({ pass: true, score: 1 });
      expect(o[1]).toEqual({ pass: null, score: null, reason: 'timed out after 100 ms' });
    }
    expect(calls().filter((c) => c === 'loops')).toHaveLength(2);
  });

  it('calls that each stay within their limit are each run once, though their batch takes longer than the limit', async () => {
    const { module, calls } = await checks();
    pool = new ScriptChecks([spec('busy', module, 'busy', 250)], 1);
    // Eight calls of ~60 ms in one batch: ~480 ms, against 250 ms a call.
    const outcomes = await pool.grade(Array.from({ length: 8 }, (_, i) => input(i)));
    expect(outcomes.map((o) => o[0])).toEqual(Array.from({ length: 8 }, () => ({ pass: true, score: 0.5 })));
    expect(calls()).toHaveLength(8);
  });

  it("a thread that dies (a check calls process.exit) ends only the calls from the one it died on; those before keep their outcomes", async () => {
    const { module, calls } = await checks();
    pool = new ScriptChecks([spec('exits', module, 'exits', 5000)], 1);
    const outcomes = await pool.grade([input(0), input(1), input(2)]);
    expect(outcomes[0]![0]).toEqual({ pass: false, score: 0.25, reason: 'zu kurz – «ü»' });
    expect(outcomes[1]![0]).toMatchObject({ pass: null, score: null, reason: expect.stringMatching(/^the check's worker thread failed/) });
    expect(outcomes[2]![0]).toMatchObject({ pass: null, score: null });
    expect(calls()).toHaveLength(2);
  });
});

describe('OutcomeColumns', () => {
  it('carries outcomes through shared memory as they were: null pass and score, no reason, and a 200-character reason of multi-byte letters', () => {
    // Cut short where a surrogate pair would be halved: the pair goes, whole, and the reason is one unit shorter.
    const long = shortReason('ü€😀'.repeat(100));
    expect(long).toHaveLength(MAX_REASON_CHARS - 1);
    expect(long).toMatch(/ü€…$/u);
    expect(Buffer.from(long, 'utf8').toString('utf8')).toBe(long);
    const outcomes: CheckOutcome[] = [{ pass: true, score: 1 }, { pass: null, score: null, reason: 'could not decide' }, { pass: false, score: 0.125, reason: long }, { pass: true, score: 0.5, reason: '' }];
    const written = new OutcomeColumns(outcomes.length);
    outcomes.forEach((o, i) => written.write(i, o));
    const seen = new OutcomeColumns(written.buffer);
    expect(outcomes.map((_, i) => seen.read(i))).toEqual(outcomes);
  });
});
