import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareRuns } from '../../../src/report/compare-runs.js';
import { UsageError } from '../../../src/errors.js';
import { emptyEvaluation } from '../../../src/contracts/evaluation.js';
import type { ManifestCell } from '../../../src/record/manifest.js';
import type { RequestRecord } from '../../../src/record/types.js';
import { rejection } from '../../helpers/config.js';
import { makeCell, makeChoice, makeManifest, makeRecord, writeRunDir } from '../../helpers/records.js';
import { useTempDirs } from '../../helpers/tmp.js';

const tempDir = useTempDirs();
const json = { json_mode: true };
const T0 = makeCell('mini/t0', { model: 'gpt-4o-mini', temperature: 0 }, json);
const T1 = makeCell('mini/t1', { model: 'gpt-4o-mini', temperature: 1 }, json);
const T2 = makeCell('mini/t2', { model: 'gpt-4o-mini', temperature: 2 }, json);

interface RunSpec {
  name: string;
  cells: ManifestCell[];
  rowIds: string[];
  checks?: string[];
  /** Whether a row's answer fits the schema, by cell and row id (default: always). */
  valid?: (cell: string, rowId: string) => boolean;
  latency?: (cell: string, rowId: string) => number;
  /** Whether the model refused the row (`message.refusal`), by cell and row id (default: never). */
  refused?: (cell: string, rowId: string) => boolean;
}

/** A finished run directory with one choice per request. */
async function run(spec: RunSpec): Promise<string> {
  const dir = join(await tempDir(), spec.name);
  const checks = spec.checks ?? ['label'];
  const records: RequestRecord[] = [];
  spec.rowIds.forEach((rowId, row) => {
    spec.cells.forEach((cell, c) => {
      const valid = spec.valid?.(cell.id, rowId) ?? true;
      const refused = spec.refused?.(cell.id, rowId) ?? false;
      records.push(makeRecord(row * spec.cells.length + c, {
        cell: cell.id,
        row_id: rowId,
        latency_ms: spec.latency?.(cell.id, rowId) ?? 100,
        choices: [makeChoice(0, {
          content: '{}',
          ...(refused ? { content: null, refusal: 'I cannot help with that.' } : {}),
          ...(cell.json_mode ? { json_valid: true, schema_valid: valid } : {}),
          checks: Object.fromEntries(checks.map((k) => [k, valid])),
        })],
      }));
    });
  });
  const evaluation = { ...emptyEvaluation(), checks: checks.map((k) => ({ name: k, type: 'equals' })) };
  await writeRunDir(dir, makeManifest(spec.cells, spec.rowIds.length, { name: spec.name, evaluation }), records);
  return dir;
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `r${from + i}`);
const rowFor = (c: Awaited<ReturnType<typeof compareRuns>>, metric: string, cell: string) => c.rows.find((r) => r.metric === metric && r.cell === cell)!;

describe('compareRuns', () => {
  it('pairs the cells by id and the rows by row_id, and finds a regression only where there is one', async () => {
    const a = await run({ name: 'before', cells: [T0, T1], rowIds: ids(0, 40) });
    // In B the rows come in another order; t1 now fails the schema on 3 rows in 4.
    const b = await run({ name: 'after', cells: [T0, T1], rowIds: ids(0, 40).reverse(), valid: (cell, id) => cell !== T1.id || Number(id.slice(1)) % 4 === 0 });
    const c = await compareRuns(a, b);
    expect(c.run_a).toMatchObject({ dir: a, name: 'before', complete: true });
    expect(c.run_b).toMatchObject({ dir: b, name: 'after', complete: true });
    expect(c.baseline).toBe('before');
    expect(c.common_rows).toBe(40);
    expect(c.cells).toEqual([T0.id, T1.id]);
    expect([c.only_in_a, c.only_in_b]).toEqual([[], []]);
    expect(c.metrics).toEqual(['schema_valid_rate', 'json_valid_rate', 'label_pass_rate', 'length_rate', 'error_rate']);
    const worse = rowFor(c, 'schema_valid_rate', T1.id);
    expect(worse).toMatchObject({ baseline: T1.id, pairs: 40, baseline_value: 1, value: 0.25, diff: -0.75, significant: true, change: 'worse' });
    expect(worse.method).not.toMatch(/two-proportion|welch/);
    expect(rowFor(c, 'label_pass_rate', T1.id)).toMatchObject({ significant: true, change: 'worse' });
    // Matched by row_id, identical rows give identical values: no difference at all, whatever the order.
    expect(rowFor(c, 'schema_valid_rate', T0.id)).toMatchObject({ pairs: 40, diff: 0, significant: false, change: 'same' });
  });

  it('pairs only the rows both runs have', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 30), valid: (_, id) => Number(id.slice(1)) % 2 === 0 });
    // Shifted by an odd number of rows: paired by position, every pair would differ.
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(11, 51), valid: (_, id) => Number(id.slice(1)) % 2 === 0 });
    const c = await compareRuns(a, b, { metrics: ['schema_valid_rate'] });
    expect(c.common_rows).toBe(19);
    expect(rowFor(c, 'schema_valid_rate', T0.id)).toMatchObject({ pairs: 19, diff: 0 });
  });

  it('falls back to an unpaired test when the runs share no rows', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 40) });
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(100, 140), valid: (_, id) => Number(id.slice(1)) % 2 === 0 });
    const c = await compareRuns(a, b, { metrics: ['schema_valid_rate', 'latency_mean_ms'] });
    expect(c.common_rows).toBe(0);
    expect(rowFor(c, 'schema_valid_rate', T0.id)).toMatchObject({ pairs: 0, method: 'two-proportion-z', baseline_value: 1, value: 0.5, significant: true, change: 'worse' });
    expect(rowFor(c, 'latency_mean_ms', T0.id)).toMatchObject({ pairs: 0, method: 'welch-t' });
  });

  it('counts a run the way its reports do: the unpaired fallback sees refusals', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 40) });
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(100, 140), refused: (_, id) => Number(id.slice(1)) % 2 === 0 });
    const c = await compareRuns(a, b, { metrics: ['refusal_rate'] });
    expect(rowFor(c, 'refusal_rate', T0.id)).toMatchObject({ pairs: 0, method: 'two-proportion-z', baseline_value: 0, value: 0.5, significant: true, change: 'worse' });
  });

  it('compares latency per row, lower being better', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 30), latency: (_, id) => 200 + Number(id.slice(1)) });
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(0, 30), latency: (_, id) => 100 + Number(id.slice(1)) });
    const c = await compareRuns(a, b, { metrics: ['latency_mean_ms'] });
    expect(c.metrics).toEqual(['latency_mean_ms']);
    expect(rowFor(c, 'latency_mean_ms', T0.id)).toMatchObject({ pairs: 30, diff: -100, significant: true, change: 'better' });
  });

  it('lists the cells only one run has, and compares the rest', async () => {
    const a = await run({ name: 'a', cells: [T0, T1], rowIds: ids(0, 10) });
    const b = await run({ name: 'b', cells: [T2, T0], rowIds: ids(0, 10) });
    const c = await compareRuns(a, b);
    expect(c.cells).toEqual([T0.id]);
    expect(c.only_in_a).toEqual([T1.id]);
    expect(c.only_in_b).toEqual([T2.id]);
    expect(new Set(c.rows.map((r) => r.cell))).toEqual(new Set([T0.id]));
  });

  it('compares only the checks both runs graded, and leaves out metrics neither has values for', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 10), checks: ['label', 'tone'] });
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(0, 10), checks: ['label'] });
    expect((await compareRuns(a, b)).metrics).toContain('label_pass_rate');
    expect((await compareRuns(a, b)).metrics).not.toContain('tone_pass_rate');
    const plainCell = makeCell('plain', { model: 'gpt-4o-mini' });
    const p = await run({ name: 'p', cells: [plainCell], rowIds: ids(0, 10), checks: [] });
    const q = await run({ name: 'q', cells: [plainCell], rowIds: ids(0, 10), checks: [] });
    // Nothing was JSON-checked in either run: those rates have no value and are not compared.
    const c = await compareRuns(p, q);
    expect(c.metrics).toEqual(['length_rate', 'error_rate']);
  });

  it('refuses a metric both runs do not have, suggesting the one meant', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 5), checks: ['label', 'tone'] });
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(0, 5), checks: ['label'] });
    const typo = await rejection(compareRuns(a, b, { metrics: ['schema_valid'] }));
    expect(typo).toBeInstanceOf(UsageError);
    expect(typo.message).toContain("--metric schema_valid: not a metric both runs have (did you mean 'schema_valid_rate'?)");
    expect(typo.message).toContain('choose from ');
    const onlyInA = await rejection(compareRuns(a, b, { metrics: ['tone_pass_rate'] }));
    expect(onlyInA).toBeInstanceOf(UsageError);
    expect(onlyInA.message).toMatch(/^--metric tone_pass_rate: not a metric both runs have/);
  });

  it('uses the alpha it is given', async () => {
    const a = await run({ name: 'a', cells: [T0], rowIds: ids(0, 12) });
    // 3 of 12 rows fail in B: p ≈ 0.25 (exact sign-flip), significant at 0.3, not at 0.05.
    const b = await run({ name: 'b', cells: [T0], rowIds: ids(0, 12), valid: (_, id) => Number(id.slice(1)) >= 3 });
    const strict = await compareRuns(a, b, { metrics: ['schema_valid_rate'] });
    const loose = await compareRuns(a, b, { metrics: ['schema_valid_rate'], alpha: 0.3 });
    expect(strict.alpha).toBe(0.05);
    expect(loose.alpha).toBe(0.3);
    expect(rowFor(strict, 'schema_valid_rate', T0.id).significant).toBe(false);
    expect(rowFor(loose, 'schema_valid_rate', T0.id)).toMatchObject({ significant: true, change: 'worse' });
  });
});
