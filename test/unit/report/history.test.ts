/**
 * What history says changed between two runs, and who a drift is attributed to: yours first, then evalrun's, then
 * the provider's for the drift's own cell; a run made before evalrun kept its served models says nothing of them.
 * And the noise floor: only identical-request runs with nothing changed count, and drifts are left out.
 */
import { describe, expect, it } from 'vitest';
import { attribute, changesBetween, NoiseFloorCounter, type Transition } from '../../../src/report/history/history.js';
import type { HistoryRun } from '../../../src/report/history/scan.js';
import type { CellStats } from '../../../src/contracts/summary.js';
import type { RunManifest } from '../../../src/record/index.js';
import { findMetric, type ComparisonRow } from '../../../src/stats/index.js';

const cell = (id: string, model: string | undefined, fp = 'fp_a'): CellStats =>
  ({ cell: id, ...(model ? { served: { models: [{ model, requests: 10 }], system_fingerprints: [{ system_fingerprint: fp, requests: 10 }] } } : {}) }) as unknown as CellStats;

function run(over: Partial<RunManifest> = {}, cells: CellStats[] = [cell('m/t0', 'gpt-x-1'), cell('n/t0', 'gpt-y-1')]): HistoryRun {
  const manifest = {
    config_hash: 'c1',
    dataset_hash: 'd1',
    prompt_hash: 'p1',
    versions: { evalrun: '0.1.0', node: '20', openai_sdk: '6' },
    plan: { rows: 10, requests: 20, choices: 20, cells: [] },
    ...over,
  } as unknown as RunManifest;
  return { manifest, cells } as unknown as HistoryRun;
}

describe('changesBetween and attribute', () => {
  it('names nothing when nothing changed, and attributes a drift to nothing visible', () => {
    expect(changesBetween(run(), run())).toEqual([]);
    expect(attribute([], 'm/t0').attributed_to).toBe('nothing_visible');
  });

  it('puts your changes before evalrun’s and the provider’s', () => {
    const changes = changesBetween(run(), run({ prompt_hash: 'p2', config_hash: 'c2', versions: { evalrun: '0.2.0', node: '20', openai_sdk: '6' } }, [cell('m/t0', 'gpt-x-2'), cell('n/t0', 'gpt-y-1')]));
    expect(changes.map((c) => c.what)).toEqual(['prompt', 'config', 'evalrun', 'served_model']);
    expect(attribute(changes, 'm/t0')).toMatchObject({ attributed_to: 'config' });
    expect(attribute(changes, 'm/t0').because).toContain('you changed the prompt text');
  });

  it('attributes to evalrun a drift after an evalrun upgrade alone', () => {
    const changes = changesBetween(run(), run({ versions: { evalrun: '0.2.0', node: '20', openai_sdk: '6' } }));
    expect(attribute(changes, 'n/t0')).toEqual({ attributed_to: 'evalrun', because: 'evalrun 0.1.0 → 0.2.0' });
  });

  it('attributes to the provider only the drifts of the cells whose served model or fingerprint changed', () => {
    const changes = changesBetween(run(), run({}, [cell('m/t0', 'gpt-x-1', 'fp_b'), cell('n/t0', 'gpt-y-1')]));
    expect(changes).toEqual([{ what: 'system_fingerprint', detail: 'the provider changed the system_fingerprint it serves (fp_a → fp_b)', cells: ['m/t0'] }]);
    expect(attribute(changes, 'm/t0').attributed_to).toBe('provider');
    expect(attribute(changes, 'n/t0').attributed_to).toBe('nothing_visible');
  });

  it('says nothing of served models when the earlier run did not keep them', () => {
    expect(changesBetween(run({}, [cell('m/t0', undefined), cell('n/t0', undefined)]), run())).toEqual([]);
  });

  it('tells a dataset change apart', () => {
    const changes = changesBetween(run(), run({ dataset_hash: 'd2' }));
    expect(changes.map((c) => c.what)).toEqual(['dataset']);
    expect(attribute(changes, 'm/t0').attributed_to).toBe('dataset');
  });
});

describe('NoiseFloorCounter', () => {
  // diff_low..diff_high is at the row's Holm level (null where history shows none); half_width at α for every row.
  const row = (diff: number, significant = false, holmHalf = 0.3): ComparisonRow =>
    ({ metric: 'json_valid_rate', cell: 'm/t0', diff, diff_low: significant ? diff - holmHalf : null, diff_high: significant ? diff + holmHalf : null, half_width: 0.1, significant }) as ComparisonRow;
  const t = (over: Partial<Transition>, rows: ComparisonRow[]): Transition =>
    ({ from: 0, to: 1, against: 'previous', test: 'paired', changes: [], compared: rows.length, drifts: [], rows, ...over }) as Transition;

  it('counts identical-request runs with nothing changed, drifts left out', () => {
    const n = new NoiseFloorCounter();
    n.add(t({}, [row(0.02), row(-0.04), row(0.5, true)]));
    n.add(t({ changes: [{ what: 'config', detail: 'x' }] }, [row(0.3)]));
    n.add(t({ test: 'unpaired' }, [row(0.3)]));
    n.add(t({ against: 'baseline' }, [row(0.3)]));
    const [floor] = n.result([findMetric('json_valid_rate', [])!]);
    expect(floor).toEqual({ metric: 'json_valid_rate', transitions: 1, comparisons: 2, mean_abs_diff: 0.03, max_abs_diff: 0.04, median_half_width: 0.1 });
  });

  it('takes the typical half-width at one level (α), whatever level Holm judged each comparison at', () => {
    const n = new NoiseFloorCounter();
    const mixed = (half: number, holm: number): ComparisonRow => ({ ...row(0.01), diff_low: 0.01 - holm, diff_high: 0.01 + holm, half_width: half }) as ComparisonRow;
    n.add(t({}, [mixed(0.1, 0.4), mixed(0.12, 0.2), mixed(0.14, 0.9)]));
    // Without the rows' own half-width nothing is counted: an interval at a Holm level is not taken instead.
    const { half_width: _none, ...bare } = row(0.02);
    n.add(t({}, [bare]));
    const [floor] = n.result([findMetric('json_valid_rate', [])!]);
    expect(floor!.median_half_width).toBe(0.12);
    expect(floor!.comparisons).toBe(4);
  });
});
